"""Manual ingest runs: without a span they take the newest landed span with no successful run,
or fail at once; a manual run never waits for a span that has not landed."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from ml.errors import PipelineError
from ml_airflow.context import run_span
from ml_airflow.sensors import SpanSensor

MANUAL = SimpleNamespace(run_type="manual")
SCHEDULED = SimpleNamespace(run_type="scheduled")


def land(root, span: str) -> None:
    folder = root / "flights" / f"span={span}"
    folder.mkdir(parents=True)
    (folder / "_SUCCESS").write_text("")


def test_manual_run_takes_the_newest_landed_span_without_success(tmp_path, monkeypatch):
    import sqlalchemy as sa

    from ml.config import load_pipeline
    from ml.results import open_store
    from ml.results import schema as t
    from ml.roots import Roots

    monkeypatch.setenv("ML_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("ML_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    with pytest.raises(PipelineError, match="no span has landed.*pass the span"):
        run_span("flights", None, None, 0, MANUAL)
    for span in ("2013-01-01", "2013-01-02", "2013-01-03"):
        land(tmp_path / "data", span)
    (tmp_path / "data" / "flights" / "span=2013-01-04").mkdir()  # still landing: no marker
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # a manual run's interval: today, no data
    assert run_span("flights", None, start, 0, MANUAL) == "2013-01-03"
    assert run_span("flights", None, start, 0, SCHEDULED) == "2026-12-01"
    assert run_span("flights", "2013-01-02", start, 0, MANUAL) == "2013-01-02"
    assert run_span("flights", None, "2013-01-01", 0, MANUAL) == "2013-01-01"  # a partition key

    store = open_store(load_pipeline("flights"), Roots.resolve())
    row = {"pipeline": "flights", "status": "passed", "updated_at": "now"}
    store.write(lambda conn: conn.execute(sa.insert(t.spans).values(**row, span="2013-01-03")))
    assert run_span("flights", None, start, 0, MANUAL) == "2013-01-02"


def test_a_manual_run_fails_at_once_for_a_span_that_has_not_landed(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_DATA_ROOT", str(tmp_path))
    sensor = SpanSensor(task_id="wait_for_span", pipeline="flights", span="2013-01-09")
    with pytest.raises(AirflowFailException, match="has not landed.*conf"):
        sensor.execute({"dag_run": MANUAL})
