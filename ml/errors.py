"""One error type for every expected failure: it names span, file, column and rule."""

from __future__ import annotations

import datetime as dt
from typing import Any


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

    def report(self, step: str, span: str | None = None) -> dict[str, Any]:
        """The failure report a failed span step leaves (`ingest_failure.json`): the error's fields."""
        return {
            "span": span or self.span,
            "step": step,
            "message": str(self),
            "file": self.file,
            "column": self.column,
            "rule": self.rule,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
