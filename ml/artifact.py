"""The base of every typed artifact (a JSON file a step writes and others read) and the step
outcome a runner reads back instead of scraping logs.

An artifact is a pydantic model with `read` (one `artifact-invalid` PipelineError naming the file
and the wrong fields), `write` (atomic), `result()` (the step's result: every field but the
ones marked `detail`, which stay in the file) and `summary()` (one plain line for the task log).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.json_schema import JsonDict

from ml.atomic import atomic_write_json, read_json
from ml.errors import ArtifactInvalid, PipelineError

DETAIL: JsonDict = {"detail": True}  # json_schema_extra of a field kept out of the step's result


A = TypeVar("A", bound="Artifact")  # a function that reads or returns any one artifact type


def num(value: Any, digits: int = 3) -> str:
    """A metric for a summary line: `0.901`, or `undefined` (None, one class)."""
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "undefined"


class Artifact(BaseModel):
    """A JSON file a step writes: read, written atomically, and a step's result without details."""

    model_config = ConfigDict(extra="ignore")  # a file from a newer version still reads

    @classmethod
    def read(cls, path: Path) -> Self:
        """The file as this model; one PipelineError naming the file and fields if it is not one."""
        return cls.parse(read_json(path), where=str(path))

    @classmethod
    def parse(cls, data: Any, where: str = "") -> Self:
        """A step's result (a dict) as this model; `where` names its source in the error."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            wrong = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ArtifactInvalid(
                f"{where or 'the result'} is not a {cls.__name__} file: {wrong}",
                file=where or None,
            ) from None

    def write(self, path: Path) -> None:
        atomic_write_json(path, self.model_dump(mode="json"))

    def result(self) -> dict[str, Any]:
        """The step's result: every field but the `detail` ones."""
        detail = {
            name
            for name, info in type(self).model_fields.items()
            if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("detail")
        }
        return self.model_dump(mode="json", exclude=detail)

    def summary(self) -> str:
        """One plain line for the task log and the CLI's stderr."""
        return type(self).__name__


class StepError(BaseModel):
    """A step's expected failure (a PipelineError), as its fields."""

    message: str
    kind: str = "PipelineError"  # the error class (ml.errors)
    span: str | None = None
    file: str | None = None
    column: str | None = None
    rule: str | None = None

    @classmethod
    def of(cls, exc: PipelineError) -> StepError:
        return cls(
            message=str(exc),
            kind=type(exc).__name__,
            span=exc.span,
            file=exc.file,
            column=exc.column,
            rule=exc.rule,
        )


class StepFailure(Artifact):
    """The failure report a failed span step leaves (`ingest_failure.json`): the error's fields."""

    step: str  # the step that failed (ingest)
    message: str
    span: str | None = None
    file: str | None = None
    column: str | None = None
    rule: str | None = None
    at: str  # UTC, ISO 8601

    @classmethod
    def of(cls, exc: PipelineError, step: str, span: str | None = None) -> StepFailure:
        error = StepError.of(exc)
        return cls(
            step=step,
            message=error.message,
            span=span or error.span,
            file=error.file,
            column=error.column,
            rule=error.rule,
            at=_now(),
        )

    def summary(self) -> str:
        return f"span {self.span}: {self.step} failed: {self.message}"


class StepOutcome(Artifact):
    """What a step run in another process or container left for its runner (`--outcome FILE`):
    its result, or its expected error. No file: the step crashed (a retry may help)."""

    command: str
    ok: bool
    value: dict[str, Any] | None = None  # the step's result (the CLI's stdout JSON)
    error: StepError | None = None  # ok=False: what failed, with span/file/column/rule
    finished_at: str  # UTC, ISO 8601

    @classmethod
    def succeeded(cls, command: str, result: dict[str, Any]) -> StepOutcome:
        return cls(command=command, ok=True, value=result, finished_at=_now())

    @classmethod
    def failed(cls, command: str, exc: PipelineError) -> StepOutcome:
        return cls(command=command, ok=False, error=StepError.of(exc), finished_at=_now())

    def summary(self) -> str:
        if self.ok:
            return f"{self.command}: succeeded"
        return f"{self.command}: failed: {self.error.message if self.error else '?'}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
