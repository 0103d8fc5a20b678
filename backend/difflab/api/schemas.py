"""Pydantic shapes of the API (Base -> Create -> Public -> ListPublic, as a family per resource)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime as _datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from difflab import event_types as ev


def _utc(dt: _datetime) -> _datetime:
    """Stored times are UTC; SQLite returns them naive, so say so explicitly."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


datetime = Annotated[_datetime, AfterValidator(_utc)]

T = TypeVar("T")


class ListPublic(BaseModel, Generic[T]):
    data: list[T]
    count: int


# A list page counts its matching rows up to this many and no further (api/pages.py)
COUNT_CAP = 10_000


class PagePublic(ListPublic[T], Generic[T]):
    """A page of a newest-first list that goes on by cursor (GET /jobs, GET /generations)."""

    count: int = Field(
        description=f"Rows that match the filters, counted up to {COUNT_CAP}: when count_capped "
        "is true more rows than this match, else it is the exact number."
    )
    count_capped: bool = Field(
        description=f"true: more than {COUNT_CAP} rows match and `count` is a lower bound "
        "(counting stops there, so a page costs the same however long the list grows)."
    )
    next: str | None = Field(
        description="The next page's cursor: send it back as `cursor` (with the same filters "
        'and limit); null on the last page. The Link header (rel="next") holds the whole URL.'
    )


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    role: Literal["admin", "learner"]
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=10, max_length=256)
    role: Literal["admin", "learner"] = "learner"


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class SessionPublic(BaseModel):
    user: UserPublic
    csrf_token: str


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("default", min_length=1, max_length=64)


class ApiKeyCreated(BaseModel):
    id: int
    name: str
    key: str


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(None, min_length=1, max_length=128)


class JobUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shared: bool = Field(
        description="true: every signed-in user with the link may read the run (not change it)"
    )


JobState = ev.JobState


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    category: str
    queue: str
    params: dict[str, Any]
    owner_id: int | None
    owner: str | None = None
    state: JobState
    progress: float
    attempts: int
    max_attempts: int
    error: str | None
    result: dict[str, Any] | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker: str | None
    last_seq: int
    shared: bool = Field(False, description="readable by every signed-in user with the link")
    wall_limit_s: int | None = Field(
        None, description="a learner's cap on one attempt's running time (None: none)"
    )


class JobKindPublic(BaseModel):
    name: str
    title: str
    description: str
    title_zh: str | None = Field(None, description="the title in Simplified Chinese")
    description_zh: str | None = Field(None, description="the description in Simplified Chinese")
    queue: str
    category: str
    admin_only: bool
    params_schema: dict[str, Any]


class _EventBase(BaseModel):
    seq: int
    created_at: datetime


class StateEvent(_EventBase):
    type: Literal["state"]
    payload: ev.StatePayload


class ProgressEvent(_EventBase):
    type: Literal["progress"]
    payload: ev.ProgressPayload


class MetricEvent(_EventBase):
    type: Literal["metric"]
    payload: ev.MetricPayload


class ArtifactEvent(_EventBase):
    type: Literal["artifact"]
    payload: ev.ArtifactPayload


class LogEvent(_EventBase):
    type: Literal["log"]
    payload: ev.LogPayload


class DenoiseEvent(_EventBase):
    type: Literal["denoise"]
    payload: ev.DenoisePayload


class CellEvent(_EventBase):
    type: Literal["cell"]
    payload: ev.CellPayload


# One event of a job, as GET /jobs/{id}/events lists and streams it (event_types.py)
EventPublic = Annotated[
    StateEvent | ProgressEvent | MetricEvent | ArtifactEvent | LogEvent | DenoiseEvent | CellEvent,
    Field(discriminator="type"),
]


class WorkerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    queues: list[str]
    device: str
    devices: int = Field(description="Processes a training job may use here (GPUs or cores).")
    pid: int
    started_at: datetime
    last_seen: datetime
    running_job_id: str | None


class WorkersPublic(BaseModel):
    workers: list[WorkerPublic]
    queues: dict[str, int | None]
    running: list[JobPublic]


class DiskPublic(BaseModel):
    free_mb: int = Field(description="free space where the data directory lives")
    min_free_mb: int = Field(description="the floor below which no job is accepted")
    low: bool


class HealthPublic(BaseModel):
    """ok: database, broker, at least one live worker and disk above the floor; degraded: the
    service answers but jobs would wait or be refused; down: no database or broker."""

    status: Literal["ok", "degraded", "down"]
    database: bool
    broker: bool
    workers: int = Field(description="workers that beat within STALE_AFTER_S")
    queued: dict[str, int] = Field(
        default_factory=dict, description="jobs waiting per queue (from the database)"
    )
    running: int = 0
    disk: DiskPublic
    models: list[str]
