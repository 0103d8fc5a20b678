"""job request digest (an idempotency key reused with other parameters is refused), artifact
bytes per job (storage quotas); user names unique regardless of case

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("artifact_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_username_lower", table_name="users")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("artifact_bytes")
        batch_op.drop_column("request_digest")
