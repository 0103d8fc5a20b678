"""workers announce how many devices a training job may use on them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workers", sa.Column("devices", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    op.drop_column("workers", "devices")
