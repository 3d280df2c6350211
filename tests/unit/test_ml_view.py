"""The ML view (plugins/ml_airflow/ui) over the real plugin app, with real JWTs from Airflow's
simple auth manager: auth on every route, safe paths, offline report pages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ml.tfrecord import write_tfrecords

SPAN = "2013-01-02"
FAILED = "2013-01-03"
RUN = "2013-01-02-w2"


def stats_record() -> bytes:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    ds = stats.datasets.add(num_examples=100)
    num = ds.features.add()
    num.path.step.append("dep_delay")
    num.num_stats.common_stats.num_non_missing = 98
    num.num_stats.common_stats.num_missing = 2
    num.num_stats.mean, num.num_stats.max = 12.5, 300.0
    hist = num.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    hist.buckets.add(low_value=0, high_value=10, sample_count=60)
    hist.buckets.add(low_value=10, high_value=300, sample_count=38)
    cat = ds.features.add()
    cat.path.step.append("carrier")
    cat.string_stats.common_stats.num_non_missing = 100
    cat.string_stats.unique = 2
    cat.string_stats.top_values.add(value="UA", frequency=70)
    cat.string_stats.rank_histogram.buckets.add(label="UA", sample_count=70)
    cat.string_stats.rank_histogram.buckets.add(label="AA", sample_count=30)
    return stats.SerializeToString()


@pytest.fixture
def artifact_root(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "artifacts"
    validation = root / "flights" / "spans" / SPAN / "validation"
    (validation / "data_docs").mkdir(parents=True)
    (validation / "verdict.json").write_text(json.dumps({"passed": True}))
    (validation / "anomalies.pbtxt").write_text('anomaly_info { key: "carrier" }\n')
    write_tfrecords(validation / "stats.tfrecord", [stats_record()])
    write_tfrecords(validation / "baseline_stats.tfrecord", [stats_record()])
    (validation / "data_docs" / "index.html").write_text(
        '<html><head><script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css">'
        "</head><body>docs</body></html>"
    )
    failed = root / "flights" / "spans" / FAILED
    failed.mkdir(parents=True)
    (failed / "ingest_failure.json").write_text(json.dumps({"message": "column 'dep_delay' must be float"}))
    evaluation = root / "flights" / "evaluations" / RUN
    evaluation.mkdir(parents=True)
    metrics = {
        "Overall": {"candidate": {"auc": 0.71, "example_count": 500.0}},
        "carrier=UA": {"candidate": {"auc": 0.69, "example_count": 120.0}},
    }
    (evaluation / "metrics.json").write_text(json.dumps(metrics))
    (evaluation / "blessing.json").write_text(
        json.dumps({"blessed": True, "thresholds": {"auc_lower_bound": 0.65}})
    )
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (root / "flights" / "leak.txt").symlink_to(secret)
    (root / "flights" / "model.pb").write_bytes(b"\0")
    monkeypatch.setenv("ML_ARTIFACT_ROOT", str(root))
    return root


@pytest.fixture(scope="module")
def tokens(airflow_db) -> dict[str, str]:
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    manager = init_auth_manager()
    return {
        role or "none": manager.generate_jwt(SimpleAuthManagerUser(username=f"u-{role}", role=role))
        for role in ("viewer", None)
    }


@pytest.fixture
def client(artifact_root) -> TestClient:
    """The plugin's own app instance, mounted at its prefix as the API server does."""
    from ml_airflow_plugin import MLViewPlugin

    spec = MLViewPlugin.fastapi_apps[0]
    api = FastAPI()
    api.mount(spec["url_prefix"], spec["app"])
    return TestClient(api)


def auth(tokens, role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


ROUTES = [
    "/ml-artifacts/",
    "/ml-artifacts/_static/plotly.min.js",
    "/ml-artifacts/_static/vendor/jquery/jquery.min.js",
    "/ml-artifacts/flights/",
    f"/ml-artifacts/flights/stats/{SPAN}",
    f"/ml-artifacts/flights/tfma/{RUN}",
    f"/ml-artifacts/flights/spans/{SPAN}/validation/verdict.json",
    f"/ml-artifacts/flights/spans/{FAILED}/ingest_failure.json",
]


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_a_login(client, tokens, route):
    assert client.get(route).status_code == 401
    assert client.get(route, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
    assert client.get(route, headers=auth(tokens)).status_code == 200
    client.cookies.set("_token", tokens["viewer"])  # the UI's session cookie works the same
    assert client.get(route).status_code == 200


def test_pipeline_needs_read_access_to_its_dags(client, tokens):
    for route in ROUTES[3:]:
        assert client.get(route, headers=auth(tokens, "none")).status_code == 403
    index = client.get("/ml-artifacts/", headers=auth(tokens, "none"))
    assert index.status_code == 200 and "No pipeline you may read" in index.text
    assert client.get("/ml-artifacts/nope/", headers=auth(tokens)).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/ml-artifacts/flights/../../secret.txt",
        "/ml-artifacts/flights/%2e%2e/%2e%2e/secret.txt",
        "/ml-artifacts/flights/%252e%252e/%252e%252e/secret.txt",
        "/ml-artifacts/flights/spans/..%2f..%2f..%2fsecret.txt",
        "/ml-artifacts/flights/leak.txt",  # a symlink out of the artifact root
        "/ml-artifacts/flights/model.pb",  # not a report type
        "/ml-artifacts/flights/spans/2013-01-02/validation/stats.tfrecord",
        "/ml-artifacts/_static/..%2f..%2fauth.py",
        "/ml-artifacts/flights/stats/..%2f..%2f..",
    ],
)
def test_paths_stay_inside_the_artifact_root(client, tokens, path):
    response = client.get(path, headers=auth(tokens))
    assert response.status_code in (400, 404), response.text
    assert "outside" not in response.text


def test_reports_render_offline(client, tokens):
    base = "/ml-artifacts/flights"
    anomalies = client.get(f"{base}/spans/{SPAN}/validation/anomalies.pbtxt", headers=auth(tokens))
    assert anomalies.headers["content-type"].startswith("text/plain") and "carrier" in anomalies.text
    docs = client.get(f"{base}/spans/{SPAN}/validation/data_docs/index.html", headers=auth(tokens)).text
    assert "https://" not in docs and "/ml-artifacts/_static/vendor/jquery/jquery.min.js" in docs
    assert "/ml-artifacts/_static/vendor/bootstrap/bootstrap.min.css" in docs
    stats = client.get(f"{base}/stats/{SPAN}", headers=auth(tokens)).text
    assert "dep_delay" in stats and "carrier" in stats and "/ml-artifacts/_static/plotly.min.js" in stats
    assert "https://" not in stats
    window = client.get(f"{base}/stats/{SPAN}?against=baseline", headers=auth(tokens))
    assert window.status_code == 200 and "against baseline" in window.text
    legacy = client.get(
        f"{base}/spans/{SPAN}/validation/stats.html", headers=auth(tokens), follow_redirects=False
    )
    assert legacy.headers["location"] == f"{base}/stats/{SPAN}"
    tfma = client.get(f"{base}/tfma/{RUN}", headers=auth(tokens)).text
    assert "carrier=UA" in tfma and "0.6900" in tfma and "blessed" in tfma
    index = client.get("/ml-artifacts/", headers=auth(tokens)).text
    assert f"{base}/spans/{FAILED}/ingest_failure.json" in index and f"{base}/stats/{SPAN}" in index
    listing = client.get(f"{base}/spans/", headers=auth(tokens)).text
    assert SPAN in listing and FAILED in listing
    tab = client.get("/ml-artifacts/_dag/flights_ingest", headers=auth(tokens), follow_redirects=False)
    assert tab.status_code == 307 and tab.headers["location"] == f"{base}/"


def test_report_links_are_host_relative(artifact_root):
    from ml_airflow.links import report_url

    report = artifact_root / "flights" / "spans" / SPAN / "validation" / "data docs.html"
    assert report_url(str(report)) == f"/ml-artifacts/flights/spans/{SPAN}/validation/data%20docs.html"
    assert report_url("/elsewhere/x.html") == "" and report_url(None) == ""
    assert os.environ["AIRFLOW__API__BASE_URL"].startswith("http")  # the base URL is not in the link


def test_failed_ingest_leaves_its_report_under_the_artifact_root(tmp_path, monkeypatch):
    from ml.errors import PipelineError
    from ml_airflow.links import report_url
    from ml_airflow.operators import IngestOperator

    monkeypatch.setenv("ML_ARTIFACT_ROOT", str(tmp_path))
    op = IngestOperator(task_id="ingest", pipeline="flights", span="2013-01-05")
    error = PipelineError("column 'dep_delay' must be float", span="2013-01-05", file="/landing/f.csv")
    path = op.failure_reports(error)["failure"]
    assert json.loads(Path(path).read_text())["file"] == "/landing/f.csv"
    assert report_url(path) == "/ml-artifacts/flights/spans/2013-01-05/ingest_failure.json"


def fill_store(root: Path) -> None:
    """A small results store: a passed span, a failed ingest, drift rows, one model, one push."""
    import sqlalchemy as sa

    from ml.config import load_pipeline
    from ml.results import open_store
    from ml.results import schema as t
    from ml.roots import Roots

    store = open_store(load_pipeline("flights"), Roots.resolve(artifacts=root))
    now = "2026-01-01T00:00:00Z"
    span = {"pipeline": "flights", "updated_at": now, "drift_ran": True, "skew_ran": False}
    rows = [
        span | {"span": "2013-01-01", "status": "passed", "rows": 842, "ge_evaluated": 43, "ge_failed": 0},
        span
        | {"span": SPAN, "status": "passed", "rows": 943, "ge_evaluated": 43, "baseline_span": "2013-01-01"},
        span | {"span": FAILED, "status": "ingest_failed", "error": "dep_delay must be float"},
    ]
    drift = {"pipeline": "flights", "check": "drift", "comparator": "jsd", "threshold": 0.5}
    checks = [
        drift
        | {"span": SPAN, "name": "dep_delay", "value": 0.2, "passed": True, "baseline_span": "2013-01-01"},
    ]
    model = {"pipeline": "flights", "run_id": RUN, "model_dir": f"/m/{RUN}", "evaluation_dir": f"/e/{RUN}"}
    model |= {"first_span": "2013-01-01", "last_span": SPAN, "blessed": True, "evaluated_at": now}
    metric = {"pipeline": "flights", "run_id": RUN, "model": "candidate", "slice": "Overall"}
    push = {
        "pipeline": "flights",
        "version": 1,
        "event": "push",
        "model_name": "flights",
        "run_id": RUN,
        "at": now,
    }

    def fill(conn) -> None:
        for table, values in ((t.spans, rows), (t.checks, checks)):
            for row in values:
                conn.execute(sa.insert(table).values(**row))
        conn.execute(sa.insert(t.models), [model])
        conn.execute(sa.insert(t.model_metrics), [metric | {"metric": "auc", "value": 0.71}])
        conn.execute(sa.insert(t.serving_events), [push])
        nulls = [("arr_delay", 0.016), ("dep_delay", 0.0)]
        conn.execute(
            sa.insert(t.span_columns),
            [{"pipeline": "flights", "span": SPAN, "column": c, "null_fraction": f} for c, f in nulls],
        )

    store.write(fill)


def test_pipeline_view_grid_drift_and_models(client, tokens, artifact_root):
    fill_store(artifact_root)
    page = client.get("/ml-artifacts/flights/", headers=auth(tokens))
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-span="2013-01-01" data-check="GE"' in html and "c-passed" in html
    assert f'href="/ml-artifacts/flights/spans/{FAILED}/ingest_failure.json"' in html and "c-failed" in html
    assert f'href="/ml-artifacts/flights/stats/{SPAN}?against=2013-01-01"' in html
    assert 'id="drift-plot"' in html and 'id="slices-plot"' in html and 'id="nulls-plot"' in html
    assert '"y": ["arr_delay"]' in html  # the null-rate heatmap: columns that were ever null
    assert f'"x": ["{RUN} (v1)"]' in html  # the slice heatmap: one column per run, its version
    assert "0.7100" in html and "blessed" in html and "live" in html
    assert "https://" not in html
    spans = client.get("/ml-artifacts/flights/api/spans", headers=auth(tokens)).json()
    assert [s["status"] for s in spans] == ["passed", "passed", "ingest_failed"]
    models = client.get("/ml-artifacts/flights/api/models", headers=auth(tokens)).json()
    assert models[0]["run_id"] == RUN and models[0]["pushed_version"] == 1 and models[0]["live"] is True
    assert client.get("/ml-artifacts/flights/api/spans").status_code == 401


def test_task_instance_tab_builds_links_at_click_time(client, tokens, artifact_root):
    from ml_airflow.ui.task_reports import report_links

    verdict = artifact_root / "flights" / "spans" / SPAN / "validation" / "verdict.json"
    reports = {
        "failure": str(verdict),
        "evaluation_dir": str(artifact_root / "flights" / "evaluations" / RUN),
    }
    reports["elsewhere"] = "/etc/passwd"
    links = report_links((artifact_root / "flights").resolve(), "/p/ml-artifacts/flights", reports)
    assert links == [
        ("Failure report", f"/p/ml-artifacts/flights/spans/{SPAN}/validation/verdict.json"),
        ("Evaluation (TFMA)", f"/p/ml-artifacts/flights/tfma/{RUN}"),
    ]
    tab = client.get("/ml-artifacts/_ti/flights_ingest/manual__x/validate/-1", headers=auth(tokens))
    assert tab.status_code == 200 and "this task left no report" in tab.text
    assert client.get("/ml-artifacts/_ti/flights_ingest/manual__x/validate/-1").status_code == 401
    assert client.get("/ml-artifacts/_ti/other_dag/r/t/-1", headers=auth(tokens)).status_code == 404


def monitor_result(
    root: Path,
    span: str,
    cutoff: str,
    realized: float | None,
    alarm: bool,
    stage: str = "realized",
    **extra,
) -> dict:
    """A monitor.json as `ml monitor` writes it (one version label), written and recorded."""
    from ml.atomic import atomic_write_json
    from ml.config import load_pipeline
    from ml.monitoring.monitor import cutoff_slug
    from ml.results import open_store
    from ml.results.record import record_monitor
    from ml.roots import Roots

    folder = root / "flights" / "monitoring" / span / cutoff_slug(cutoff)
    alarms = [f"realized auc {realized} on Overall below its band 0.73 (n=900)"] if alarm else []
    label = {
        "version": 1,
        "predictions": 910,
        "labelled": 900,
        "coverage": 0.989,
        "metric": "auc",
        "realized": realized,
        "estimated": 0.91,
        "estimation_error": round(0.91 - realized, 6) if realized is not None else None,
        "band": [0.73, 1.0],
        "score_jsd": 0.02,
        "slices": [
            {"slice": "Overall", "predictions": 910, "labelled": 900, "realized": realized, "estimated": 0.91}
            | {"band": [0.73, 1.0]}
        ],
        "alarms": alarms,
        "warnings": [],
        "metrics": {"Overall": {"auc": realized, "example_count": 900}, "origin=EWR": {"auc": 0.5}},
    }
    result = {
        "pipeline": "flights",
        "span": span,
        "stage": stage,
        "cutoff": cutoff,
        "partial": False,
        "counts": {"predictions": 910, "labelled": 900, "coverage": 0.989, "label_unknown": 10},
        "unjoined_examples": {"label_unknown": ["2013|1|8|UA|1|EWR|5"]},
        "by_label": {"stable": label},
        "alarm": alarm,
        "alarms": [f"stable: {a}" for a in alarms],
        "warnings": [],
        "monitor_dir": str(folder),
    } | extra
    atomic_write_json(folder / "monitor.json", result)
    record_monitor(open_store(load_pipeline("flights"), Roots.resolve(artifacts=root)), result)
    return result


def test_live_model_section_and_span_page(client, tokens, artifact_root):
    fill_store(artifact_root)
    monitor_result(artifact_root, "2013-01-08", "2026-01-02T00:00:00+00:00", 0.89, alarm=False)
    monitor_result(artifact_root, "2013-01-09", "2026-01-02T00:00:00+00:00", 0.61, alarm=True)
    monitor_result(artifact_root, "2013-01-09", "2026-01-03T00:00:00+00:00", 0.62, alarm=True)  # restated
    html = client.get("/ml-artifacts/flights/", headers=auth(tokens)).text
    assert 'id="live-plot"' in html and 'id="live-table"' in html
    assert 'href="/ml-artifacts/flights/monitor/2013-01-09"' in html
    assert "restated ×1" in html and "alarm (retrains)" in html  # the alarm marker trace
    assert html.count('class="pill bad"') >= 1
    page = client.get("/ml-artifacts/flights/monitor/2013-01-09", headers=auth(tokens))
    assert page.status_code == 200
    verdict = page.text.split('id="verdict"', 1)[1].split("</p>", 1)[0]
    assert "alarm" in verdict and "0.62 on Overall" in verdict  # the newest cutoff, verdict first
    assert "?cutoff=2026-01-02T00-00-00Z" in page.text and "origin=EWR" in page.text
    older = client.get(
        "/ml-artifacts/flights/monitor/2013-01-09?cutoff=2026-01-02T00-00-00Z", headers=auth(tokens)
    )
    assert "0.61 on Overall" in older.text
    assert client.get("/ml-artifacts/flights/monitor/2013-01-10", headers=auth(tokens)).status_code == 404
    assert client.get("/ml-artifacts/flights/monitor/2013-01-09").status_code == 401


def stats_file(path: Path, feature: str, edges: list[float], counts: list[int]) -> Path:
    """A one-feature TFDV statistics file (numeric histogram), as the TFDV generators write it."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from ml.tfrecord import write_tfrecords

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    entry = stats.datasets.add(num_examples=sum(counts)).features.add()
    entry.path.step.append(feature)
    entry.num_stats.common_stats.num_non_missing = sum(counts)
    hist = entry.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    for low, high, count in zip(edges, edges[1:], counts, strict=False):
        hist.buckets.add(low_value=low, high_value=high, sample_count=count)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_tfrecords(path, [stats.SerializeToString()])
    return path


def test_live_model_shows_the_estimate_first_then_the_realized_value_and_the_served_inputs(
    client, tokens, artifact_root
):
    from ml.monitoring.monitor import cutoff_slug

    fill_store(artifact_root)
    span, before, after = "2013-01-11", "2026-01-04T00:00:00.250+00:00", "2026-01-05T00:00:00.500+00:00"
    folder = artifact_root / "flights" / "monitoring" / span / cutoff_slug(before)
    training = stats_file(
        artifact_root / "flights" / "monitoring" / "references" / "v1-training.stats.tfrecord",
        "dep_delay",
        [0, 10, 20],
        [80, 20],
    )
    stats_file(folder / "served_stats.tfrecord", "dep_delay", [0, 10, 20], [30, 70])
    served = {
        "rows": 910,
        "stats_file": str(folder / "served_stats.tfrecord"),
        "training_stats": str(training),
        "schema_anomalies": [
            {"feature": "carrier", "kind": "ENUM_TYPE_UNEXPECTED_STRING_VALUES"}
            | {
                "description": "Examples contain values missing from the schema: ZZ (<1%).",
                "check": "served-schema",
                "severity": "warn",
            }
        ],
        "drift": {"dep_delay": {"value": 0.41, "threshold": 0.35, "type": "JENSEN_SHANNON_DIVERGENCE"}},
        "drifted": ["dep_delay"],
        "skew": {
            "served": 910,
            "joined": 900,
            "features": {"dep_delay": {"mismatches": 9, "rate": 0.01, "examples": ["2013|1|11|UA|1|EWR|5"]}},
        },
    }
    drift_warning = "served inputs drift from training: dep_delay (drift, warn): too far"
    monitor_result(artifact_root, span, before, None, alarm=False, stage="estimated", served_inputs=served)
    store_rows = client.get("/ml-artifacts/flights/", headers=auth(tokens)).text
    row = store_rows.split(f">{span}</a>", 1)[1].split("</tr>", 1)[0]
    assert "estimated" in row and "alarm" not in row  # before labels: the estimate only
    page = client.get(f"/ml-artifacts/flights/monitor/{span}", headers=auth(tokens)).text
    assert "estimated before labels" in page.split('id="verdict"', 1)[1].split("</p>", 1)[0]
    table = page.split('id="served-table"', 1)[1].split("</table>", 1)[0]
    assert "dep_delay" in table and "drift" in table and "1.0 % of 900" in table
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in page
    side_by_side = f"/ml-artifacts/flights/monitor/{span}/served?cutoff={cutoff_slug(before)}"
    assert side_by_side.replace("/ml-artifacts", "") in page or side_by_side in page
    stats = client.get(side_by_side, headers=auth(tokens))
    assert stats.status_code == 200 and "dep_delay" in stats.text and "training" in stats.text
    assert client.get(side_by_side).status_code == 401
    monitor_result(artifact_root, span, after, 0.9, alarm=False, warnings=[drift_warning])  # labels landed
    html = client.get("/ml-artifacts/flights/", headers=auth(tokens)).text
    row = html.split(f">{span}</a>", 1)[1].split("</tr>", 1)[0]
    assert "0.9000" in row and ">estimated<" not in row  # the realized value replaces the estimate
    page = client.get(f"/ml-artifacts/flights/monitor/{span}", headers=auth(tokens)).text
    assert "no alarm" in page.split('id="verdict"', 1)[1].split("</p>", 1)[0]
    assert "(estimated)" in page and "(realized)" in page  # both judgements listed


def test_a_restatement_that_clears_an_alarm_shows_it_withdrawn(client, tokens, artifact_root):
    fill_store(artifact_root)
    span = "2013-01-12"
    monitor_result(artifact_root, span, "2026-01-04T00:00:00+00:00", 0.6, alarm=True)
    withdrawn = {"cutoff": "2026-01-04T00:00:00+00:00", "alarms": ["stable: realized auc 0.6 on Overall"]}
    monitor_result(artifact_root, span, "2026-01-05T00:00:00+00:00", 0.88, alarm=False, withdrawn=withdrawn)
    page = client.get(f"/ml-artifacts/flights/monitor/{span}", headers=auth(tokens)).text
    assert 'id="withdrawn"' in page and "2026-01-04T00:00:00+00:00" in page
    html = client.get("/ml-artifacts/flights/", headers=auth(tokens)).text
    row = html.split(f">{span}</a>", 1)[1].split("</tr>", 1)[0]
    assert "alarm withdrawn" in row


def test_two_spans_histograms_are_drawn_on_the_same_bucket_edges(tmp_path):
    """TFDV bins each span over its own range; the statistics page rebins both onto common
    edges (counts kept), so the overlay compares like with like."""
    from ml_airflow.ui.render.stats_page import context

    narrow = stats_file(
        tmp_path / "a.tfrecord", "arr_delay", [-10, 0, 10, 20, 30], [5, 40, 30, 25]
    )  # -10..30
    wide = stats_file(tmp_path / "b.tfrecord", "arr_delay", [0, 50, 100, 150, 200], [70, 20, 8, 2])  # 0..200
    a, b = context("2013-01-02", narrow, "2013-01-01", wide)["figures"]["arr_delay"]["data"]
    assert a["x"] == b["x"] and a["width"] == b["width"]  # the same buckets for both spans
    assert a["x"][0] - a["width"][0] / 2 == -10 and b["x"][-1] + b["width"][-1] / 2 == 200
    assert sum(a["y"]) == pytest.approx(100) and sum(b["y"]) == pytest.approx(100)  # nothing lost
    # first common bucket -10..11: all of -10..0 and 0..10, a tenth of 10..20; 11/50 of 0..50
    assert a["y"][0] == pytest.approx(5 + 40 + 3) and b["y"][0] == pytest.approx(70 * 11 / 50)
    single = context("2013-01-02", narrow, None, None)["figures"]["arr_delay"]["data"][0]
    assert single["y"] == [5, 40, 30, 25]  # one span alone: TFDV's own buckets, untouched
