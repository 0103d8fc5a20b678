"""Stage 4 (`house`): the three training stages in order, into one model directory.

clip -> tokenizer/, text_encoder/, clip/; vae -> vae/; unet -> unet/, scheduler/ and
model_index.json. The result is a StableDiffusionPipeline directory. Each stage keeps its
own checkpoint in the job's work dir, so a resumed house run skips finished stages' steps.
Stage metrics and artifacts are prefixed with the stage name (`unet/train/loss`).

The data fields (DataParams) are the job's, given to every stage alike; `holdout` among them
keeps the held-out compositions (shapes.HELD_OUT_COMPOSITIONS) out of every stage's data, and
training.json records it, so `eval` can say whether its composition figure is held out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL
from pydantic import Field, model_validator

from difflab.diffusion import train_clip, train_unet, train_vae
from difflab.diffusion.model_card import TRAINING_FILE, hardware, write_card, write_json
from difflab.diffusion.outputs import WHOLE, output_kind
from difflab.diffusion.previews import write_latent_rgb
from difflab.diffusion.train_common import DataParams, OutputParams, check_data
from difflab.runtime import ArtifactData, ArtifactKind, KindSpec, RunContext, Sink

_SHARED = tuple(DataParams.model_fields)  # dataset, data_path, sizes, seed, cpu_threads
STAGES = ("clip", "vae", "unet")

# The recipe of the shipped models/house: the defaults of a house job. Stage fields given to
# a job are merged over it, so {"unet": {"steps": 100}} changes that field alone. Its measured
# cost and results are in the model card (models/house/README.md) and docs/house-model.md.
# The data fields keep DataParams' defaults, holdout "none" among them: the shipped model was
# trained on every composition, and a house job with no parameters reproduces it.
RECIPE: dict[str, dict[str, Any]] = {
    "clip": {
        "steps": 300,
        "batch_size": 96,
        "lr": 1e-3,
        "warmup_steps": 30,
        "text_hidden": 128,
        "text_layers": 2,
        "vision_hidden": 64,
        "vision_layers": 2,
        "heads": 4,
        "patch_size": 8,
        "projection_dim": 64,
        "max_length": 24,
    },
    "vae": {
        "steps": 3000,
        "batch_size": 64,
        "crop_size": 32,
        "crop_focus": 0.8,
        "lr": 2e-3,
        "warmup_steps": 30,
        "foreground_weight": 10.0,
        "decoder_steps": 500,
        "decoder_lr": 5e-4,
        "decoder_batch_size": 16,
    },
    "unet": {
        "steps": 10000,
        "batch_size": 96,
        "lr": 1e-3,
        "warmup_steps": 150,
        "base_channels": 48,
        "layers_per_block": 1,
        "attention_heads": 4,
    },
}


class Params(DataParams, OutputParams):
    """Parameters of the `house` recipe: shared data fields plus each stage's own."""

    train_samples: int = Field(
        30_000, ge=16, le=1_000_000, description="shapes only: size of the training split."
    )
    resume: bool = Field(False, description="Continue every stage from its last checkpoint.")
    clip: train_clip.Params = Field(
        default_factory=lambda: train_clip.Params.model_validate(RECIPE["clip"]),
        description="Text encoder stage (its data fields and output are taken from this recipe's).",
    )
    vae: train_vae.Params = Field(
        default_factory=lambda: train_vae.Params.model_validate(RECIPE["vae"]),
        description="VAE stage.",
    )
    unet: train_unet.Params = Field(
        default_factory=lambda: train_unet.Params.model_validate(RECIPE["unet"]),
        description="U-Net stage.",
    )

    @model_validator(mode="before")
    @classmethod
    def _over_the_recipe(cls, data: Any) -> Any:
        """A stage given as a mapping changes only the fields it names."""
        if isinstance(data, Mapping):
            data = dict(data)
            for stage in STAGES:
                if isinstance(data.get(stage), Mapping):
                    data[stage] = {**RECIPE[stage], **data[stage]}
        return data


class StageSink:
    """Forwards a stage's events: keys and artifact names prefixed, progress rescaled."""

    def __init__(self, sink: Sink, stage: str, index: int, count: int) -> None:
        self.sink, self.stage, self.index, self.count = sink, stage, index, count
        self.probe: list[dict[str, float]] = []  # probe adherence by step, for the model card

    def progress(self, done: int, total: int, message: str = "") -> None:
        scale = 1000
        overall = self.index * scale + (scale * done) // max(total, 1)
        self.sink.progress(overall, self.count * scale, f"{self.stage}: {message} {done}/{total}")

    def metric(self, step: int, values: Mapping[str, float], *, epoch: float | None = None) -> None:
        probe = {k[len("probe/") :]: v for k, v in values.items() if k.startswith("probe/")}
        if probe:
            self.probe.append({"step": step, **probe})
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


def recipe_of(p: Params) -> dict[str, Any]:
    """The job's parameters as the model card shows them: the shared data fields once, each
    stage without the fields the house job sets for it."""
    recipe = p.model_dump(exclude={"resume", "output", "overwrite", *STAGES})
    own = {*_SHARED, "output", "overwrite", "resume", "model"}
    for stage in STAGES:
        recipe[stage] = getattr(p, stage).model_dump(exclude=own)
    return recipe


def stage_params_of(p: Params) -> dict[str, Any]:
    """Each stage's parameters as it runs them: its own fields with the job's data fields
    (dataset, sizes, seed, holdout, ...), output and resume."""
    fixed = {**{k: getattr(p, k) for k in _SHARED}, "output": p.output, "resume": p.resume}
    return {
        "clip": p.clip.model_copy(update=fixed),
        "vae": p.vae.model_copy(update=fixed),
        "unet": p.unet.model_copy(update={**fixed, "model": p.output}),
    }


def train_into(params: Params, sink: Sink, ctx: RunContext, out_dir: Path) -> dict[str, Any]:
    """The three stages in order, each writing its parts into `out_dir`."""
    p = params
    run_with = stage_params_of(p)
    stages: list[tuple[str, Callable[..., dict[str, Any]], Any, dict[str, Any]]] = [
        ("clip", train_clip.train_into, run_with["clip"], {}),
        ("vae", train_vae.train_into, run_with["vae"], {}),
        (
            "unet",
            train_unet.train_into,
            run_with["unet"],
            {"src": out_dir},  # the text encoder and VAE the stages before just wrote
        ),
    ]
    result: dict[str, Any] = {}
    probe: list[dict[str, float]] = []
    t_start = time.perf_counter()
    for i, (name, train, stage_params, extra) in enumerate(stages):
        t0 = time.perf_counter()
        sink.log(f"stage {name} starts")
        stage_sink = StageSink(sink, name, i, len(stages))
        res = train(stage_params, stage_sink, ctx, out_dir, **extra)
        wall = time.perf_counter() - t0
        sink.log(f"stage {name} done in {wall:.0f} s")
        result[name] = {**res, "wall_s": wall}
        probe += stage_sink.probe
    result["wall_s"] = time.perf_counter() - t_start
    training = {
        "recipe": recipe_of(p),
        "resumed": p.resume,
        "stages": {name: result[name] for name in STAGES},
        "wall_s": result["wall_s"],
        "hardware": hardware(torch.device(ctx.device)),
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "probe": probe,
    }
    write_json(out_dir / TRAINING_FILE, training)
    write_latent_rgb(out_dir, AutoencoderKL.from_pretrained(out_dir / "vae"))  # live previews
    write_card(out_dir)
    return result


run, prepare = output_kind("house", WHOLE, train_into, check_data)


SPEC = KindSpec(
    name="house",
    params=Params,
    run=run,
    prepare=prepare,
    writes_model=("output",),
    queue="gpu",
    admin_only=True,
    title="Train the house model",
    description="The clip, vae and unet stages in order into one diffusers pipeline directory "
    "under the models dir.",
    category="training",
    time_limit_s=6 * 3600,
)
