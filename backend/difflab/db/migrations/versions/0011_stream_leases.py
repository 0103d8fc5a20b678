"""stream leases: the open event streams of each user, counted across API processes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_leases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stream_leases", schema=None) as batch_op:
        batch_op.create_index("ix_stream_leases_user_id", ["user_id"], unique=False)
        batch_op.create_index("ix_stream_leases_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stream_leases", schema=None) as batch_op:
        batch_op.drop_index("ix_stream_leases_expires_at")
        batch_op.drop_index("ix_stream_leases_user_id")
    op.drop_table("stream_leases")
