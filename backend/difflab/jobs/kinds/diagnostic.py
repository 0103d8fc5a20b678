"""`sleep`: a diagnostic kind that exercises progress, metrics, artifacts and cancel."""

from __future__ import annotations

import math
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from difflab.runtime import KindSpec, RunContext, Sink


class SleepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(10, ge=1, le=10_000, description="number of steps to run")
    step_seconds: float = Field(0.1, ge=0.0, le=60.0, description="time spent in each step")
    fail_at: int | None = Field(None, ge=1, description="raise an error at this step (testing)")


def run_sleep(params: SleepParams, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    for step in range(1, params.steps + 1):
        sink.check()
        time.sleep(params.step_seconds)
        if params.fail_at is not None and step == params.fail_at:
            # the path shows that a user sees errors without the server's paths
            raise RuntimeError(f"failed on purpose at step {step} in {ctx.work_dir / 'step'}")
        sink.metric(step, {"train/loss": math.exp(-step / max(params.steps, 1))})
        sink.progress(step, params.steps)
    sink.artifact("summary.json", {"steps": params.steps}, kind="json", meta={"view": "json"})
    return {"steps": params.steps, "device": ctx.device}


SPEC = KindSpec(
    name="sleep",
    params=SleepParams,
    run=run_sleep,
    queue="cpu",
    admin_only=False,
    title="Sleep (diagnostic)",
    description="Counts steps with a pause in each: shows progress, events and cancel at work.",
    category="diagnostic",
)
