"""The ML view: a FastAPI app mounted by the plugin at `/ml-artifacts` on the API server.

`auth.py` (every route depends on it), `files.py` (safe paths under the artifact root),
`render/` (offline report pages: statistics, Data Docs, TFMA) and `app.py` (the routes).
Nothing here imports TensorFlow, TFDV, TFMA, Great Expectations or pandas at module level.
"""
