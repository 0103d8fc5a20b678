"""learners: the role of every non-admin user; a job can be shared read-only by link; a
learner's job carries its wall-time cap

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE users SET role = 'learner' WHERE role = 'user'")
    op.add_column(
        "jobs", sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("jobs", sa.Column("wall_limit_s", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "wall_limit_s")
    op.drop_column("jobs", "shared")
    op.execute("UPDATE users SET role = 'user' WHERE role = 'learner'")
