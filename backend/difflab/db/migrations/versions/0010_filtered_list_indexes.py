"""indexes for the jobs list narrowed by kind, state or category, newest first, so a filtered
page (by cursor or not) reads its rows in index order instead of sorting every match; the
single-column indexes that these and 0004's begin with are dropped (each served the same
lookups), so writing a job updates fewer indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ADDED = [
    ("ix_jobs_kind_created", "jobs", ["kind", "created_at", "id"]),
    ("ix_jobs_state_created", "jobs", ["state", "created_at", "id"]),
    ("ix_jobs_category_created", "jobs", ["category", "created_at", "id"]),
]
# each is the first column of one above or of 0004's (owner_id, created_at, id)
DROPPED = [
    ("ix_jobs_kind", "jobs", ["kind"]),
    ("ix_jobs_state", "jobs", ["state"]),
    ("ix_jobs_owner_id", "jobs", ["owner_id"]),
    ("ix_generations_owner_id", "generations", ["owner_id"]),
]


def upgrade() -> None:
    for name, table, columns in ADDED:
        op.create_index(name, table, columns)
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns)
    for name, table, _ in ADDED:
        op.drop_index(name, table_name=table)
