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
        default="development",
        description="production refuses placeholder secrets and hides the docs",
    )
    data_dir: Path = Field(default=Path("var"), description="SQLite file, artifacts, checkpoints")
    models_dir: Path = Field(default=Path("models"), description="diffusers model directories")
    database_url: str = Field(default="", description="empty: sqlite file in data_dir")
    broker_url: str = Field(
        default="", description="empty: kombu SQLAlchemy transport on a sqlite file"
    )
    secret_key: str = Field(
        default=DEFAULT_SECRET,
        description="keys the digests of browser session tokens; changing it signs everyone out; "
        "set it in production",
    )
    admin_user: str = Field(default="admin", description="first admin, created when no user exists")
    admin_password: str = Field(default="", description="empty: a random one is printed once")
    host: str = Field(
        default="127.0.0.1", description="address to bind; beyond loopback needs a real secret key"
    )
    port: int = Field(default=8000, ge=1, le=65535, description="port to listen on")
    api_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="API processes `serve` starts on the one port (the kernel spreads "
        "connections over them); duties such as the reconciler run in one of them",
    )
    api_threads: int = Field(
        default=8,
        ge=1,
        le=256,
        description="threads per API process for blocking work (database reads and writes, "
        "files); more than a few per core mostly wait for Python's GIL and starve the event "
        "loop that sends event streams (Starlette's default is 40)",
    )
    access_log: bool = Field(
        default=False,
        description="log one line per HTTP request (uvicorn's access log); off by default: "
        "open pages poll and stream, so it is mostly noise, and writing it costs each request",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses of reverse proxies whose X-Forwarded-Host and X-Forwarded-For "
        "are believed; from anyone else those headers are ignored",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="browser origins allowed to call the API with credentials; empty: CORS off",
    )
    frontend_dist: Path = Field(
        default=Path("frontend/dist"), description="built frontend served at /"
    )

    # jobs
    heartbeat_s: float = Field(default=5.0, gt=0, description="how often a running job beats")
    stale_after_s: float = Field(
        default=60.0, gt=0, description="a running job silent this long is dead"
    )
    requeue_after_s: float = Field(
        default=120.0, gt=0, description="queued this long: publish again"
    )
    reconcile_every_s: float = Field(default=10.0, gt=0, description="reconciler period in the API")
    max_attempts: int = Field(
        default=3, ge=1, le=20, description="runs of a job whose worker died before it fails"
    )
    job_time_limit_s: int = Field(
        default=6 * 3600, ge=1, description="hard limit of one job attempt"
    )
    event_poll_s: float = Field(
        default=1.0,
        gt=0,
        description="longest wait of an event stream between database reads when no worker "
        "notification came (notifications wake it at once; 0.1 s while they are down)",
    )
    max_streams_per_user: int = Field(
        default=16,
        ge=1,
        le=10000,
        description="event streams one user may hold open at once, across every API process "
        "(429 past it)",
    )
    stop_grace_s: float = Field(
        default=3.0,
        ge=0,
        le=60,
        description="on SIGTERM/Ctrl-C, `serve` waits this long for open requests, then as long "
        "again for its embedded worker to finish its job before stopping it cold (the job is "
        "requeued); keep twice this under your supervisor's kill timeout",
    )

    # limits
    max_body_bytes: int = Field(
        default=1_000_000, ge=1024, description="largest request body accepted (413 past it)"
    )
    max_image_body_bytes: int = Field(
        default=32_000_000,
        ge=1024,
        description="largest request body of the routes that carry images (uploads, A1111 "
        "img2img and png-info; 413 past it)",
    )
    max_dataset_upload_bytes: int = Field(
        default=2 * 2**30,
        ge=1024,
        description="largest dataset upload (POST /api/v1/datasets: a zip or a folder's files; "
        "streamed to disk, 413 past it)",
    )
    max_prompt_chars: int = Field(
        default=1000, ge=1, le=100_000, description="longest prompt (or negative prompt) accepted"
    )
    max_queued_per_user: int = Field(
        default=50, ge=1, description="queued jobs one user may have waiting (429 past it)"
    )
    learner_max_steps: int = Field(
        default=2000,
        ge=1,
        description="most optimizer steps a learner's training job (unet, lora) may ask for "
        "(422 naming `steps` past it)",
    )
    learner_max_wall_s: int = Field(
        default=1800,
        ge=1,
        description="a learner's job stops (failed, saying why) after this many seconds of running",
    )
    learner_max_processes: int = Field(
        default=1,
        ge=1,
        description="training processes a learner's job may ask for (422 naming `processes` "
        "past it)",
    )
    user_storage_mb: int = Field(
        default=2048,
        ge=0,
        description="artifacts one (non-admin) user's jobs may keep; past it, new jobs get 507 "
        "until old ones are deleted (0: no quota)",
    )
    min_free_disk_mb: int = Field(
        default=1024,
        ge=0,
        description="free space the data directory must keep: below it no job is accepted (507) "
        "and /health says degraded",
    )
    session_days: int = Field(default=14, ge=1, le=365, description="lifetime of a browser session")
    login_max_failures: int = Field(
        default=10,
        ge=1,
        description="failed sign-ins per client address, and per username from one address, "
        "in login_window_s before that client gets 429",
    )
    login_window_s: float = Field(
        default=900.0, gt=0, description="the sliding window of the sign-in failure limit"
    )
    login_backoff_max_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="longest wait a username failing from many addresses imposes on a new try",
    )
    max_queued_total: int = Field(
        default=1000,
        ge=1,
        description="jobs waiting in all queues together; past it, new jobs get 503 with "
        "Retry-After (backpressure instead of a rate limit)",
    )

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.mode == "production" and self.secret_key in PLACEHOLDER_SECRETS:
            raise ValueError("DIFFLAB_SECRET_KEY must be set to a real secret in production mode")
        return self

    @model_validator(mode="after")
    def _refuse_wildcard_cors(self) -> Settings:
        # credentials (the session cookie) are allowed cross-origin only for listed origins
        if any(o.strip() in {"*", "null"} for o in self.cors_origins):
            raise ValueError(
                "DIFFLAB_CORS_ORIGINS: list the origins (https://app.example.org); "
                "'*' and 'null' are refused because the API allows credentials"
            )
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
        return f"dlsqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"


@lru_cache
def get_settings() -> Settings:
    return Settings()
