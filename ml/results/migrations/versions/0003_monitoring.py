"""monitor_runs, monitor_metrics: the live model per span, label cutoff and version label.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEY = ("pipeline", "span", "cutoff", "version_label")


def upgrade() -> None:
    op.create_table(
        "monitor_runs",
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("span", sa.String(length=40), nullable=False),
        sa.Column("cutoff", sa.String(length=40), nullable=False),
        sa.Column("version_label", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer()),
        sa.Column("predictions", sa.Integer(), nullable=False),
        sa.Column("labelled", sa.Integer(), nullable=False),
        sa.Column("coverage", sa.Float()),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("metric", sa.String(length=100)),
        sa.Column("realized", sa.Float()),
        sa.Column("estimated", sa.Float()),
        sa.Column("estimation_error", sa.Float()),
        sa.Column("band_low", sa.Float()),
        sa.Column("band_high", sa.Float()),
        sa.Column("score_jsd", sa.Float()),
        sa.Column("alarm", sa.Boolean(), nullable=False),
        sa.Column("alarms", sa.Text()),
        sa.Column("warnings", sa.Text()),
        sa.Column("no_label_row", sa.Integer()),
        sa.Column("label_unknown", sa.Integer()),
        sa.Column("unknown_ids", sa.Integer()),
        sa.Column("duplicate_predictions", sa.Integer()),
        sa.Column("monitor_dir", sa.Text()),
        sa.PrimaryKeyConstraint(*KEY),
    )
    op.create_index("ix_monitor_runs_span", "monitor_runs", ["pipeline", "span"])
    op.create_table(
        "monitor_metrics",
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("span", sa.String(length=40), nullable=False),
        sa.Column("cutoff", sa.String(length=40), nullable=False),
        sa.Column("version_label", sa.String(length=40), nullable=False),
        sa.Column("slice", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float()),
        sa.PrimaryKeyConstraint(*KEY, "slice", "metric"),
    )


def downgrade() -> None:
    op.drop_table("monitor_metrics")
    op.drop_index("ix_monitor_runs_span", table_name="monitor_runs")
    op.drop_table("monitor_runs")
