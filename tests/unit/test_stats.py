"""The statistics helpers: Arrow list wrapping, typed CSV batches, backend choice."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ml.data.examples import list_wrap
from ml.data.stats import choose_backend, read_csv_batches
from ml.errors import PipelineError


def test_list_wrap_makes_one_element_lists_and_null_lists():
    wrapped = list_wrap(pa.array([1.5, None, 3.0, None], pa.float32()))
    assert wrapped.to_pylist() == [[1.5], None, [3.0], None]
    assert wrapped.offsets.to_pylist() == [0, 1, 1, 2, 2]
    assert list_wrap(pa.array(["a", "b"])).to_pylist() == [["a"], ["b"]]
    chunked = pa.chunked_array([pa.array([1, None]), pa.array([3])])
    assert list_wrap(chunked).to_pylist() == [[1], None, [3]]


def test_read_csv_batches_types_declared_columns_only(tmp_path):
    path = tmp_path / "span.csv"
    path.write_text("carrier,dep_delay,month,extra\nUA,2.0,1,x\nAA,,1,y\nNA,NA,2,z\n")
    table = pa.Table.from_batches(
        list(read_csv_batches([path], {"carrier": "string", "dep_delay": "float", "month": "int"}))
    )
    assert table.column_names == ["carrier", "dep_delay", "month"]
    assert table.schema.field("dep_delay").type == pa.float32()
    assert table.column("dep_delay").to_pylist() == [2.0, None, None]
    assert table.column("carrier").to_pylist() == ["UA", "AA", None]
    path.write_text("carrier,dep_delay,month\nUA,late,1\n")
    with pytest.raises(PipelineError, match="csv-typed-columns"):
        list(read_csv_batches([path], {"carrier": "string", "dep_delay": "float", "month": "int"}))


def test_backend_choice_by_env_and_input_size(tmp_path, monkeypatch):
    path = tmp_path / "span.csv"
    path.write_text("a\n" + "1\n" * 100)
    monkeypatch.delenv("ML_STATS_BACKEND", raising=False)
    monkeypatch.setenv("ML_STATS_BEAM_MIN_BYTES", "10000")
    assert choose_backend([path]) == "memory"
    monkeypatch.setenv("ML_STATS_BEAM_MIN_BYTES", "100")
    assert choose_backend([path]) == "beam"
    monkeypatch.setenv("ML_STATS_BACKEND", "memory")
    assert choose_backend([path]) == "memory"
    assert choose_backend([path], "beam") == "beam"
    monkeypatch.setenv("ML_STATS_BACKEND", "spark")
    with pytest.raises(PipelineError, match="stats-backend"):
        choose_backend([path])
