"""SpanSensor: wait until the upstream system has finished landing one span."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from ml.config import load_pipeline
from ml.roots import Roots
from ml.spans import SpanPaths, first_span


class PipelineSpanSensor(BaseSensorOperator):
    """Base: a sensor over one span of a pipeline, in mode="reschedule" by default (between pokes
    the task frees its worker slot)."""

    template_fields: Sequence[str] = ("pipeline", "span")
    ui_color = "#fdf6e3"
    default_timeout: timedelta = timedelta(hours=12)

    def __init__(
        self,
        *,
        pipeline: str,
        span: str,
        mode: str = "reschedule",
        poke_interval: float = 300,
        timeout: float | timedelta | None = None,
        **kwargs,
    ) -> None:
        timeout = self.default_timeout if timeout is None else timeout
        super().__init__(mode=mode, poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.pipeline, self.span = pipeline, span


class SpanSensor(PipelineSpanSensor):
    """Succeeds once `<data_root>/<landing folder>/span=<id>/` holds the done marker (`_SUCCESS`);
    the span id is one of the pipeline's cadence (ml.spans).

    Waits 12 h at most (mode="reschedule"). On timeout it fails naming the span and the path it
    waited for. XCom: {span, landing_dir}.
    """

    def marker_path(self) -> Path:
        cfg = load_pipeline(self.pipeline)
        return SpanPaths(cfg, Roots.resolve()).landing_dir(self.span) / cfg.done_marker

    def poke(self, context) -> bool | PokeReturnValue:
        marker = self.marker_path()
        if not marker.is_file():
            self.log.info("span %s: waiting for %s", self.span, marker)
            return False
        self.log.info("span %s: landed (%s present)", self.span, marker)
        return PokeReturnValue(
            is_done=True, xcom_value={"span": self.span, "landing_dir": str(marker.parent)}
        )

    def execute(self, context):
        run_type = str(getattr(context.get("dag_run"), "run_type", "")).lower()
        if run_type.endswith("manual") and not self.marker_path().is_file():
            raise AirflowFailException(  # a person is waiting: say so now, not in 12 hours
                f"span {self.span} has not landed ({self.marker_path()} is missing); trigger the run "
                f'with a landed span, e.g. conf {{"span": "{first_span(load_pipeline(self.pipeline))}"}}, '
                "or without one to take the newest landed span that has no successful run"
            )
        try:
            return super().execute(context)
        except AirflowSensorTimeout as exc:
            raise AirflowSensorTimeout(
                f"span {self.span} never landed: {self.marker_path()} is still missing after "
                f"{self.timeout:.0f}s (the upstream system writes it last)"
            ) from exc


class MonitorSensor(PipelineSpanSensor):
    """`wait_for="labels"` (default): succeeds once the span's prediction log is complete
    (`_SUCCESS`) and its labels have landed (the labels folder's done marker), or once the labels
    are overdue: `monitoring.labels.lag_spans` spans after the span ended plus `wait_timeout_s`;
    the monitor then runs with what arrived and marks the span partial (a later re-run restates
    it). `wait_for="predictions"`: succeeds once the prediction log is complete (or at that same
    deadline), for the estimate before labels. A backfill of old spans never waits.
    XCom: {span, partial, predictions_dir, labels_dir}."""

    default_timeout = timedelta(days=7)
    template_fields: Sequence[str] = ("pipeline", "span", "wait_for")

    def __init__(self, *, wait_for: str = "labels", **kwargs) -> None:
        super().__init__(**kwargs)
        self.wait_for = wait_for

    def poke(self, context) -> bool | PokeReturnValue:
        from datetime import UTC, datetime

        from ml.serving.log_store import is_complete
        from ml.spans import shift_span, span_start

        cfg = load_pipeline(self.pipeline)
        paths = SpanPaths(cfg, Roots.resolve())
        spec = cfg.monitoring.labels
        predictions, labels = paths.predictions_dir(self.span), paths.labels_dir(self.span)
        have_predictions = is_complete(predictions)
        have_labels = (
            self.wait_for == "predictions" or (labels / (spec.done_marker or cfg.done_marker)).is_file()
        )
        due = span_start(cfg, shift_span(cfg, self.span, 1 + spec.lag_spans))
        deadline = due + timedelta(seconds=spec.wait_timeout_s or 0)
        overdue = datetime.now(UTC) >= deadline
        xcom = {"span": self.span, "predictions_dir": str(predictions), "labels_dir": str(labels)}
        wanted = "its prediction log" if self.wait_for == "predictions" else "predictions and labels"
        if have_predictions and have_labels:
            self.log.info("span %s: %s are there", self.span, wanted)
            return PokeReturnValue(is_done=True, xcom_value={**xcom, "partial": False})
        if overdue:
            self.log.info(
                "span %s: waited until %s; monitoring with what arrived (predictions complete: %s, "
                "labels landed: %s)",
                self.span,
                deadline.isoformat(),
                have_predictions,
                have_labels,
            )
            return PokeReturnValue(is_done=True, xcom_value={**xcom, "partial": True})
        self.log.info(
            "span %s: waiting for %s until %s",
            self.span,
            " and ".join(
                w for w, ok in (("predictions", have_predictions), ("labels", have_labels)) if not ok
            ),
            deadline.isoformat(),
        )
        return False
