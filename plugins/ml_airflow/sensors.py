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


class SpanSensor(BaseSensorOperator):
    """Succeeds once `<data_root>/<landing folder>/span=<id>/` holds the done marker (`_SUCCESS`);
    the span id is one of the pipeline's cadence (ml.spans).

    Defaults to mode="reschedule": between pokes the task frees its worker slot. On timeout it
    fails naming the span and the path it waited for. XCom: {span, landing_dir}.
    """

    template_fields: Sequence[str] = ("pipeline", "span")
    ui_color = "#fdf6e3"

    def __init__(
        self,
        *,
        pipeline: str,
        span: str,
        mode: str = "reschedule",
        poke_interval: float = 300,
        timeout: float | timedelta = timedelta(hours=12),
        **kwargs,
    ) -> None:
        super().__init__(mode=mode, poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.pipeline, self.span = pipeline, span

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
