"""One Settings class for the whole service; every field can be set as DIFFLAB_<NAME>."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev-secret-key"}
DEFAULT_SECRET = "dev-secret-key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIFFLAB_", env_file=None, extra="ignore")

    mode: Literal["development", "production"] = Field(
        "development", description="production refuses placeholder secrets and hides the docs"
    )
    data_dir: Path = Field(Path("var"), description="SQLite file, artifacts, checkpoints")
    models_dir: Path = Field(Path("models"), description="diffusers model directories")
    database_url: str = Field("", description="empty: sqlite file in data_dir")
    broker_url: str = Field("", description="empty: kombu SQLAlchemy transport on a sqlite file")
    secret_key: str = Field(DEFAULT_SECRET, description="signs sessions; set it in production")
    admin_user: str = Field("admin", description="first admin, created when no user exists")
    admin_password: str = Field("", description="empty: a random one is printed once")
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: list[str] = Field(default_factory=list)
    frontend_dist: Path = Field(Path("frontend/dist"), description="built frontend served at /")

    # jobs
    heartbeat_s: float = Field(5.0, gt=0, description="how often a running job beats")
    stale_after_s: float = Field(60.0, gt=0, description="a running job silent this long is dead")
    requeue_after_s: float = Field(120.0, gt=0, description="queued this long: publish again")
    reconcile_every_s: float = Field(10.0, gt=0, description="reconciler period in the API")
    max_attempts: int = Field(3, ge=1, le=20)
    job_time_limit_s: int = Field(6 * 3600, description="hard limit of one job attempt")
    event_poll_s: float = Field(0.1, gt=0, description="SSE poll period for new events")

    # limits
    max_body_bytes: int = 1_000_000
    max_prompt_chars: int = 1000
    max_queued_per_user: int = 50
    session_days: int = 14

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.mode == "production" and self.secret_key in PLACEHOLDER_SECRETS:
            raise ValueError("DIFFLAB_SECRET_KEY must be set to a real secret in production mode")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'difflab.sqlite').resolve()}"

    @property
    def celery_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"


@lru_cache
def get_settings() -> Settings:
    return Settings()
