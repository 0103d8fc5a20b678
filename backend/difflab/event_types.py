"""The events a job records, one pydantic model per type.

Every event row goes through `check_payload` (the worker's DbSink, the lifecycle's state
changes, the CLI's and the tests' MemorySink), so an event that does not match its model is a
bug that fails where it is emitted. The API publishes the same models in OpenAPI
(`JobEventPublic`, a union discriminated by `type`) and the frontend's types are generated
from that document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ArtifactKindName = Literal["image", "json", "text", "checkpoint", "binary"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StatePayload(_Payload):
    """The job moved to `state`."""

    state: JobState
    attempt: int | None = Field(None, description="running: which attempt started")
    worker: str | None = Field(None, description="running: the worker that claimed it")
    reason: str | None = Field(None, description="queued again: why (worker lost, server stop)")
    error: str | None = Field(None, description="failed: why")


class ProgressPayload(_Payload):
    """Work done so far out of total (steps, epochs, images); a gauge, throttled."""

    done: int
    total: int
    message: str = ""


class MetricPayload(_Payload):
    """Metric points at one step; keys are namespaced (train/loss, val/loss, lr)."""

    step: int
    values: dict[str, float]
    epoch: float | None = None


class ArtifactPayload(_Payload):
    """A file the job wrote (image, JSON, text, checkpoint)."""

    name: str = Field(description="relative path under the job's artifacts")
    kind: ArtifactKindName
    step: int | None = None
    mime: str
    size: int
    meta: dict[str, Any] = Field(default_factory=dict, description="view, caption, series...")
    url: str | None = Field(None, description="set by the API: where to download it")


class LogPayload(_Payload):
    """A line of the job's log."""

    message: str


class DenoisePayload(_Payload):
    """One denoising step of a generation, with the artifacts of its previews."""

    step: int
    total: int
    timestep: float = Field(description="the scheduler's timestep (or sigma) of this step")
    xt: str | None = Field(None, description="x_t preview (artifact name; a URL in the API)")
    x0: str | None = Field(None, description="predicted x_0 preview")
    eps: str | None = Field(None, description="predicted noise preview")
    prompt: str | None = Field(
        None,
        description="prompt editing or alternation: the prompt text in effect from this step "
        "on (sent when it changed)",
    )
    phase: str | None = Field(
        None, description="hires: the second pass of hires fix (its steps follow the first's)"
    )
    skipped: int | None = Field(
        None,
        description="img2img: steps of the full schedule not run (the noised init image "
        "stands in for them); step and total count the steps that run",
    )


class CellPayload(_Payload):
    """A cell of an X/Y/Z plot was submitted: its generate job (follow its own events)."""

    index: int = Field(description="the cell's place in plot order (z, then y, x fastest)")
    job_id: str
    x: int
    y: int
    z: int


PAYLOADS: dict[str, type[_Payload]] = {
    "state": StatePayload,
    "progress": ProgressPayload,
    "metric": MetricPayload,
    "artifact": ArtifactPayload,
    "log": LogPayload,
    "denoise": DenoisePayload,
    "cell": CellPayload,
}
EventType = Literal["state", "progress", "metric", "artifact", "log", "denoise", "cell"]


class UnknownEventType(ValueError):
    pass


def check_payload(type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as stored: validated against its type's model (ValidationError if not)."""
    model = PAYLOADS.get(type)
    if model is None:
        raise UnknownEventType(f"unknown event type {type!r}; known: {', '.join(PAYLOADS)}")
    return model.model_validate(dict(payload)).model_dump(mode="json", exclude_none=True)
