"""indexes for the newest-first list pages of jobs and generations (all, and one owner's), so
a page costs the same with a hundred rows or a hundred thousand

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_jobs_created", "jobs", ["created_at", "id"]),
    ("ix_jobs_owner_created", "jobs", ["owner_id", "created_at", "id"]),
    ("ix_generations_created", "generations", ["created_at", "id"]),
    ("ix_generations_owner_created", "generations", ["owner_id", "created_at", "id"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
