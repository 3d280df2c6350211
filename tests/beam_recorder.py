"""A real Beam runner that notes every pipeline it runs (tests/unit/test_beam_runner.py).

`ML_BEAM_RUNNER=beam_recorder.RecordingRunner` makes Beam import this class by its dotted path,
as it would a runner of another package. It is Beam's in-process FnApiRunner, unchanged, except
that `run_pipeline` first appends to `RUNS` what it was given: the options it was asked to run
with, the pipeline's top-level transform labels, and the project function that ran the pipeline
(the innermost frame under ml/, e.g. `ml/model/transform.py:_analyze`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

ML = Path(__file__).resolve().parent.parent / "ml"


@dataclass(frozen=True)
class Run:
    site: str | None  # `ml/<file>.py:<function>` that built and ran the pipeline
    labels: tuple[str, ...]  # the pipeline's top-level transforms, e.g. ("Read[0]", ..., "Statistics")
    options: dict  # PipelineOptions.get_all_options(): Beam's flags and any unknown ones


RUNS: list[Run] = []


def calling_site() -> str | None:
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(ML):
            return f"{path.relative_to(ML.parent).as_posix()}:{frame.f_code.co_name}"
        frame = frame.f_back
    return None


class RecordingRunner(FnApiRunner):
    def run_pipeline(self, pipeline, options: PipelineOptions):
        labels = tuple(t.full_label for t in pipeline.transforms_stack[0].parts)
        RUNS.append(Run(calling_site(), labels, options.get_all_options(retain_unknown_options=True)))
        return super().run_pipeline(pipeline, options)
