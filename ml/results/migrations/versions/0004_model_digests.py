"""models.transform_digest, models.weights_digest: what a model was rebuilt from, exactly.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("transform_digest", sa.String(length=64)))
        batch.add_column(sa.Column("weights_digest", sa.String(length=64)))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("weights_digest")
        batch.drop_column("transform_digest")
