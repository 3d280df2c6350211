"""`validate`: every data check of one span, written atomically to `<span>/validation/`.

Checks, each with a configurable severity (`checks.<name>.severity: block|warn`):
- great_expectations: the suite of ml.data.expectations on the raw span (+ HTML Data Docs);
- schema: TFDV statistics of the span against the curated schema.pbtxt;
- drift: L-infinity / Jensen-Shannon distance to the baseline spans (ml.data.baseline: the
  span before in the cadence, or a trailing window; the same whatever order spans run in);
- skew: the same comparators against the statistics of the span's serving-request log.
All artifacts are written first; then blocking anomalies raise PipelineError (CLI exit 2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ml.atomic import atomic_dir, atomic_write_text
from ml.config import PipelineConfig
from ml.data import anomalies as anomaly_util
from ml.data.anomalies import Anomaly
from ml.data.baseline import BaselineSpans, resolve_baseline
from ml.data.expectations import run_expectations
from ml.data.raw import matching_files, read_raw_span
from ml.data.schema import (
    TRAINING,
    environment,
    pipeline_schema,
    strip_comparators,
    with_comparators,
)
from ml.data.span_results import CheckBrief, CheckSummary, SpanVerdict, ValidateResult
from ml.data.stats import (
    compute_statistics,
    serving_columns,
    span_columns,
    statistics_html,
)
from ml.errors import ConfigError, DataError, PipelineError
from ml.roots import Roots
from ml.spans import SpanPaths, parse_span

log = logging.getLogger(__name__)
CHECKS = ("great_expectations", "schema", "drift", "skew")
SEVERITIES = ("block", "warn")


@dataclass
class CheckOutcome:
    name: str
    severity: str
    ran: bool
    anomalies: list[Anomaly] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "severity": self.severity,
            "ran": self.ran,
            "passed": not self.anomalies,
            "anomalies": len(self.anomalies),
            **self.details,
        }


def serving_log_files(cfg: PipelineConfig, paths: SpanPaths, span: str) -> list[Path]:
    return matching_files(cfg, paths.serving_log_dir(span))


def explicit_baseline(cfg: PipelineConfig, paths: SpanPaths, span: str, previous: str) -> BaselineSpans:
    """`--previous SPAN`: compare with exactly that landed span."""
    previous = parse_span(cfg, previous)
    if previous == span:
        raise PipelineError(f"--previous {previous} is the span itself", span=span, rule="previous-span")
    files = read_raw_span(cfg, paths.landing_dir(previous), previous).files
    return BaselineSpans(spans=[previous], files=files, reason=f"--previous {previous} given")


def severity(cfg: PipelineConfig, check: str) -> str:
    value = cfg.check(check).severity
    if value not in SEVERITIES:
        raise ConfigError(
            f"checks.{check}.severity is {value!r}; use one of {', '.join(SEVERITIES)}", rule="check-config"
        )
    return value


def _tfdv_check(name: str, cfg: PipelineConfig, stats, schema, **control) -> tuple:
    """Run tfdv.validate_statistics for one check; returns (its anomalies proto, Anomaly list)."""
    import tensorflow_data_validation as tfdv

    level = severity(cfg, name)
    comparing = name in ("drift", "skew")
    schema = with_comparators(schema, cfg.check(name), name) if comparing else strip_comparators(schema)
    proto = tfdv.validate_statistics(stats, schema, environment=environment(schema, TRAINING), **control)
    if comparing:  # the schema check reports the rest
        proto = anomaly_util.only_comparators(proto)
    anomaly_util.set_severity(proto, level)
    return proto, anomaly_util.from_tfdv(proto, check=name, severity=level)


def compare(name: str, cfg: PipelineConfig, stats, schema, other) -> tuple:
    """The drift or skew check of `stats` against `other` statistics: (proto, anomalies, measurements).

    The validate step and `calibrate-drift` both measure distances through this one function.
    """
    control = {"previous_statistics" if name == "drift" else "serving_statistics": other}
    proto, found = _tfdv_check(name, cfg, stats, schema, **control)
    return proto, found, anomaly_util.measurements(proto, f"{name}_measurements")


def validate_span(
    cfg: PipelineConfig, roots: Roots, span: str, previous: str | None = None
) -> ValidateResult:
    span = parse_span(cfg, span)
    paths = SpanPaths(cfg, roots)
    raw = read_raw_span(cfg, paths.landing_dir(span), span)
    schema = pipeline_schema(cfg)
    baseline = (
        explicit_baseline(cfg, paths, span, previous) if previous else resolve_baseline(cfg, roots, span)
    )
    serving_files = serving_log_files(cfg, paths, span)
    final = paths.validation_dir(span)
    outcomes: dict[str, CheckOutcome] = {}

    with atomic_dir(final) as tmp:

        def inside(path: Path) -> Path:
            return tmp / path.relative_to(final)

        docs_index = paths.data_docs_index(span)
        ge = run_expectations(cfg, raw.frame, span, inside(docs_index).parent)
        level = severity(cfg, "great_expectations")
        outcomes["great_expectations"] = CheckOutcome(
            "great_expectations",
            level,
            True,
            [Anomaly(col, kind, desc, "great_expectations", level) for col, kind, desc in ge.failures],
            {
                "expectations": ge.evaluated,
                "data_docs": str(docs_index.relative_to(final)),
                "results": ge.results,
            },
        )

        stats = compute_statistics(
            raw.files, span_columns(cfg), inside(paths.stats_file(span)), schema=schema
        )
        merged, found = _tfdv_check("schema", cfg, stats, schema)
        outcomes["schema"] = CheckOutcome(
            "schema", severity(cfg, "schema"), True, found, {"schema": cfg.schema_path.name}
        )

        drift = CheckOutcome(
            "drift", severity(cfg, "drift"), bool(baseline.spans), details=baseline.as_dict()
        )
        if baseline.spans:
            previous_stats = compute_statistics(
                baseline.files, span_columns(cfg), inside(paths.baseline_stats_file(span)), schema=schema
            )
            proto, drift.anomalies, drift.details["measurements"] = compare(
                "drift", cfg, stats, schema, previous_stats
            )
            anomaly_util.merge(merged, proto)
        else:
            log.warning("span %s: drift not checked: %s", span, baseline.reason)
        outcomes["drift"] = drift

        skew = CheckOutcome(
            "skew",
            severity(cfg, "skew"),
            bool(serving_files),
            details={"serving_log": [p.name for p in serving_files] or None},
        )
        if serving_files:
            serving = compute_statistics(
                serving_files, serving_columns(cfg), inside(paths.serving_stats_file(span)), schema=schema
            )
            proto, skew.anomalies, skew.details["measurements"] = compare("skew", cfg, stats, schema, serving)
            skew.details["serving_rows"] = int(serving.datasets[0].num_examples)
            anomaly_util.merge(merged, proto)
        outcomes["skew"] = skew

        found = [a for name in CHECKS for a in outcomes[name].anomalies]
        blocking = [a for a in found if a.blocking]
        verdict = SpanVerdict(
            pipeline=cfg.name,
            span=span,
            passed=not blocking,
            rows=int(len(raw.frame)),
            files=[p.name for p in raw.files],
            blocking=len(blocking),
            warnings=len(found) - len(blocking),
            checks={name: CheckSummary.model_validate(outcomes[name].summary()) for name in CHECKS},
            anomalies=[a.as_dict() for a in found],
        )
        atomic_write_text(inside(paths.anomalies_file(span)), anomaly_util.to_text(merged))
        atomic_write_text(
            inside(paths.stats_html(span)), statistics_html(stats, name=span, title=f"{cfg.name} span {span}")
        )
        verdict.write(inside(paths.verdict_file(span)))

    if blocking:
        raise DataError(
            f"span {span} has {len(blocking)} blocking anomal{'y' if len(blocking) == 1 else 'ies'}"
            f" and {len(found) - len(blocking)} warning(s) (verdict: {paths.verdict_file(span)}): "
            + "; ".join(a.line() for a in found),
            span=span,
            column=blocking[0].feature,
            rule="blocking-anomalies",
        )
    for a in found:
        log.warning("span %s: %s", span, a.line())
    return ValidateResult(
        span=span,
        passed=True,
        rows=verdict.rows,
        anomalies=len(found),
        warnings=[a.line() for a in found],
        checks={name: CheckBrief.model_validate(outcomes[name].summary()) for name in CHECKS},
        **baseline.as_dict(),
        baseline_stats_file=str(paths.baseline_stats_file(span)) if baseline.spans else None,
        stats_file=str(paths.stats_file(span)),
        serving_stats_file=str(paths.serving_stats_file(span)) if serving_files else None,
        anomalies_file=str(paths.anomalies_file(span)),
        verdict_file=str(paths.verdict_file(span)),
        data_docs=str(paths.data_docs_index(span)),
        stats_html=str(paths.stats_html(span)),
    )
