"""Broken pipelines as an Airflow DAG import error (this file defines no DAG).

dags/ml_pipelines.py builds the DAGs of every pipeline folder that loads and skips the others;
this file raises one error naming each folder that does not load and what `ml check` says is
wrong (file, key, problem), so Airflow's "DAG Import Errors" shows it while every other
pipeline's DAGs keep loading. Parsing it loads the configs only (no TensorFlow & co.).
"""

from __future__ import annotations

from ml.config import load_all_pipelines


class BrokenPipelineError(Exception):
    """One or more pipeline folders under ml/pipelines/ do not load."""


_broken = load_all_pipelines()[1]
if _broken:
    raise BrokenPipelineError(
        f"{len(_broken)} pipeline(s) without DAGs until fixed (run `python -m ml check --pipeline NAME`):\n"
        + "\n".join(f"- {name}: {error}" for name, error in sorted(_broken.items()))
    )
