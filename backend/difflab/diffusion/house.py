"""Stage 4 (`house`): the three training stages in order, into one model directory.

clip -> tokenizer/, text_encoder/, clip/; vae -> vae/; unet -> unet/, scheduler/ and
model_index.json. The result is a StableDiffusionPipeline directory. Each stage keeps its
own checkpoint in the job's work dir, so a resumed house run skips finished stages' steps.
Stage metrics and artifacts are prefixed with the stage name (`unet/train/loss`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from difflab.diffusion import train_clip, train_unet, train_vae
from difflab.diffusion.train_common import DataParams, model_dir
from difflab.runtime import ArtifactData, ArtifactKind, KindSpec, RunContext, Sink

_SHARED = tuple(DataParams.model_fields)  # dataset, data_path, sizes, seed, cpu_threads


class Params(DataParams):
    """Parameters of the `house` recipe: shared data fields plus each stage's own."""

    output: str = Field("house", description="Model directory name under the models dir.")
    resume: bool = Field(False, description="Continue every stage from its last checkpoint.")
    clip: train_clip.Params = Field(
        default_factory=lambda: train_clip.Params.model_validate({}),
        description="Text encoder stage (its data fields and output are taken from this recipe's).",
    )
    vae: train_vae.Params = Field(
        default_factory=lambda: train_vae.Params.model_validate({}), description="VAE stage."
    )
    unet: train_unet.Params = Field(
        default_factory=lambda: train_unet.Params.model_validate({}), description="U-Net stage."
    )


class StageSink:
    """Forwards a stage's events: keys and artifact names prefixed, progress rescaled."""

    def __init__(self, sink: Sink, stage: str, index: int, count: int) -> None:
        self.sink, self.stage, self.index, self.count = sink, stage, index, count

    def progress(self, done: int, total: int, message: str = "") -> None:
        scale = 1000
        overall = self.index * scale + (scale * done) // max(total, 1)
        self.sink.progress(overall, self.count * scale, f"{self.stage}: {message} {done}/{total}")

    def metric(self, step: int, values: Mapping[str, float], *, epoch: float | None = None) -> None:
        self.sink.metric(step, {f"{self.stage}/{k}": v for k, v in values.items()}, epoch=epoch)

    def artifact(
        self,
        name: str,
        data: ArtifactData,
        *,
        kind: ArtifactKind = "image",
        step: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        return self.sink.artifact(f"{self.stage}/{name}", data, kind=kind, step=step, meta=meta)

    def event(self, type: str, payload: Mapping[str, Any]) -> None:
        self.sink.event(type, payload)

    def log(self, message: str) -> None:
        self.sink.log(f"[{self.stage}] {message}")

    def check(self) -> None:
        self.sink.check()


def run(params: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    p = params
    out_dir = model_dir(ctx, p.output)
    shared = {k: getattr(p, k) for k in _SHARED}
    stages: list[tuple[str, Any, Any]] = [
        (
            "clip",
            train_clip,
            p.clip.model_copy(update={**shared, "output": p.output, "resume": p.resume}),
        ),
        (
            "vae",
            train_vae,
            p.vae.model_copy(update={**shared, "output": p.output, "resume": p.resume}),
        ),
        (
            "unet",
            train_unet,
            p.unet.model_copy(
                update={**shared, "model": p.output, "output": p.output, "resume": p.resume}
            ),
        ),
    ]
    result: dict[str, Any] = {"model_dir": str(out_dir)}
    for i, (name, module, stage_params) in enumerate(stages):
        t0 = time.perf_counter()
        sink.log(f"stage {name} starts")
        res = module.run(stage_params, StageSink(sink, name, i, len(stages)), ctx)
        wall = time.perf_counter() - t0
        sink.log(f"stage {name} done in {wall:.0f} s")
        result[name] = {**{k: v for k, v in res.items() if k != "model_dir"}, "wall_s": wall}
    result["wall_s"] = sum(r["wall_s"] for r in result.values() if isinstance(r, dict))
    return result


SPEC = KindSpec(
    name="house",
    params=Params,
    run=run,
    queue="gpu",
    admin_only=True,
    title="Train the house model",
    description="The clip, vae and unet stages in order into one diffusers pipeline directory "
    "under the models dir.",
    category="training",
    time_limit_s=6 * 3600,
)
