"""an index on (owner_id, started_at): every claim orders the queued jobs by when their owner
was last served (lifecycle.fair_next); with it that is one index seek per owner, not a walk
through the owner's whole history

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_owner_started", "jobs", ["owner_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_started", table_name="jobs")
