"""Apply alembic migrations programmatically (`difflab migrate`, the prestart step, tests)."""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from difflab.db.engine import get_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def wait_for_database(timeout_s: float = 60.0) -> None:
    """Block until the database answers (the prestart step in docker-compose)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with get_engine().connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def upgrade_head() -> None:
    command.upgrade(alembic_config(), "head")
