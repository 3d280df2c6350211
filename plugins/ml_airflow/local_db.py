"""SQLite connect args of the embedded Airflow (set in scripts/airflow_env.sh).

SQLite allows one writer at a time; pysqlite gives up after 5 s with "database is locked". The
scheduler, dag-processor, API server and CLI calls (`backfill create`, `dags trigger`) write
concurrently, so every connection waits up to 60 s for the lock instead.
"""

CONNECT_ARGS = {"timeout": 60}
