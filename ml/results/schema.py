"""The results store's tables (SQLAlchemy Core): one schema for SQLite and Postgres.

Every table carries the pipeline name, so one Postgres database serves every pipeline while
the embedded default keeps one SQLite file per pipeline. Rows are replaced, never appended to,
when a step re-runs (a re-validated span replaces its span row and its check rows).
Changing a table means a new Alembic revision under `migrations/versions/`.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

spans = sa.Table(
    "spans",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("span", sa.String(40), primary_key=True),
    # ingested | ingest_failed | passed | failed (validation blocked)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("rows", sa.Integer),
    sa.Column("train_rows", sa.Integer),
    sa.Column("eval_rows", sa.Integer),
    sa.Column("label_positive_rate", sa.Float),
    sa.Column("ge_evaluated", sa.Integer),
    sa.Column("ge_failed", sa.Integer),
    sa.Column("schema_anomalies", sa.Integer),
    sa.Column("drift_ran", sa.Boolean),
    sa.Column("drift_alarms", sa.Integer),
    sa.Column("skew_ran", sa.Boolean),
    sa.Column("skew_alarms", sa.Integer),
    sa.Column("baseline_span", sa.String(40)),
    sa.Column("baseline_reason", sa.Text),
    sa.Column("blocking", sa.Integer),
    sa.Column("warnings", sa.Integer),
    sa.Column("ingest_seconds", sa.Float),
    sa.Column("validate_seconds", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

# One row per GE expectation, per schema anomaly and per drift/skew feature of a span.
checks = sa.Table(
    "checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(100), nullable=False),
    sa.Column("span", sa.String(40), nullable=False),
    sa.Column("check", sa.String(40), nullable=False),  # great_expectations|schema|drift|skew
    sa.Column("name", sa.String(200), nullable=False),  # feature / column, or *table*
    sa.Column("kind", sa.String(200)),  # expectation type, anomaly type or comparator
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("comparator", sa.String(40)),
    sa.Column("baseline_span", sa.String(40)),
    sa.Column("severity", sa.String(10)),
    sa.Column("detail", sa.Text),
    sa.Index("ix_checks_span", "pipeline", "span"),
    sa.Index("ix_checks_feature", "pipeline", "check", "name"),
)

# One row per raw column of a span's statistics: how much of it was missing (null rates over time).
span_columns = sa.Table(
    "span_columns",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("span", sa.String(40), primary_key=True),
    sa.Column("column", sa.String(200), primary_key=True),
    sa.Column("null_fraction", sa.Float, nullable=False),
)

# One row per training run (model dir), written when it is evaluated.
models = sa.Table(
    "models",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("run_id", sa.String(100), primary_key=True),
    sa.Column("model_dir", sa.Text, nullable=False),
    sa.Column("evaluation_dir", sa.Text),
    sa.Column("first_span", sa.String(40)),
    sa.Column("last_span", sa.String(40)),
    sa.Column("blessed", sa.Boolean),
    sa.Column("decided_by", sa.Text),  # the check that decided (metric@slice), None = all passed
    sa.Column("reason", sa.Text),
    sa.Column("thresholds", sa.JSON),
    sa.Column("baseline_version", sa.Integer),
    sa.Column("evaluated_at", sa.String(40)),
    sa.Column("transform_digest", sa.String(64)),  # sha256 of the transform output (manifest aside)
    sa.Column("weights_digest", sa.String(64)),  # sha256 of the trained weights
)

# Lineage: which spans a model was trained (role=train) and evaluated (role=eval) on.
model_spans = sa.Table(
    "model_spans",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("run_id", sa.String(100), primary_key=True),
    sa.Column("span", sa.String(40), primary_key=True),
    sa.Column("role", sa.String(10), primary_key=True),
    sa.Index("ix_model_spans_span", "pipeline", "span"),
)

model_metrics = sa.Table(
    "model_metrics",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("run_id", sa.String(100), primary_key=True),
    sa.Column("model", sa.String(20), primary_key=True),  # candidate | baseline | benchmark | diff
    sa.Column("slice", sa.String(200), primary_key=True),  # Overall, carrier=AA, ...
    sa.Column("metric", sa.String(100), primary_key=True),
    sa.Column("value", sa.Float),
)

# Served versions (ml/serving/history.py): push, promote, rollback, retire, and stable/canary rows.
serving_events = sa.Table(
    "serving_events",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column(
        "event", sa.String(20), primary_key=True
    ),  # push | promote | rollback | retire | stable | canary
    sa.Column("model_name", sa.String(100), nullable=False),
    sa.Column("run_id", sa.String(100)),
    sa.Column("at", sa.String(40)),
    sa.Column("detail", sa.Text),
)

# The live model (ml/monitoring): one row per span, label cutoff and version label (`all` = every
# label together). A restatement (a later cutoff) adds rows; the earlier ones stay.
monitor_runs = sa.Table(
    "monitor_runs",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("span", sa.String(40), primary_key=True),
    sa.Column("cutoff", sa.String(40), primary_key=True),  # when the labels were read (ISO, UTC)
    sa.Column("version_label", sa.String(40), primary_key=True),  # stable | canary | v<N> | all
    sa.Column("stage", sa.String(20), nullable=False, server_default="realized"),  # | estimated
    sa.Column("version", sa.Integer),
    sa.Column("predictions", sa.Integer, nullable=False),
    sa.Column("labelled", sa.Integer, nullable=False),
    sa.Column("coverage", sa.Float),
    sa.Column("partial", sa.Boolean, nullable=False),
    sa.Column("metric", sa.String(100)),
    sa.Column("realized", sa.Float),
    sa.Column("estimated", sa.Float),
    sa.Column("estimation_error", sa.Float),  # estimated - realized
    sa.Column("band_low", sa.Float),
    sa.Column("band_high", sa.Float),
    sa.Column("score_jsd", sa.Float),
    sa.Column("alarm", sa.Boolean, nullable=False),
    sa.Column("alarms", sa.Text),
    sa.Column("withdrawn", sa.Text),  # the alarms of an earlier cutoff this one clears
    sa.Column("warnings", sa.Text),
    sa.Column("no_label_row", sa.Integer),  # span-wide counts (same on every label's row)
    sa.Column("label_unknown", sa.Integer),
    sa.Column("unknown_ids", sa.Integer),
    sa.Column("duplicate_predictions", sa.Integer),
    sa.Column("monitor_dir", sa.Text),
    sa.Index("ix_monitor_runs_span", "pipeline", "span"),
)

# Realized metrics per slice of a monitor run (TFMA over the joined rows).
monitor_metrics = sa.Table(
    "monitor_metrics",
    metadata,
    sa.Column("pipeline", sa.String(100), primary_key=True),
    sa.Column("span", sa.String(40), primary_key=True),
    sa.Column("cutoff", sa.String(40), primary_key=True),
    sa.Column("version_label", sa.String(40), primary_key=True),
    sa.Column("slice", sa.String(200), primary_key=True),
    sa.Column("metric", sa.String(100), primary_key=True),
    sa.Column("value", sa.Float),
)

TABLES = (
    spans,
    checks,
    span_columns,
    models,
    model_spans,
    model_metrics,
    serving_events,
    monitor_runs,
    monitor_metrics,
)
