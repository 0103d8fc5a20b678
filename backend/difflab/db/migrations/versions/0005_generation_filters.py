"""generations' sampler, width and height as columns (copied from params), so the gallery
filters on them alike on SQLite and PostgreSQL; existing rows are filled from their params

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH = 1000


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def upgrade() -> None:
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sampler", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("height", sa.Integer(), nullable=True))

    # Backfill in Python rather than with each dialect's JSON operators: one path for both.
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    gens = sa.table(
        "generations",
        sa.column("id", sa.String),
        sa.column("params", json_type),
        sa.column("sampler", sa.String),
        sa.column("width", sa.Integer),
        sa.column("height", sa.Integer),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(gens.c.id, gens.c.params)).all()
    update = (
        sa.update(gens)
        .where(gens.c.id == sa.bindparam("gen_id"))
        .values(sampler=sa.bindparam("s"), width=sa.bindparam("w"), height=sa.bindparam("h"))
    )
    for start in range(0, len(rows), BATCH):
        values = []
        for gen_id, params in rows[start : start + BATCH]:
            p = params if isinstance(params, dict) else {}
            sampler = p.get("sampler")
            values.append({
                "gen_id": gen_id,
                "s": sampler if isinstance(sampler, str) else None,
                "w": _int(p.get("width")),
                "h": _int(p.get("height")),
            })  # fmt: skip
        bind.execute(update, values)


def downgrade() -> None:
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.drop_column("height")
        batch_op.drop_column("width")
        batch_op.drop_column("sampler")
