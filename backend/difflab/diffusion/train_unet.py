"""Stage 3 (`unet`): a latent U-Net conditioned on the frozen text encoder, DDPM loss.

Training (Algorithm 1 of DDPM, in the VAE's latent space):
    z0 = scaling_factor * (mu + sigma * e),  e ~ N(0, I)       (a sample of q(z|x))
    t ~ U{0..T-1},  eps ~ N(0, I),  z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps
    L = w(t) * |eps - eps_theta(z_t, t, c)|^2,  c = text_encoder(caption).last_hidden_state
with w(t) = min(SNR(t), gamma) / SNR(t) (Min-SNR-gamma weighting, Hang et al. 2023; gamma=0
gives the plain DDPM loss) and the caption replaced by "" with probability
`caption_dropout`, which teaches the unconditional model classifier-free guidance needs.
The posterior moments of the training images are computed once (the VAE is frozen), and
the weights sampled from are an exponential moving average of the trained ones.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DDPMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from diffusers.training_utils import EMAModel, compute_snr
from pydantic import Field
from transformers import CLIPTextModel, CLIPTokenizer

from difflab.diffusion import distributed
from difflab.diffusion.checkpoint import load_checkpoint, save_checkpoint
from difflab.diffusion.eval_adherence import load_or_train_classifier, prompt_set, score
from difflab.diffusion.eval_generate import generate, make_pipeline
from difflab.diffusion.outputs import WHOLE, output_kind
from difflab.diffusion.train_clip import tokenize
from difflab.diffusion.train_common import (
    DataParams,
    OutputParams,
    TrainLog,
    autocast,
    batch,
    check_data,
    check_split,
    chunks,
    image_grid,
    lr_at,
    model_dir,
    open_dataset,
    set_lr,
    setup_ranks,
    step_generator,
)
from difflab.runtime import KindSpec, ParamError, RunContext, Sink, SubmitContext
from difflab.train_loop import run_loop, together


class Params(DataParams, OutputParams):
    """Parameters of the `unet` stage."""

    model: str = Field("house", description="Model dir holding tokenizer/, text_encoder/, vae/.")
    steps: int = Field(6000, ge=1, le=10_000_000, description="Optimizer steps.")
    batch_size: int = Field(128, ge=1, le=4096, description="Latents per step.")
    lr: float = Field(1e-3, gt=0, le=1.0, description="Peak learning rate (AdamW).")
    warmup_steps: int = Field(200, ge=0, le=100_000, description="Linear LR warm-up steps.")
    weight_decay: float = Field(0.0, ge=0, le=1.0, description="AdamW weight decay.")
    base_channels: int = Field(
        64, ge=16, le=512, multiple_of=16, description="Width of the first level (1x, 2x, 2x)."
    )
    layers_per_block: int = Field(1, ge=1, le=4, description="ResNet blocks per level.")
    attention_heads: int = Field(4, ge=1, le=32, description="Heads of every attention layer.")
    caption_dropout: float = Field(0.1, ge=0, le=0.5, description="P(caption replaced by '').")
    min_snr_gamma: float = Field(5.0, ge=0, le=100, description="Min-SNR weighting; 0 is off.")
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = Field(
        "linear", description="Noise schedule of the forward process."
    )
    beta_start: float = Field(1e-4, gt=0, le=0.1, description="beta_1 (linear schedules).")
    beta_end: float = Field(0.02, gt=0, le=0.5, description="beta_T (linear schedules).")
    train_timesteps: int = Field(1000, ge=10, le=10_000, description="T of the forward process.")
    ema_decay: float = Field(0.9999, ge=0, le=1, description="EMA decay (warm-up power 3/4).")
    sample_every: int = Field(500, ge=1, le=1_000_000, description="Probe samples every N.")
    probe_guidance: float = Field(4.0, ge=0, le=30, description="CFG scale of probe samples.")
    probe_steps: int = Field(25, ge=1, le=200, description="DDIM steps of probe samples.")
    probe_size: int = Field(
        64, ge=4, le=1024, description="shapes: probe prompts scored for adherence."
    )
    probe_adherence: bool = Field(
        True, description="shapes: score probe samples with the attribute classifier."
    )
    checkpoint_every: int = Field(500, ge=1, le=1_000_000, description="Checkpoint every N.")
    log_every: int = Field(20, ge=1, le=100_000, description="Emit train metrics every N.")
    resume: bool = Field(False, description="Continue from this stage's last checkpoint.")
    processes: int = Field(
        1,
        ge=1,
        le=64,
        description="Data-parallel processes (torchrun + Accelerate over DDP): one per GPU, or "
        "CPU processes; batch_size is the global batch, split among them.",
    )


def build_unet(p: Params, cross_attention_dim: int, sample_size: int) -> UNet2DConditionModel:
    c = p.base_channels
    return UNet2DConditionModel(
        sample_size=sample_size,  # latent side: resolution / 8
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(c, 2 * c, 2 * c),
        layers_per_block=p.layers_per_block,
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=p.attention_heads,  # diffusers' legacy name: the number of heads
        norm_num_groups=16,
    )


def scheduler_config(p: Params) -> dict[str, Any]:
    """The DDIM config saved with the model; training adds noise with the same betas."""
    return dict(
        DDIMScheduler(
            num_train_timesteps=p.train_timesteps,
            beta_schedule=p.beta_schedule,
            beta_start=p.beta_start,
            beta_end=p.beta_end,
            prediction_type="epsilon",
            clip_sample=False,
            set_alpha_to_one=False,
            steps_offset=1,
        ).config
    )


@torch.no_grad()
def encode_dataset(
    vae: AutoencoderKL, ds: Any, device: torch.device, sink: Sink
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Posterior mean and std of every training image, (N, 4, h, w) each, and captions."""
    means, stds, captions = [], [], []
    total = len(ds)
    for ix in chunks(total, 256):
        sink.check()
        x, caps = batch(ds, ix)
        with autocast(device):
            post = vae.encode(x.to(device)).latent_dist
        means.append(post.mean.float().cpu())
        stds.append(post.std.float().cpu())
        captions += caps
    sink.log(f"encoded {total} images to latents")
    return torch.cat(means), torch.cat(stds), captions


class Trainer:
    """The unet stage's state and one training step; `run` drives it."""

    stage = "unet"

    def __init__(
        self,
        p: Params,
        ctx: RunContext,
        sink: Sink,
        out_dir: Path,
        src: Path | None = None,
        acc: Any = None,
    ) -> None:
        self.p, self.ctx, self.sink, self.acc = p, ctx, sink, acc
        self.device, self.rank, self.world = setup_ranks(ctx, p.cpu_threads, acc)
        torch.manual_seed(p.seed)
        src = self.src = src or model_dir(ctx, p.model)
        self.out_dir = out_dir
        self.tokenizer = CLIPTokenizer.from_pretrained(src / "tokenizer")
        self.text_encoder = CLIPTextModel.from_pretrained(src / "text_encoder").to(self.device)
        self.vae = AutoencoderKL.from_pretrained(src / "vae").to(self.device)
        self.text_encoder.requires_grad_(False).eval()
        self.vae.requires_grad_(False).eval()
        self.scaling = float(self.vae.config.scaling_factor)
        self.unet, self.sched_config = self.build(src)
        self.unet.to(self.device)
        self.noise_scheduler = DDPMScheduler.from_config(self.sched_config)
        self.timesteps = int(self.noise_scheduler.config.num_train_timesteps)
        self.prediction = self.noise_scheduler.config.prediction_type
        # the finetune kind may train the text encoder too: its states are then computed
        # each step from the captions' token ids instead of once
        self.text_trained = bool(getattr(p, "train_text_encoder", False))
        if self.text_trained:
            self.text_encoder.requires_grad_(True).train()
        self.params = [q for q in self.unet.parameters() if q.requires_grad]
        if self.text_trained:
            self.params += [q for q in self.text_encoder.parameters() if q.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=p.lr, weight_decay=p.weight_decay)
        self.ema = EMAModel(
            self.params, decay=p.ema_decay, use_ema_warmup=True, power=0.75, foreach=True
        )  # foreach: one fused update over all tensors, not a Python loop over them
        # what the training loss calls: the models, or their DDP wrappers
        self.unet_fwd, self.text_fwd = self.unet, self.text_encoder
        if acc is not None:
            self.unet_fwd, self.opt = acc.prepare(self.unet, self.opt)
            if self.text_trained:
                self.text_fwd = acc.prepare(self.text_encoder)
        self.ckpt_path = ctx.work_dir / "unet.ckpt.safetensors"
        self.step, self.best = 0, float("inf")
        self.probe_rows: list[tuple[int, Any]] = []
        self.probe_texts: list[str] = []

    def build(self, src: Path) -> tuple[UNet2DConditionModel, dict[str, Any]]:
        """The U-Net to train and the scheduler config it is trained and saved with: a new
        one here (the finetune kind continues the source model's)."""
        latent = self.p.resolution // 8
        unet = build_unet(self.p, self.text_encoder.config.hidden_size, latent)
        return unet, scheduler_config(self.p)

    def load_data(self) -> None:
        """Posterior moments of the training images and the text encoder's states of every
        distinct caption (the encoder is frozen: each caption is encoded once)."""
        train = open_dataset(self.p, "train", self.ctx.data_dir)
        self.mean, self.std, captions = encode_dataset(self.vae, train, self.device, self.sink)
        distinct = sorted(set(captions) | {""})
        row = {c: i for i, c in enumerate(distinct)}
        self.cond = self.encode_text(distinct)  # (U, L, D)
        if self.text_trained:  # the token ids its states are computed from each step
            self.ids = tokenize(self.tokenizer, distinct)  # (U, L)
        self.caption_row = torch.tensor([row[c] for c in captions])  # (N,)
        self.empty_row = row[""]  # the unconditional prompt

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """(len(captions), L, D) last hidden states, as the pipeline computes them."""
        out = []
        for start in range(0, len(captions), 256):
            ids = tokenize(self.tokenizer, captions[start : start + 256]).to(self.device)
            with autocast(self.device):
                out.append(self.text_encoder(ids)[0].float().cpu())
        return torch.cat(out)

    def resume(self) -> bool:
        if not self.ckpt_path.exists():
            return False
        state = load_checkpoint(self.ckpt_path)
        self.unet.load_state_dict(state["model"])
        if self.text_trained:
            self.text_encoder.load_state_dict(state["text_encoder"])
        self.opt.load_state_dict(state["optimizer"])
        self.ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng"])
        self.step, self.best = int(state["step"]), float(state["best"])
        self.sink.log(f"resumed unet stage at step {self.step}")
        return True

    def checkpoint(self) -> None:
        save_checkpoint(
            self.ckpt_path,
            {
                "model": self.unet.state_dict(),
                **({"text_encoder": self.text_encoder.state_dict()} if self.text_trained else {}),
                "optimizer": self.opt.state_dict(),
                "ema": self.ema.state_dict(),
                "step": self.step,
                "best": self.best,
                "rng": torch.get_rng_state(),
                "params": self.p.model_dump(),
            },
        )

    def draw(self, step: int) -> dict[str, torch.Tensor]:
        """Every random draw of a step, from the step's own generator."""
        p, g = self.p, step_generator(self.p.seed, step)
        idx = torch.randint(len(self.caption_row), (p.batch_size,), generator=g)
        e = torch.randn((p.batch_size, *self.mean.shape[1:]), generator=g)
        z0 = self.scaling * (self.mean[idx] + self.std[idx] * e)  # (B, 4, h, w)
        noise = torch.randn(z0.shape, generator=g)
        t = torch.randint(0, self.timesteps, (p.batch_size,), generator=g)
        rows = self.caption_row[idx].clone()
        drop = torch.rand(p.batch_size, generator=g) < p.caption_dropout
        rows[drop] = self.empty_row
        # every rank draws the global batch and trains on its own slice of it
        per = p.batch_size // self.world
        k = slice(self.rank * per, (self.rank + 1) * per)
        return {"z0": z0[k], "noise": noise[k], "t": t[k], "cond": self.cond[rows[k]],
                "rows": rows[k]}  # fmt: skip

    def loss(self, d: dict[str, torch.Tensor], train: bool = False) -> torch.Tensor:
        dev = self.device
        z0, noise, t = d["z0"].to(dev), d["noise"].to(dev), d["t"].to(dev)
        if train and self.text_trained:  # the encoder's states, with gradients, this step
            with autocast(dev):
                cond = self.text_fwd(self.ids[d["rows"]].to(dev))[0]
        else:
            cond = d["cond"].to(dev)  # (B, L, D) text encoder's last hidden state
        z_t = self.noise_scheduler.add_noise(z0, noise, t)  # q(z_t | z0)
        with autocast(dev):
            pred = (self.unet_fwd if train else self.unet)(z_t, t, cond).sample
        v = self.prediction == "v_prediction"  # a model trained to predict v (SD 2.x style)
        target = self.noise_scheduler.get_velocity(z0, noise, t) if v else noise
        per_sample = (pred.float() - target).pow(2).mean(dim=(1, 2, 3))  # (B,)
        if self.p.min_snr_gamma > 0:
            snr = compute_snr(self.noise_scheduler, t)
            per_sample = per_sample * snr.clamp(max=self.p.min_snr_gamma) / (snr + 1 if v else snr)
        return per_sample.mean()

    def train_step(self) -> tuple[float, float, float]:
        """One optimizer step; returns (loss, lr, grad norm)."""
        p = self.p
        lr = lr_at(self.step, p.lr, p.warmup_steps, p.steps)
        set_lr(self.opt, lr)
        loss = self.loss(self.draw(self.step), train=True)
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
        self.ema.step(self.params)
        self.step += 1
        return value, lr, gnorm

    @torch.no_grad()
    def val_loss(self, n: int = 256) -> float:
        """Loss of the EMA weights on fixed val images, noise and timesteps."""
        if not hasattr(self, "val_draw"):
            val = open_dataset(self.p, "val", self.ctx.data_dir)
            mean, std, caps = encode_dataset(self.vae, val, self.device, self.sink)
            g = step_generator(self.p.seed + 1, 0)
            k = min(n, len(caps))
            z0 = self.scaling * (mean[:k] + std[:k] * torch.randn(mean[:k].shape, generator=g))
            self.val_draw = {
                "z0": z0,
                "noise": torch.randn(z0.shape, generator=g),
                "t": torch.randint(0, self.timesteps, (k,), generator=g),
                "cond": self.encode_text(caps[:k]),
            }
            self.val_caps = caps[:k]
        with self.ema_weights():
            d = self.val_draw
            if self.text_trained:  # the states of the encoder as it is now (EMA weights)
                d = {**d, "cond": self.encode_text(self.val_caps)}
            return float(self.loss(d))

    @contextlib.contextmanager
    def ema_weights(self) -> Iterator[None]:
        """Inside: the U-Net holds the EMA weights (eval mode); after: the trained ones."""
        self.ema.store(self.params)
        self.ema.copy_to(self.params)
        self.unet.eval()
        self.text_encoder.eval()
        try:
            yield
        finally:
            self.ema.restore(self.params)
            self.unet.train()
            if self.text_trained:
                self.text_encoder.train()

    def pipeline(self) -> StableDiffusionPipeline:
        return make_pipeline(
            self.vae, self.text_encoder, self.tokenizer, self.unet, self.sched_config
        )

    def probe(self) -> dict[str, float]:
        """Samples of the fixed probe set with the EMA weights; adherence on shapes."""
        p, step = self.p, self.step
        if p.dataset == "shapes":
            prompts = prompt_set(
                p.probe_size * 5 // 8, p.probe_size - p.probe_size * 5 // 8, holdout=p.holdout
            )
            texts, seeds = [q.text for q in prompts], [q.seed for q in prompts]
        else:
            val = open_dataset(p, "val", self.ctx.data_dir)
            texts = [val[i].caption for i in range(min(8, len(val)))]
            seeds = list(range(len(texts)))
        with self.ema_weights():
            images = generate(
                self.pipeline(),
                texts,
                seeds,
                p.probe_steps,
                p.probe_guidance,
                resolution=p.resolution,
            )
        k = min(16, len(images))
        self.probe_rows.append((step, image_grid(images[:8], cols=8)))
        self.probe_texts = texts[:8]
        self.sink.artifact(
            f"probe/step_{step:06d}.png",
            image_grid(images[:k], cols=8),
            step=step,
            meta={
                "view": "image",
                "prompts": texts[:k],
                "seeds": seeds[:k],
                "guidance": p.probe_guidance,
            },
        )
        if p.dataset != "shapes" or not p.probe_adherence:
            return {}
        clf = load_or_train_classifier(self.ctx.models_dir / ".eval-cache")
        s = score(clf, images, [q.scene for q in prompts])
        values = {
            f"probe/{k}": float(v) for k, v in s.items() if k.startswith(("one/", "two/both"))
        }
        self.sink.metric(step, values)
        return values

    def probe_sheet(self) -> None:
        """One picture of the whole run: a row per probe (from step 0), a column per prompt."""
        if not self.probe_rows:
            return
        steps = [s for s, _ in self.probe_rows]
        self.sink.artifact(
            "probe/checkpoints.png",
            image_grid([row for _, row in self.probe_rows], cols=1),
            step=self.step,
            meta={"view": "image", "steps": steps, "prompts": self.probe_texts,
                  "caption": "rows: the probe at steps " + ", ".join(map(str, steps))
                  + "; columns: the first probe prompts"},
        )  # fmt: skip

    def save(self) -> Path:
        """Write the pipeline (EMA weights) as a diffusers directory."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with self.ema_weights():
            pipe = self.pipeline()
            pipe.save_pretrained(self.out_dir, safe_serialization=True)
        if self.src != self.out_dir and (self.src / "clip").exists():
            shutil.copytree(self.src / "clip", self.out_dir / "clip", dirs_exist_ok=True)
        meta = {
            "resolution": self.p.resolution,
            "default_guidance_scale": self.p.probe_guidance,
            "default_steps": 25,
            "trained_steps": self.step,
        }
        (self.out_dir / "difflab.json").write_text(json.dumps(meta, indent=2) + "\n")
        return self.out_dir


SOURCE_PARTS = ("tokenizer", "text_encoder", "vae")


def check_source(p: Params, ctx: SubmitContext) -> Params:
    """The model the stage starts from has a tokenizer, a text encoder and a VAE."""
    check_split(p.batch_size, p.processes)
    check_data(p, ctx)
    try:
        src = model_dir(ctx, p.model)
    except ValueError as exc:
        raise ParamError("model", str(exc)) from None
    if not src.is_dir():
        raise ParamError("model", f"no model {p.model!r} in the models directory")
    missing = [part for part in SOURCE_PARTS if not (src / part).is_dir()]
    if missing:
        raise ParamError("model", f"model {p.model!r} has no {', '.join(missing)}")
    return p


def train_into(
    params: Params, sink: Sink, ctx: RunContext, out_dir: Path, src: Path | None = None
) -> dict[str, Any]:
    """Train the U-Net on `src`'s (default: the model's) text encoder and VAE; write the whole
    pipeline into `out_dir` (on `processes` ranks when there are several)."""
    if params.processes > 1:
        extra = {"out_dir": str(out_dir), "src": str(src) if src else None}
        return distributed.launch(
            "difflab.diffusion.train_unet", params, sink, ctx, params.processes, extra
        )
    return train_loop(params, sink, ctx, out_dir, src)


def train_rank(
    p: Params, sink: Sink, ctx: RunContext, out_dir: str, src: str | None
) -> dict[str, Any]:
    """One of several processes (distributed.main): Accelerate joins the process group."""
    acc = distributed.accelerator(ctx)
    return train_loop(p, sink, ctx, Path(out_dir), Path(src) if src else None, acc)


def train_loop(
    params: Any,
    sink: Sink,
    ctx: RunContext,
    out_dir: Path,
    src: Path | None = None,
    acc: Any = None,
    trainer: type[Trainer] = Trainer,
) -> dict[str, Any]:
    """The stage's loop (the finetune kind's too, with its `trainer`); with `acc`, one rank of
    several (rank 0 evaluates and writes)."""
    p = params
    main = acc is None or acc.is_main_process
    tr = trainer(p, ctx, sink, out_dir, src, acc)
    if p.resume:
        tr.resume()
    tr.load_data()
    metrics: dict[str, float] = {}
    if main and tr.step == 0:  # the probe from step 0: what the model draws before training
        metrics = tr.probe()
    together(acc)
    log = TrainLog(sink, p.log_every, p.steps)

    def step(done: int) -> None:
        loss, lr, gnorm = tr.train_step()
        log.update(done, loss, lr, gnorm, p.batch_size)

    def evaluate(done: int) -> None:
        nonlocal metrics
        vl = tr.val_loss()
        tr.best = min(tr.best, vl)
        sink.metric(done, {"val/loss": vl})
        metrics = {"val/loss": vl, **tr.probe()}

    run_loop(
        sink,
        p.steps,
        step,
        start=tr.step,
        label=trainer.stage,
        evaluate=evaluate,
        evaluate_every=p.sample_every,
        after_evaluate=log.restart_clock,  # sampling time is not training throughput
        checkpoint=lambda done: tr.checkpoint(),
        checkpoint_every=p.checkpoint_every,
        acc=acc,
    )
    if main:
        tr.probe_sheet()
        tr.save()
    together(acc)
    return {"steps": tr.step, "best_val_loss": tr.best, "samples_seen": tr.step * p.batch_size,
            "processes": tr.world, **metrics}  # fmt: skip


run, prepare = output_kind("unet", WHOLE, train_into, check_source)


SPEC = KindSpec(
    name="unet",
    params=Params,
    run=run,
    prepare=prepare,
    writes_model=("output",),
    queue="gpu",
    admin_only=False,  # learners too, within LEARNER_MAX_STEPS and a new output name
    title="Train the latent U-Net",
    description="DDPM noise-prediction training of a text-conditioned UNet2DConditionModel on "
    "VAE latents, with caption dropout and EMA; writes a StableDiffusionPipeline directory.",
    category="training",
)
