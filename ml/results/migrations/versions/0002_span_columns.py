"""span_columns: the null fraction of every raw column of a span (null rates over time).

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "span_columns",
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("span", sa.String(length=40), nullable=False),
        sa.Column("column", sa.String(length=200), nullable=False),
        sa.Column("null_fraction", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline", "span", "column"),
    )


def downgrade() -> None:
    op.drop_table("span_columns")
