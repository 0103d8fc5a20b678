"""The `lora` kind: low-rank adapters (peft) trained on a model's U-Net attention projections
(and optionally its text encoder), on any dataset, written as a LoRA file diffusers'
`load_lora_weights` reads.

LoRA (Hu et al. 2021) keeps every weight W of the model frozen and learns a low-rank update:
    W' = W + (alpha / r) * B A,    A: (r, in),  B: (out, r),  r << min(in, out)
B starts at zero, so step 0 is the base model exactly. The loss is the base model's own (the
noise-prediction loss of the `unet` stage, Min-SNR weighted, or v-prediction for a model
trained so), in the latent space of the frozen VAE: z_t = sqrt(abar_t) z0 + sqrt(1-abar_t) eps,
L = w(t) |target - model(z_t, t, c)|^2. Latents and (when the text encoder is frozen) the
captions' text states are computed once.

The file goes to `<models dir>/loras/<output>.safetensors` with its card `<output>.json` (base
model, dataset, steps, rank, alpha, final loss) and `<output>.png` (the validation prompts,
one row per validation step from step 0: what the LoRA changes, step by step). `output` left
empty gets a new name; an existing LoRA is replaced only with `overwrite: true`, and only when
this job succeeds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from diffusers.training_utils import compute_snr
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from pydantic import Field
from transformers import CLIPTextModel, CLIPTokenizer

from difflab.diffusion import distributed, loras
from difflab.diffusion.checkpoint import load_checkpoint, save_checkpoint
from difflab.diffusion.eval_generate import generate, make_pipeline
from difflab.diffusion.models import default_guidance
from difflab.diffusion.outputs import resolve_output
from difflab.diffusion.train_clip import tokenize
from difflab.diffusion.train_common import (
    DataParams,
    OutputParams,
    TrainLog,
    autocast,
    check_data,
    check_split,
    image_grid,
    lr_at,
    model_dir,
    open_dataset,
    set_lr,
    setup_ranks,
    step_generator,
)
from difflab.diffusion.train_unet import encode_dataset
from difflab.runtime import KindSpec, ParamError, RunContext, Sink, SubmitContext
from difflab.train_loop import run_loop, together

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
MODEL_PARTS = ("tokenizer", "text_encoder", "vae", "unet", "scheduler")


class Params(DataParams, OutputParams):
    """Parameters of the `lora` kind."""

    model: str = Field("house", description="Base model (a directory in the models directory).")
    rank: int = Field(4, ge=1, le=128, description="r: the rank of each low-rank update B A.")
    alpha: int = Field(
        0, ge=0, le=1024, description="The update is scaled by alpha / r; 0 means alpha = r."
    )
    steps: int = Field(300, ge=1, le=20_000, description="Optimizer steps.")
    batch_size: int = Field(16, ge=1, le=512, description="Images per step.")
    lr: float = Field(5e-4, gt=0, le=1.0, description="Peak learning rate (AdamW).")
    warmup_steps: int = Field(20, ge=0, le=10_000, description="Linear LR warm-up steps.")
    train_text_encoder: bool = Field(
        False, description="Also adapt the text encoder's attention (q, k, v, out)."
    )
    min_snr_gamma: float = Field(5.0, ge=0, le=100, description="Min-SNR weighting; 0 is off.")
    caption_dropout: float = Field(0.0, ge=0, le=0.5, description="P(caption replaced by '').")
    validation_prompts: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Prompts rendered every sample_every steps from step 0; empty: four "
        "captions of the dataset's validation split.",
    )
    sample_every: int = Field(100, ge=1, le=1_000_000, description="Validation images every N.")
    save_every: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="Also keep the LoRA every N steps as <output>-step<N> (an X/Y/Z plot's "
        "LoRA axis over them compares the checkpoints); 0: only the final one.",
    )
    validation_steps: int = Field(20, ge=1, le=100, description="Sampling steps of each image.")
    checkpoint_every: int = Field(100, ge=1, le=1_000_000, description="Checkpoint every N.")
    log_every: int = Field(10, ge=1, le=100_000, description="Emit train metrics every N.")
    resume: bool = Field(False, description="Continue from this job's last checkpoint.")
    processes: int = Field(
        1,
        ge=1,
        le=64,
        description="Data-parallel processes (torchrun + Accelerate over DDP): one per GPU, or "
        "CPU processes; batch_size is the global batch, split among them.",
    )
    train_samples: int = Field(
        2000, ge=16, le=1_000_000, description="shapes only: size of the training split."
    )
    val_samples: int = Field(64, ge=8, le=10_000, description="Size of the validation split.")


def lora_path(models_dir: Path, name: str) -> Path:
    return loras.loras_dir(models_dir) / f"{name}.safetensors"


def resolve_lora_output(p: Params, ctx: SubmitContext) -> str:
    """A new name for "" (lora-<date>-<n>); a given name only if free or overwrite is set."""

    def taken(name: str) -> str | None:
        if lora_path(ctx.models_dir, name).exists():
            return f"LoRA {name!r} exists"
        steps = sorted(loras.loras_dir(ctx.models_dir).glob(f"{name}-step*.safetensors"))
        if p.save_every and steps:
            return f"LoRA checkpoints {steps[0].stem}... exist"
        return None

    return resolve_output(p.output, p.overwrite, "lora", (), ctx, taken)


def prepare(p: Params, ctx: SubmitContext) -> Params:
    check_split(p.batch_size, p.processes)
    check_data(p, ctx)
    try:
        src = model_dir(ctx, p.model)
    except ValueError as exc:
        raise ParamError("model", str(exc)) from None
    missing = [part for part in MODEL_PARTS if not (src / part).is_dir()]
    if not src.is_dir() or missing:
        why = "is not in the models directory" if not src.is_dir() else f"has no {missing}"
        raise ParamError("model", f"model {p.model!r} {why}: a LoRA needs a whole pipeline")
    return p.model_copy(update={"output": resolve_lora_output(p, ctx)})


class LoraTrainer:
    """The frozen model, its adapters, the cached data and one training step."""

    def __init__(self, p: Params, ctx: RunContext, sink: Sink, acc: Any = None) -> None:
        self.p, self.ctx, self.sink, self.acc = p, ctx, sink, acc
        self.device, self.rank, self.world = setup_ranks(ctx, p.cpu_threads, acc)
        torch.manual_seed(p.seed)
        self.src = src = model_dir(ctx, p.model)
        self.tokenizer = CLIPTokenizer.from_pretrained(src / "tokenizer")
        self.text_encoder = CLIPTextModel.from_pretrained(src / "text_encoder").to(self.device)
        self.vae = AutoencoderKL.from_pretrained(src / "vae").to(self.device)
        self.unet = UNet2DConditionModel.from_pretrained(src / "unet").to(self.device)
        for m in (self.text_encoder, self.vae, self.unet):
            m.requires_grad_(False).eval()
        sched = json.loads((src / "scheduler" / "scheduler_config.json").read_text())
        self.sched_config = sched
        self.noise_scheduler = DDPMScheduler.from_config(sched)
        self.prediction = self.noise_scheduler.config.prediction_type
        self.scaling = float(self.vae.config.scaling_factor)
        alpha = p.alpha or p.rank
        self.unet_config = LoraConfig(
            r=p.rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=UNET_TARGETS
        )
        self.unet.add_adapter(self.unet_config)
        self.text_config = None
        if p.train_text_encoder:
            self.text_config = LoraConfig(
                r=p.rank, lora_alpha=alpha, init_lora_weights="gaussian",
                target_modules=TEXT_TARGETS,
            )  # fmt: skip
            self.text_encoder.add_adapter(self.text_config)
        self.params = [q for q in self.unet.parameters() if q.requires_grad]
        if p.train_text_encoder:
            self.params += [q for q in self.text_encoder.parameters() if q.requires_grad]
        for q in self.params:  # the adapters train in float32 whatever the model's dtype
            q.data = q.data.float()
        self.opt = torch.optim.AdamW(self.params, lr=p.lr, weight_decay=1e-2)
        # what the forward pass calls: the models themselves, or their DDP wrappers
        self.unet_fwd, self.text_fwd = self.unet, self.text_encoder
        if acc is not None:
            self.unet_fwd, self.opt = acc.prepare(self.unet, self.opt)
            if p.train_text_encoder:
                self.text_fwd = acc.prepare(self.text_encoder)
        self.ckpt_path = ctx.work_dir / "lora.ckpt.safetensors"
        self.step = 0
        self.trainable = sum(q.numel() for q in self.params)
        self.unet.train()

    def load_data(self) -> None:
        train = open_dataset(self.p, "train", self.ctx.data_dir)
        self.mean, self.std, captions = encode_dataset(self.vae, train, self.device, self.sink)
        distinct = sorted(set(captions) | {""})
        row = {c: i for i, c in enumerate(distinct)}
        self.captions = distinct
        self.caption_row = torch.tensor([row[c] for c in captions])
        self.empty_row = row[""]
        self.ids = tokenize(self.tokenizer, distinct)  # (U, L)
        self.cond = None if self.p.train_text_encoder else self.encode_ids(self.ids)
        self.sink.log(
            f"{len(captions)} images, {len(distinct) - 1} distinct captions; "
            f"{self.trainable:,} trainable LoRA weights (rank {self.p.rank})"
        )

    def encode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = [
                self.text_encoder(ids[s : s + 256].to(self.device))[0].float().cpu()
                for s in range(0, len(ids), 256)
            ]
        return torch.cat(out)

    def loss(self, step: int) -> torch.Tensor:
        p, g, dev = self.p, step_generator(self.p.seed, step), self.device
        idx = torch.randint(len(self.caption_row), (p.batch_size,), generator=g)
        e = torch.randn((p.batch_size, *self.mean.shape[1:]), generator=g)
        z0 = self.scaling * (self.mean[idx] + self.std[idx] * e)
        noise = torch.randn(z0.shape, generator=g)
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (p.batch_size,),
                          generator=g)  # fmt: skip
        rows = self.caption_row[idx].clone()
        rows[torch.rand(p.batch_size, generator=g) < p.caption_dropout] = self.empty_row
        # every rank draws the global batch and trains on its own slice of it
        per = p.batch_size // self.world
        mine = slice(self.rank * per, (self.rank + 1) * per)
        z0, noise, t, rows = z0[mine].to(dev), noise[mine].to(dev), t[mine].to(dev), rows[mine]
        z_t = self.noise_scheduler.add_noise(z0, noise, t)
        with autocast(dev):
            if self.cond is None:  # the text encoder trains: its states are computed each step
                cond = self.text_fwd(self.ids[rows].to(dev))[0]
            else:
                cond = self.cond[rows].to(dev)
            pred = self.unet_fwd(z_t, t, cond).sample
        if self.prediction == "v_prediction":
            target = self.noise_scheduler.get_velocity(z0, noise, t)
        else:
            target = noise
        per_sample = (pred.float() - target).pow(2).mean(dim=(1, 2, 3))
        if p.min_snr_gamma > 0:
            snr = compute_snr(self.noise_scheduler, t)
            weight = snr.clamp(max=p.min_snr_gamma) / snr
            if self.prediction == "v_prediction":
                weight = snr.clamp(max=p.min_snr_gamma) / (snr + 1)
            per_sample = per_sample * weight
        return per_sample.mean()

    def train_step(self) -> tuple[float, float, float]:
        p = self.p
        lr = lr_at(self.step, p.lr, p.warmup_steps, p.steps)
        set_lr(self.opt, lr)
        loss = self.loss(self.step)
        self.opt.zero_grad(set_to_none=True)
        if self.acc is None:
            loss.backward()
            gnorm = float(torch.nn.utils.clip_grad_norm_(self.params, 1.0))
            value = float(loss.detach())
        else:  # DDP averages the gradients of the ranks' slices: the global batch's gradient
            self.acc.backward(loss)
            gnorm = float(self.acc.clip_grad_norm_(self.params, 1.0))
            value = float(self.acc.reduce(loss.detach(), reduction="mean"))
        self.opt.step()
        self.step += 1
        return value, lr, gnorm

    def lora_state(self) -> dict[str, torch.Tensor]:
        state = {f"unet.{k}": v for k, v in get_peft_model_state_dict(self.unet).items()}
        if self.p.train_text_encoder:
            te = get_peft_model_state_dict(self.text_encoder)
            state |= {f"text_encoder.{k}": v for k, v in te.items()}
        return state

    def checkpoint(self) -> None:
        save_checkpoint(self.ckpt_path, {
            "lora": self.lora_state(), "optimizer": self.opt.state_dict(), "step": self.step,
            "rng": torch.get_rng_state(), "params": self.p.model_dump(),
        })  # fmt: skip

    def resume(self) -> bool:
        if not self.ckpt_path.exists():
            return False
        state = load_checkpoint(self.ckpt_path)
        lora = state["lora"]
        set_peft_model_state_dict(
            self.unet, {k[5:]: v for k, v in lora.items() if k.startswith("unet.")}
        )
        if self.p.train_text_encoder:
            te = {k[13:]: v for k, v in lora.items() if k.startswith("text_encoder.")}
            set_peft_model_state_dict(self.text_encoder, te)
        self.opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.sink.log(f"resumed lora at step {self.step}")
        return True

    def prompts(self) -> list[str]:
        if self.p.validation_prompts:
            return list(self.p.validation_prompts)
        val = open_dataset(self.p, "val", self.ctx.data_dir)
        texts = list(dict.fromkeys(val[i].caption for i in range(min(len(val), 32))))
        return texts[:4]

    @torch.no_grad()
    def validate(self, prompts: list[str]) -> Any:
        self.unet.eval()
        self.text_encoder.eval()
        pipe = make_pipeline(
            self.vae, self.text_encoder, self.tokenizer, self.unet, self.sched_config
        )
        images = generate(
            pipe, prompts, list(range(len(prompts))), self.p.validation_steps,
            default_guidance(self.src), resolution=self.p.resolution,
        )  # fmt: skip
        self.unet.train()  # back to training (set once here, not every step: it walks
        # every module)
        grid = image_grid(images, cols=len(images))
        self.sink.artifact(
            f"validation/step_{self.step:06d}.png", grid, step=self.step,
            meta={"view": "image", "prompts": prompts, "seeds": list(range(len(prompts))),
                  "caption": f"validation prompts at step {self.step}"},
        )  # fmt: skip
        return grid

    def save(self, out: Path, name: str, rows: list[Any], summary: dict[str, Any]) -> None:
        """The LoRA file, its card and its validation grid, into `out` (a staging dir)."""
        self.save_weights(out, name)
        if rows:
            w, h = rows[0].size
            sheet = image_grid(rows, cols=1) if w * h * len(rows) < 4096 * 4096 else rows[-1]
            sheet.save(out / f"{name}.png")
        self.save_card(out, name, summary)

    def save_card(self, out: Path, name: str, summary: dict[str, Any]) -> None:
        card = {
            "name": name, "base_model": self.src.name, "dataset": self.p.dataset,
            "steps": self.step, "rank": self.p.rank, "alpha": self.p.alpha or self.p.rank,
            "lr": self.p.lr, "batch_size": self.p.batch_size, "resolution": self.p.resolution,
            "train_text_encoder": self.p.train_text_encoder,
            "validation_prompts": self.prompts(), "job_id": self.ctx.job_id,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"), **summary,
        }  # fmt: skip
        (out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")

    def save_weights(self, out: Path, name: str) -> None:
        """The adapters as <name>.safetensors in diffusers' LoRA format."""
        out.mkdir(parents=True, exist_ok=True)
        unet_layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(self.unet))
        te_layers = None
        if self.p.train_text_encoder:
            te_layers = convert_state_dict_to_diffusers(
                get_peft_model_state_dict(self.text_encoder)
            )
        StableDiffusionPipeline.save_lora_weights(
            save_directory=str(out), unet_lora_layers=unet_layers,
            text_encoder_lora_layers=te_layers, weight_name=f"{name}.safetensors",
            safe_serialization=True,
            unet_lora_adapter_metadata=self.unet_config.to_dict(),
            text_encoder_lora_adapter_metadata=(
                self.text_config.to_dict() if self.text_config is not None else None
            ),
        )  # fmt: skip


def publish(stage: Path, models_dir: Path, name: str) -> None:
    """Move the checkpoints, then the card and grid, then the LoRA file itself (what makes it
    exist), into loras/."""
    dest = loras.loras_dir(models_dir)
    dest.mkdir(parents=True, exist_ok=True)
    for ckpt in sorted(stage.glob(f"{name}-step*")):
        os.replace(ckpt, dest / ckpt.name)
    for suffix in (".json", ".png", ".safetensors"):
        src = stage / f"{name}{suffix}"
        if src.exists():
            os.replace(src, dest / f"{name}{suffix}")
        elif suffix != ".safetensors":
            (dest / f"{name}{suffix}").unlink(missing_ok=True)  # not left from a replaced one


def run(params: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    p = params
    if not p.output:  # a caller that skipped prepare: a new name here too
        p = prepare(p, SubmitContext(ctx.models_dir, ctx.data_dir))
    if p.processes > 1:
        return distributed.launch("difflab.diffusion.train_lora", p, sink, ctx, p.processes)
    return train(p, sink, ctx)


def train_rank(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    """One of several processes (distributed.main): Accelerate joins the process group."""
    return train(p, sink, ctx, distributed.accelerator(ctx))


def train(p: Params, sink: Sink, ctx: RunContext, acc: Any = None) -> dict[str, Any]:
    """The training loop; with `acc`, one rank of several (rank 0 validates and writes)."""
    name = p.output
    main = acc is None or acc.is_main_process
    tr = LoraTrainer(p, ctx, sink, acc)
    if p.resume:
        tr.resume()
    tr.load_data()
    prompts = tr.prompts() if main else []
    rows = [tr.validate(prompts)] if main and not tr.step else []
    together(acc)
    log = TrainLog(sink, p.log_every, p.steps)
    last = float("nan")
    t0 = time.perf_counter()

    def step(done: int) -> None:
        nonlocal last
        loss, lr, gnorm = tr.train_step()
        last = loss
        log.update(done, loss, lr, gnorm, p.batch_size)

    def keep(done: int) -> None:
        """A copy of the LoRA every save_every steps, published with the final one on success."""
        if main and p.save_every and done % p.save_every == 0 and done < p.steps:
            kept = f"{name}-step{done:06d}"
            tr.save_weights(ctx.work_dir / "lora-steps", kept)
            tr.save_card(ctx.work_dir / "lora-steps", kept, {"checkpoint_of": name})

    run_loop(
        sink,
        p.steps,
        step,
        start=tr.step,
        label="lora",
        evaluate=lambda done: rows.append(tr.validate(prompts)),
        evaluate_every=p.sample_every,
        after_evaluate=log.restart_clock,  # sampling time is not training throughput
        checkpoint=lambda done: tr.checkpoint(),
        checkpoint_every=p.checkpoint_every,
        end=keep,
        acc=acc,
    )
    summary = {"final_loss": last, "train_seconds": round(time.perf_counter() - t0, 2),
               "samples_seen": tr.step * p.batch_size, "processes": tr.world}  # fmt: skip
    if main:
        write_lora(tr, ctx, name, rows, summary)
        sink.log(f"LoRA written: models/loras/{name}.safetensors")
    together(acc)
    return {"lora": name, "base_model": tr.src.name, "steps": tr.step, **summary}


def write_lora(
    tr: LoraTrainer, ctx: RunContext, name: str, rows: list[Any], summary: dict[str, Any]
) -> None:
    stage = ctx.models_dir / ".staging" / ctx.job_id / "lora"
    shutil.rmtree(stage.parent, ignore_errors=True)
    try:
        tr.save(stage, name, rows, summary)
        kept = ctx.work_dir / "lora-steps"
        if kept.is_dir():
            for f in sorted(kept.glob(f"{name}-step*")):
                shutil.copy2(f, stage / f.name)
        if lora_path(ctx.models_dir, name).exists() and not tr.p.overwrite:
            raise ParamError("output", f"LoRA {name!r} appeared while this job ran; kept it")
        publish(stage, ctx.models_dir, name)
    finally:
        shutil.rmtree(stage.parent, ignore_errors=True)
        with contextlib.suppress(OSError):
            (ctx.models_dir / ".staging").rmdir()


SPEC = KindSpec(
    name="lora",
    params=Params,
    run=run,
    prepare=prepare,
    writes_model=("output",),
    queue="gpu",
    admin_only=False,
    title="Train a LoRA",
    description="Low-rank adapters (peft) on a model's attention projections, trained on a "
    "dataset you uploaded (or shapes); writes models/loras/<name>.safetensors for "
    "<lora:name:weight> in a prompt.",
    category="training",
    time_limit_s=4 * 3600,
)
