"""One plain-words line per step result (each command's `summary` or its artifact's), and the
quiet library loggers."""

from __future__ import annotations

import json
import logging

import pytest

from ml.cli import command_modules, step_run
from ml.data.span_results import IngestSummary, SpanVerdict, ValidateResult
from ml.errors import ArtifactInvalid
from ml.logs import quiet_libraries
from ml.model.train_result import TrainResult
from ml.monitoring.monitor_result import MonitorResult
from ml.serving.push import PushResult


def summary(result: dict) -> str | None:
    """The line the CLI prints for a command's result dict."""
    command = str(result.get("command"))
    module = command_modules().get(command)
    return None if module is None else step_run(command, module, result).summary


def test_ingest_and_validate_lines(tmp_path):
    ingest = IngestSummary(
        span="2013-01-08",
        rows_in=905,
        rows_out={"train": 716, "eval": 178},
        rows_dropped={"arr_delay_missing": 11, "dep_time_missing": 0},
    )
    line = "span 2013-01-08: 905 rows -> 716 train / 178 eval; 11 dropped (arr_delay_missing)"
    assert step_run("ingest", command_modules()["ingest"], ingest).summary == line
    verdict = tmp_path / "verdict.json"
    checks = {
        "great_expectations": {"ran": True, "expectations": 6, "anomalies": 0},
        "schema": {"ran": True, "anomalies": 0},
        "drift": {
            "ran": True,
            "baseline_span": "2013-01-07",
            "measurements": {
                "dep_delay": {"type": "JENSEN_SHANNON_DIVERGENCE", "value": 0.21, "threshold": 0.5},
                "carrier": {"type": "L_INFTY", "value": 0.01, "threshold": 0.1},
            },
        },
        "skew": {"ran": False},
    }
    SpanVerdict(passed=True, checks=checks).write(verdict)
    reports = dict.fromkeys(("stats_file", "anomalies_file", "data_docs", "stats_html"), "/r")
    validate = ValidateResult(span="2013-01-08", passed=True, verdict_file=str(verdict), **reports)
    assert validate.summary() == (
        "span 2013-01-08: GE 6/6 passed; schema: 0 anomalies; "
        "drift: max dep_delay jsd 0.21 < 0.50 (baseline 2013-01-07); skew: not run; passed"
    )
    verdict.write_text(json.dumps({"passed": "maybe"}))
    with pytest.raises(ArtifactInvalid, match="passed"):  # one error naming the file and field
        validate.summary()


def test_model_lines_and_unknown_commands():
    assert summary(
        {"command": "evaluate", "model_dir": "/m/r1", "candidate": {"auc": 0.7}, "blessed": True}
    ) == ("evaluated r1: auc 0.700; blessed")
    rejected = {"command": "evaluate", "model_dir": "/m/r1", "candidate": {"auc": 0.6}, "blessed": False}
    rejected |= {"failing_metric": "auc", "failing_slice": "Overall"}
    assert summary(rejected).endswith("NOT blessed by auc on Overall")
    pushed = PushResult(model="m", version=3, version_dir="/s/m/3", models_config="/s/c", verified_by="x")
    assert pushed.model_copy(update={"live_version": 3}).summary() == "pushed version 3; live version 3"
    assert summary({"command": "no-such-command"}) is None
    landed = {"command": "landing", "spans": 7, "rows": 6018, "data_root": "/d"}
    assert summary(landed) == "7 spans, 6018 rows landed under /d"
    failed = {"command": "ingest-spans", "landed": 9, "passed": 7, "failed_count": 2}
    failed["failures"] = [{"reason": "temp_max rule: 31 of 31 values", "count": 2, "spans": ["a", "b"]}]
    assert summary(failed) == "9 spans: 7 passed, 2 failed; 2 x temp_max rule: 31 of 31 values"
    trained = TrainResult(model_dir="/m/r1", spans=["a"], epochs=3, eval_metrics={"auc": 0.7123, "pr": None})
    ran = step_run("train", command_modules()["train"], trained)
    assert ran.summary == "trained r1: 3 epoch(s) on CPU; eval auc 0.712"
    assert ran.result["command"] == "train" and "raw_eval_files" not in ran.result  # a detail


def test_monitor_line():
    result = MonitorResult(
        span="2013-05-26",
        cutoff="2013-06-02T00:00:00+00:00",
        counts={"predictions": 812, "labelled": 790, "coverage": 0.973},
        by_label={
            "stable": {"version": 2, "realized": 0.7021, "estimated": 0.7444, "band": [0.715, None]},
            "all": {"realized": None, "estimated": None, "band": None},  # too few labels to judge
        },
        alarm=True,
        alarms=["stable: auc on Overall"],
        retrain=True,
        reason="performance: stable: ...",
    )
    assert result.summary() == (
        "span 2013-05-26 (realized): 812 predictions, 790 labelled (97 %); stable: realized 0.702, "
        "estimated 0.744, band >= 0.715; all: realized undefined, estimated undefined, "
        "band >= undefined; ALARM"
    )
    assert MonitorResult.parse(result.result()) == result  # the XCom reads back as the same model


def test_quiet_libraries(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("ML_VERBOSE_LOGS", "TQDM_DISABLE", "GRPC_VERBOSITY"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    quiet_libraries()
    import os

    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3" and os.environ["TQDM_DISABLE"] == "1"
    assert logging.getLogger("great_expectations._docs_decorators").getEffectiveLevel() == logging.WARNING
    import apache_beam.transforms.util as beam_util  # logs BatchElements statistics via logging.info

    root = logging.getLogger()

    def record(level: int, path: str) -> logging.LogRecord:
        return root.makeRecord("root", level, path, 1, "BatchElements statistics: ...", None, None)

    assert not root.filter(record(logging.INFO, beam_util.__file__))  # a library's INFO: dropped
    assert root.filter(record(logging.WARNING, beam_util.__file__))  # its warnings stay
    assert root.filter(record(logging.INFO, __file__))  # ours stay
