"""monitor_runs.stage (estimated | realized) and monitor_runs.withdrawn: a span is judged before
its labels (the CBPE estimate) and after them; a restatement that clears an alarm says so.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("monitor_runs") as batch:
        batch.add_column(sa.Column("stage", sa.String(length=20), nullable=False, server_default="realized"))
        batch.add_column(sa.Column("withdrawn", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("monitor_runs") as batch:
        batch.drop_column("withdrawn")
        batch.drop_column("stage")
