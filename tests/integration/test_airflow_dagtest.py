"""`dag.test()` of the real DAGs with the real ml steps, in this process (TF imported once).

Ingest runs two spans (one from conf, one from its data interval) and a span with impossible
values (validate fails once, without retries, with its report links); the train DAG runs once to
a pushed version, then once on a span whose labels are shuffled: that model cannot pass the AUC
threshold, so infra-validate and push are skipped and the served version stays put.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ml.config import load_pipeline
from ml.roots import Roots
from ml.serving.layout import ServingLayout
from ml.spans import SpanPaths
from ml_airflow.context import run_slug

from conftest import cli

pytestmark = pytest.mark.slow

DAGS = Path(__file__).resolve().parents[2] / "dags"
SHUFFLED_SPAN = "2013-01-08"
BAD_SPAN = "2013-01-09"


def write_span_variant(
    data_root: Path, source: str, target: str, change: Callable[[list[dict]], list[dict]]
) -> None:
    """Land span `target` as span `source`'s CSV rows passed through `change`."""
    cfg = load_pipeline("flights")
    src = data_root / cfg.landing_folder / f"span={source}"
    dst = data_root / cfg.landing_folder / f"span={target}"
    dst.mkdir(parents=True)
    with open(src / "flights.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(dst / "flights.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(change(rows))
    (dst / cfg.done_marker).touch()


def shuffled_labels(rows: list[dict]) -> list[dict]:
    """The label source column (arr_delay) permuted: labels unrelated to the features."""
    column = load_pipeline("flights").label_source
    labels = [row[column] for row in rows]
    random.Random(0).shuffle(labels)
    return [{**row, column: label} for row, label in zip(rows, labels, strict=True)]


def impossible_humidity(rows: list[dict]) -> list[dict]:
    return [{**row, "humid": "500"} for row in rows]


def xcom(dag_run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


@pytest.fixture(scope="module")
def roots(tmp_path_factory, landed_data_root, airflow_db) -> Roots:
    """Private roots, exported as ML_*_ROOT the way the Airflow processes get them."""
    base = tmp_path_factory.mktemp("dagtest")
    shutil.copytree(landed_data_root, base / "data")
    write_span_variant(base / "data", "2013-01-07", SHUFFLED_SPAN, shuffled_labels)
    write_span_variant(base / "data", "2013-01-07", BAD_SPAN, impossible_humidity)
    roots = Roots.resolve(base / "data", base / "artifacts", base / "serving")
    with pytest.MonkeyPatch.context() as mp:
        for name, path in (
            ("ML_DATA_ROOT", roots.data),
            ("ML_ARTIFACT_ROOT", roots.artifacts),
            ("ML_SERVING_ROOT", roots.serving),
        ):
            mp.setenv(name, str(path))
        yield roots


@pytest.fixture(scope="module")
def dags(roots):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAGS)
    assert bag.import_errors == {}
    return bag.dags


@pytest.fixture(scope="module")
def ingest_runs(dags):
    """Spans 2013-01-06 and 2013-01-07 from conf, as manual runs (the scheduler test covers
    backfill runs, whose span is their partition key)."""
    dag = dags["flights_ingest"]
    return {
        # distinct logical dates: dag.test() replaces an earlier run of the same logical date (None too)
        span: dag.test(
            logical_date=dt.datetime.fromisoformat(span).replace(tzinfo=dt.UTC), run_conf={"span": span}
        )
        for span in ("2013-01-06", "2013-01-07")
    }


@pytest.fixture(scope="module")
def blessed_run(dags, ingest_runs):
    # 10 epochs (5 steps each on these 2 spans): fewer leave the network below the logistic-
    # regression benchmark it must beat (docs/concepts/model.md)
    return dags["flights_train"].test(
        logical_date=None, run_conf={"span": "2013-01-07", "window": 2, "epochs": 10}
    )


def test_ingest_dag_processes_each_span(ingest_runs, roots):
    paths = SpanPaths(load_pipeline("flights"), roots)
    for span, run in ingest_runs.items():
        assert str(run.state) == "success", states(run)
        assert xcom(run, "wait_for_span")["landing_dir"] == str(paths.landing_dir(span))
        ingest = xcom(run, "ingest")
        assert ingest["span"] == span and ingest["rows_out"]["train"] > 0
        assert paths.ingest_summary(span).is_file()
        validate = xcom(run, "validate")
        assert validate["span"] == span and validate["passed"] is True
        assert Path(validate["data_docs"]).is_file() and paths.verdict_file(span).is_file()
        docs_link = xcom(run, "validate", "_link_ml_data_docs")
        rel = Path(validate["data_docs"]).relative_to(roots.artifacts).as_posix()
        assert docs_link == f"/ml-artifacts/{rel}"  # host-relative: works behind any host or proxy
        assert xcom(run, "validate", "_link_ml_failure") == ""  # nothing failed
    # 01-07 has 01-01..06 as drift baseline: the validate task added the side-by-side stats view
    later = ingest_runs["2013-01-07"]
    assert xcom(later, "validate")["baseline_span"] == "2013-01-06"
    assert xcom(later, "validate", "_link_ml_stats_vs_previous_html").endswith(
        "2013-01-07/validation/stats_vs_baseline.html"
    )


def test_blocking_anomalies_fail_validate_once_with_report_links(dags, roots):
    run = dags["flights_ingest"].test(logical_date=None, run_conf={"span": BAD_SPAN})
    assert str(run.state) == "failed"
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert str(tis["ingest"].state) == "success" and str(tis["validate"].state) == "failed"
    assert tis["validate"].try_number == 1  # a PipelineError is not retried
    error = xcom(run, "validate", "ml_error")
    assert error["rule"] == "blocking-anomalies" and error["column"] == "humid"
    assert "expect_column_values_to_be_between" in error["message"]
    assert xcom(run, "validate", "_link_ml_failure").endswith(
        f"/ml-artifacts/flights/spans/{BAD_SPAN}/validation/verdict.json"
    )
    assert xcom(run, "validate", "_link_ml_data_docs").startswith("/ml-artifacts/")


def test_validate_emits_the_examples_asset_with_the_span_as_partition_key(ingest_runs):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "flights_examples")
        ).all()
        emitted = {e.source_run_id: (e.source_task_id, e.partition_key) for e in events}
    for span, run in ingest_runs.items():  # manual runs have no partition key: validate adds it
        assert emitted[run.run_id] == ("validate", span)
    assert all(key for _, key in emitted.values())  # never an event without a span


def test_train_dag_pushes_a_blessed_model(blessed_run, roots):
    assert str(blessed_run.state) == "success", states(blessed_run)
    assert set(states(blessed_run).values()) == {"success"}
    transform, train = xcom(blessed_run, "transform"), xcom(blessed_run, "train")
    slug = run_slug(blessed_run.run_id)
    assert Path(transform["transform_dir"]).name == slug
    assert train["model_dir"] == str(SpanPaths(load_pipeline("flights"), roots).model_dir(slug))
    evaluation = xcom(blessed_run, "evaluate")
    assert evaluation["blessed"] is True and "Overall" in evaluation["auc_by_slice"]
    assert "every metric threshold passed" in xcom(blessed_run, "is_blessed", "reason")
    assert xcom(blessed_run, "evaluate", "_link_ml_metrics_file").endswith("/metrics.json")
    push = xcom(blessed_run, "push")
    layout = ServingLayout.of(load_pipeline("flights"), roots)
    assert layout.versions() == [push["version"]] == [1]
    assert (Path(push["version_dir"]) / "saved_model.pb").is_file()


def test_not_blessed_model_is_not_pushed(dags, blessed_run, roots):
    layout = ServingLayout.of(load_pipeline("flights"), roots)
    served = layout.versions()
    cli(roots, "ingest", "--span", SHUFFLED_SPAN)
    run = dags["flights_train"].test(
        logical_date=None, run_conf={"span": SHUFFLED_SPAN, "window": 1, "epochs": 1}
    )
    assert str(run.state) == "success", states(run)  # green, but promotion skipped
    result = states(run)
    assert result["evaluate"] == result["is_blessed"] == "success"
    assert result["infra_validate"] == result["push"] == "skipped"
    assert xcom(run, "evaluate")["blessed"] is False
    assert xcom(run, "is_blessed", "reason").startswith("threshold failed: auc")
    assert xcom(run, "push") is None
    assert layout.versions() == served == [1]
