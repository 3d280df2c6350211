"""The typed blessing: one model for the file, the step's result and every reader."""

from __future__ import annotations

import json

import pytest

from ml.errors import PipelineError
from ml.model.blessing import Blessing, InfraBlessing


def _blessing(**changes) -> Blessing:
    fields = {
        "blessed": False,
        "decided_by": "auc on Overall",
        "reason": "auc 0.61 below 0.65",
        "model_dir": "/a/models/r1",
        "saved_model_digest": "abc",
        "eval_files": ["/a/spans/2013-01-01/examples/eval/x.tfrecord.gz"],
        "checks": [
            {"check": "auc on Overall", "passed": False, "blocking": True, "message": "m", "tfma": True}
        ],
        "baseline": {"path": "/s/flights_delay/1", "version": 1},
        "candidate": {"auc": 0.61},
    }
    return Blessing.model_validate(fields | changes)


def test_written_and_read_back_unchanged(tmp_path):
    blessing = _blessing()
    blessing.write(tmp_path / "blessing.json")
    again = Blessing.read(tmp_path / "blessing.json")
    assert again == blessing
    assert again.checks[0].tfma is True and again.baseline_version == 1


def test_the_result_leaves_the_file_only_fields_out():
    result = _blessing().result()
    assert result["blessed"] is False and result["decided_by"] == "auc on Overall"
    assert "eval_files" not in result and "saved_model_digest" not in result
    assert "eval_files" in _blessing().model_dump()


def test_a_file_that_is_no_blessing_is_one_error_naming_file_and_field(tmp_path):
    path = tmp_path / "blessing.json"
    path.write_text(json.dumps({"blessed": "perhaps", "model_dir": "/m"}))
    with pytest.raises(PipelineError) as caught:
        Blessing.read(path)
    assert caught.value.rule == "artifact-invalid" and caught.value.file == str(path)
    assert "blessed" in str(caught.value)


def test_an_older_blessing_without_the_gate_fields_reads_and_says_why():
    old = Blessing.model_validate(
        {"blessed": False, "model_dir": "/m", "failing_metric": "auc", "failing_slice": "carrier=UA"}
    )
    assert old.refusal == "auc failed on slice carrier=UA" and "decided_by" not in old.model_fields_set
    assert old.summary().endswith("NOT blessed by auc on carrier=UA")


def test_the_infra_blessing_says_what_failed():
    failed = InfraBlessing(
        passed=False, error="probe did not finish within 60s", saved_model="/m/saved_model"
    )
    assert failed.summary() == "/m/saved_model: infra validation failed: probe did not finish within 60s"
    assert "predictions" not in InfraBlessing(passed=True, predictions=[0.1]).result()
