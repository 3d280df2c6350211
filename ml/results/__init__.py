"""One results store per pipeline: span checks, training runs, served versions and lineage.

`schema` holds the tables, `store` the connection and safe writes, `record` what each step
writes after it returns, `queries` every read (the CLI, the UI and the retraining trigger use
the same functions), `rebuild` recreates the store from the artifacts on disk.
"""

from ml.results.store import ResultsStore, open_store, results_url

__all__ = ["ResultsStore", "open_store", "results_url"]
