"""One error type for every expected failure: it names span, file, column and rule."""

from __future__ import annotations


class PipelineError(Exception):
    """A clear, user-facing failure of a pipeline step.

    The message is one paragraph; span/file/column/rule are kept as attributes so that
    callers (the CLI, Airflow operators) can show or log them structurally.
    """

    def __init__(
        self,
        message: str,
        *,
        span: str | None = None,
        file: str | None = None,
        column: str | None = None,
        rule: str | None = None,
    ) -> None:
        self.span, self.file, self.column, self.rule = span, file, column, rule
        self.detail = message
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [
            f"{k}={v}"
            for k, v in (
                ("span", self.span),
                ("file", self.file),
                ("column", self.column),
                ("rule", self.rule),
            )
            if v
        ]
        prefix = f"[{' '.join(parts)}] " if parts else ""
        return prefix + self.detail


class ConfigError(PipelineError):
    """pipeline.yaml, the module file or a command's arguments say something that cannot hold."""


class DataError(PipelineError):
    """A span's data breaks a rule (a column missing, nulls, a failed check): fix the data."""


class MissingArtifact(PipelineError):
    """A step's input is not there yet (no transform, model, schema, span): run the step before."""


class ArtifactInvalid(PipelineError):
    """A file is not the artifact it claims to be (e.g. a blessing.json that does not parse)."""

    def __init__(self, message: str, **fields: str | None) -> None:
        fields.setdefault("rule", "artifact-invalid")
        super().__init__(message, **fields)


class PromotionRefused(PipelineError):
    """A model may not be served: not blessed, not infra-validated, or not the model blessed."""


class ServingError(PipelineError):
    """TF Serving did not load, answer or keep a version (a push rolled back, a label not set)."""
