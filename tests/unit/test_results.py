"""The results store on its own (no TensorFlow): schema migrations, parallel writers, the CLI
tables and the retraining decision, over a real SQLite file in WAL mode."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from ml.cli import main
from ml.config import load_pipeline
from ml.results import ResultsStore, open_store, queries
from ml.results.record import now, write_span
from ml.results.retrain import retrain_decision
from ml.roots import Roots
from ml.spans import span_range

WRITERS, SPANS_EACH = 4, 40


def span_record(span: str, *, alarm: str | None = None, status: str = "passed") -> tuple[dict, list[dict]]:
    row = {"pipeline": "flights", "span": span, "status": status, "rows": 900, "updated_at": now()}
    checks = [
        {
            "check": "drift",
            "name": f,
            "kind": "JENSEN_SHANNON_DIVERGENCE",
            "passed": f != alarm,
            "value": 0.1,
            "threshold": 0.35,
            "comparator": "jsd",
            "baseline_span": None,
            "severity": "warn",
        }
        for f in ("dep_delay", "temp")
    ]
    return row, checks


def write_many(url: str, spans: list[str]) -> int:
    store = ResultsStore(url)
    for span in spans:
        write_span(store, *span_record(span))
    return len(spans)


def test_parallel_writers_lose_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'results.sqlite'}"
    spans = span_range(load_pipeline("flights"), "2013-01-01", "2013-12-31")[: WRITERS * SPANS_EACH]
    chunks = [spans[i::WRITERS] for i in range(WRITERS)]
    chunks.append(spans[:SPANS_EACH])  # a fifth writer re-writes spans the others write too
    with ProcessPoolExecutor(len(chunks), mp_context=get_context("spawn")) as pool:
        assert sum(pool.map(write_many, [url] * len(chunks), chunks)) == len(spans) + SPANS_EACH
    store = ResultsStore(url)
    assert [r["span"] for r in queries.spans(store, "flights")] == spans  # each span once
    assert len(queries.checks(store, "flights")) == 2 * len(spans)  # replaced, never doubled
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == "0005"  # migrated to the newest revision


def test_results_spans_cli_prints_a_table_or_json(tmp_path, capsys):
    roots = Roots.resolve(tmp_path / "data", tmp_path / "artifacts", tmp_path / "serving")
    store = open_store(load_pipeline("flights"), roots)
    assert store.url == f"sqlite:///{roots.artifacts / 'flights' / 'results.sqlite'}"
    for span in span_range(load_pipeline("flights"), "2013-01-01", "2013-01-05"):
        write_span(store, *span_record(span, alarm="temp" if span == "2013-01-03" else None))
    argv = [
        "results",
        "spans",
        "--last",
        "2",
        "--pipeline",
        "flights",
        "--artifact-root",
        str(roots.artifacts),
    ]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["span", "status", "rows"]
    assert [line.split()[0] for line in lines[2:]] == ["2013-01-04", "2013-01-05"]
    assert main([*argv, "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["span"] for r in rows] == ["2013-01-04", "2013-01-05"]
    alarms = [r for r in queries.drift_series(store, "flights") if r["alarm"]]
    assert [(r["span"], r["feature"]) for r in alarms] == [("2013-01-03", "temp")]


@pytest.mark.parametrize(
    ("alarm", "passed_spans", "expected"),
    [
        ("dep_delay", 2, "drift alarm on dep_delay"),  # a watched feature drifted
        ("temp", 2, None),  # temp is not watched
        (None, 7, "7 validated spans"),  # training.retrain_on.new_spans, nothing served yet
    ],
)
def test_retrain_decision(tmp_path, alarm, passed_spans, expected):
    cfg = load_pipeline("flights")
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    spans = span_range(load_pipeline("flights"), "2013-01-01", "2013-01-09")[:passed_spans]
    for span in spans:
        write_span(store, *span_record(span, alarm=alarm if span == spans[-1] else None))
    decision = retrain_decision(store, cfg, spans[-1])
    assert decision.retrain is (expected is not None), decision
    assert expected is None or expected in decision.reason
    assert decision.end_span == spans[-1] and decision.trigger == "data"
    assert decision.summary().startswith(f"span {spans[-1]}: {'retrain' if expected else 'no retrain'}: ")


def test_store_url_comes_from_the_environment(tmp_path, monkeypatch):
    url = f"sqlite:///{Path(tmp_path) / 'shared.sqlite'}"
    monkeypatch.setenv("ML_RESULTS_DB", url)
    assert open_store(load_pipeline("flights"), Roots.resolve()).url == url


def test_head_revision_is_alembics_head_and_a_store_at_head_skips_alembic(tmp_path):
    """The fast path (`HEAD_REVISION` vs the database's alembic_version, no Alembic loaded) is
    only right while the constant names the newest migration; an old database still migrates."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from ml.results.store import HEAD_REVISION, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    ResultsStore(url).migrate()  # creates the schema through Alembic
    assert ResultsStore(url)._at_head() is True
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        db.execute("UPDATE alembic_version SET version_num = '0001'")
        for table in ("span_columns", "monitor_metrics", "monitor_runs"):  # what 0002.. created
            db.execute(f"DROP TABLE {table}")
        for column in ("transform_digest", "weights_digest"):  # what 0004 added
            db.execute(f"ALTER TABLE models DROP COLUMN {column}")
    stale = ResultsStore(url)
    assert stale._at_head() is False
    stale.migrate()  # 0001 -> head: span_columns and the monitor tables exist again
    assert ResultsStore(url)._at_head() is True
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        for table in ("span_columns", "monitor_runs", "monitor_metrics"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        columns = {row[1] for row in db.execute("PRAGMA table_info(models)")}
        assert {"transform_digest", "weights_digest"} <= columns
        monitor = {row[1] for row in db.execute("PRAGMA table_info(monitor_runs)")}
        assert {"stage", "withdrawn"} <= monitor  # what 0005 added
