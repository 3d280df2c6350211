"""Where a pipeline's results live and how to write them safely.

URL: `ML_RESULTS_DB` (e.g. `postgresql+psycopg2://ml:...@postgres/ml_results`, shared by every
pipeline and Celery host) or, by default, `sqlite:///<artifact_root>/<pipeline>/results.sqlite`.
SQLite runs in WAL mode with a busy timeout, and every write transaction is retried on a
locked database (tenacity), so parallel task processes never lose a write. Postgres writes
are plain transactions. The schema is migrated by Alembic on first use (idempotent, under a
file lock on SQLite and an advisory lock on Postgres).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

from ml.config import PipelineConfig
from ml.roots import Roots

URL_ENV = "ML_RESULTS_DB"
SQLITE_FILE = "results.sqlite"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0005"
"""The newest revision under migrations/versions/ (tests/unit/test_results.py checks it is Alembic's head)."""
BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "ml_results_write"
_ADVISORY_LOCK = 716_209_001  # Postgres advisory lock id for migrations


def results_url(cfg: PipelineConfig, roots: Roots) -> str:
    """The pipeline's store URL: `ML_RESULTS_DB` or the SQLite file under the artifact root."""
    return os.environ.get(URL_ENV) or f"sqlite:///{roots.artifacts / cfg.name / SQLITE_FILE}"


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sa.exc.OperationalError) and "locked" in str(exc).lower()


@functools.cache
def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    path = sa.engine.make_url(url).database
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see "begin" below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        # writers take the lock up front (no read-to-write upgrade deadlock); readers don't
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_database(url: str) -> bool:
    """Create the Postgres database named in `url` when it does not exist (SQLite: no-op)."""
    parsed = sa.engine.make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return False
    server = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
            )
            if found.scalar():
                return False
            conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
            return True
    finally:
        server.dispose()


class ResultsStore:
    """One results database (SQLite file or Postgres); see the module docstring."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        self._migrated = False

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if not self.is_sqlite or not self.engine.url.database:
            yield
            return
        with open(f"{self.engine.url.database}.migrate.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _at_head(self) -> bool:
        """The database already has HEAD_REVISION (one plain SELECT: no Alembic import and no
        migration scripts loaded, which every step's task process would otherwise pay)."""
        try:
            with self.engine.connect() as conn:
                current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            return current == HEAD_REVISION
        except sa.exc.OperationalError:  # no such table yet (or locked: take the careful path)
            return False
        except sa.exc.ProgrammingError:  # Postgres: undefined table
            return False

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (no-op when it is there)."""
        if self._migrated:
            return
        if self._at_head():
            self._migrated = True
            return
        from alembic import command
        from alembic.config import Config
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        with self._migration_lock(), self._transaction() as conn:
            if not self.is_sqlite:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK})
            if MigrationContext.configure(conn).get_current_revision() != head:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        self._migrated = True

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            yield conn

    def write(self, fn, *args, **kwargs):
        """Run `fn(conn, *args, **kwargs)` in one transaction, retried while SQLite is locked."""
        self.migrate()

        @retry(
            retry=retry_if_exception(_locked),
            stop=stop_after_delay(120),
            wait=wait_random_exponential(multiplier=0.05, max=2),
            reraise=True,
        )
        def attempt():
            with self._transaction() as conn:
                return fn(conn, *args, **kwargs)

        return attempt()

    def read(self, statement) -> list[dict]:
        """Rows of one SELECT as plain dicts."""
        self.migrate()
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(statement)]


def open_store(cfg: PipelineConfig, roots: Roots) -> ResultsStore:
    return ResultsStore(results_url(cfg, roots))
