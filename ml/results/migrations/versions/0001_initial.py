"""The first schema: spans, checks, models, model_spans, model_metrics, serving_events.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("span", sa.String(length=40), nullable=False),
        sa.Column("check", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=200), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("comparator", sa.String(length=40), nullable=True),
        sa.Column("baseline_span", sa.String(length=40), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_checks_feature", "checks", ["pipeline", "check", "name"], unique=False)
    op.create_index("ix_checks_span", "checks", ["pipeline", "span"], unique=False)
    op.create_table(
        "model_metrics",
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=20), nullable=False),
        sa.Column("slice", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("pipeline", "run_id", "model", "slice", "metric"),
    )
    op.create_table(
        "model_spans",
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("span", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("pipeline", "run_id", "span", "role"),
    )
    op.create_index("ix_model_spans_span", "model_spans", ["pipeline", "span"], unique=False)
    op.create_table(
        "models",
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("model_dir", sa.Text(), nullable=False),
        sa.Column("evaluation_dir", sa.Text(), nullable=True),
        sa.Column("first_span", sa.String(length=40), nullable=True),
        sa.Column("last_span", sa.String(length=40), nullable=True),
        sa.Column("blessed", sa.Boolean(), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("thresholds", sa.JSON(), nullable=True),
        sa.Column("baseline_version", sa.Integer(), nullable=True),
        sa.Column("evaluated_at", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("pipeline", "run_id"),
    )
    op.create_table(
        "serving_events",
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("at", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("pipeline", "version", "event"),
    )
    op.create_table(
        "spans",
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("span", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("train_rows", sa.Integer(), nullable=True),
        sa.Column("eval_rows", sa.Integer(), nullable=True),
        sa.Column("label_positive_rate", sa.Float(), nullable=True),
        sa.Column("ge_evaluated", sa.Integer(), nullable=True),
        sa.Column("ge_failed", sa.Integer(), nullable=True),
        sa.Column("schema_anomalies", sa.Integer(), nullable=True),
        sa.Column("drift_ran", sa.Boolean(), nullable=True),
        sa.Column("drift_alarms", sa.Integer(), nullable=True),
        sa.Column("skew_ran", sa.Boolean(), nullable=True),
        sa.Column("skew_alarms", sa.Integer(), nullable=True),
        sa.Column("baseline_span", sa.String(length=40), nullable=True),
        sa.Column("baseline_reason", sa.Text(), nullable=True),
        sa.Column("blocking", sa.Integer(), nullable=True),
        sa.Column("warnings", sa.Integer(), nullable=True),
        sa.Column("ingest_seconds", sa.Float(), nullable=True),
        sa.Column("validate_seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("pipeline", "span"),
    )


def downgrade() -> None:
    op.drop_table("spans")
    op.drop_table("serving_events")
    op.drop_table("models")
    op.drop_index("ix_model_spans_span", table_name="model_spans")
    op.drop_table("model_spans")
    op.drop_table("model_metrics")
    op.drop_index("ix_checks_span", table_name="checks")
    op.drop_index("ix_checks_feature", table_name="checks")
    op.drop_table("checks")
