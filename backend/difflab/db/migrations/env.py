"""Alembic environment: the URL comes from difflab's Settings, the metadata from db.models."""

from __future__ import annotations

from typing import Any

from alembic import context

from difflab.db.engine import get_engine
from difflab.db.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable: Any = context.config.attributes.get("connection") or get_engine()
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            context.configure(
                connection=connection, target_metadata=target_metadata, render_as_batch=True
            )
            with context.begin_transaction():
                context.run_migrations()
    else:
        context.configure(
            connection=connectable, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
