"""Throughput of the unet training stage vs a minimal bare PyTorch loop (same model and data).

Both loops train the same UNet2DConditionModel config from the same initial weights with
AdamW on the same batches of VAE latents and text states; the stage adds what a real run
needs (min-SNR weighting, gradient clipping, EMA, caption dropout, metric events,
cancellation checks). Prints samples/s of each and stage/bare (target >= 0.9).

    python bench/bench_train_unet.py [--steps 30] [--batch 96] [--base 48] [--threads 0]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from difflab.diffusion import train_clip, train_unet, train_vae
from difflab.runtime import MemorySink, RunContext


def build_base(models: Path, work: Path, threads: int) -> None:
    """A model dir with a tokenizer, text encoder and VAE (one step each: weights do not
    change the cost of a U-Net step)."""
    common = {"train_samples": 512, "val_samples": 16, "cpu_threads": threads}
    ctx = RunContext(job_id="bench", work_dir=work, models_dir=models)
    train_clip.run(
        train_clip.Params(
            **common,
            steps=1,
            batch_size=8,
            text_layers=2,
            vision_layers=1,
            vision_hidden=64,
            max_length=24,
            output="house",
        ),
        MemorySink(),
        ctx,
    )
    train_vae.run(
        train_vae.Params(
            **common, steps=1, batch_size=2, scaling_samples=64, output="house", overwrite=True
        ),
        MemorySink(),
        ctx,
    )


def stage_throughput(p: train_unet.Params, ctx: RunContext) -> list[float]:
    """samples/s the stage itself reports per log interval, after the first (warm-up)."""
    sink = MemorySink()
    train_unet.run(p, sink, ctx)
    return [v for _, v in sink.metric_series("samples_per_s")][1:]


def bare_throughput(p: train_unet.Params, ctx: RunContext, steps: int) -> list[float]:
    """The same model, optimizer and data in the plainest loop: draw, forward, MSE,
    backward, step."""
    tr = train_unet.Trainer(p, ctx, MemorySink(), ctx.work_dir / "bare-output")
    tr.load_data()
    torch.manual_seed(p.seed)
    unet = train_unet.build_unet(p, tr.text_encoder.config.hidden_size, p.resolution // 8)
    opt = torch.optim.AdamW(unet.parameters(), lr=p.lr)
    sched = tr.noise_scheduler
    n = len(tr.caption_row)

    def step() -> None:
        idx = torch.randint(n, (p.batch_size,))
        z0 = tr.scaling * (tr.mean[idx] + tr.std[idx] * torch.randn_like(tr.mean[idx]))
        noise = torch.randn_like(z0)
        t = torch.randint(0, p.train_timesteps, (p.batch_size,))
        cond = tr.cond[tr.caption_row[idx]]
        pred = unet(sched.add_noise(z0, noise, t), t, cond).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(p.log_every):  # warm-up, as the stage's first interval is dropped
        step()
    rates = []
    for _ in range(steps // p.log_every):  # the same intervals the stage reports over
        t0 = time.perf_counter()
        for _ in range(p.log_every):
            step()
        rates.append(p.log_every * p.batch_size / (time.perf_counter() - t0))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--base", type=int, default=48, help="U-Net base channels")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating measurements")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_base(root / "models", root / "work", args.threads)
        log_every = 5
        p = train_unet.Params(
            train_samples=2048,
            val_samples=16,
            cpu_threads=args.threads,
            steps=args.steps + log_every,
            batch_size=args.batch,
            base_channels=args.base,
            log_every=log_every,
            sample_every=10**6,
            checkpoint_every=10**6,
            probe_size=4,
            probe_steps=1,
            probe_adherence=False,
        )
        ctx = RunContext(job_id="bench", work_dir=root / "work", models_dir=root / "models")
        stage: list[float] = []
        bare: list[float] = []
        for _ in range(args.rounds):  # alternate, so drifting machine load hits both
            bare += bare_throughput(p, ctx, args.steps)
            stage += stage_throughput(p, ctx)
    print(
        f"device: cpu, threads: {torch.get_num_threads()}, batch {args.batch}, U-Net base "
        f"{args.base}, {args.steps} timed steps x {args.rounds} rounds, "
        f"intervals of {log_every} steps"
    )
    # On a shared machine other processes only ever slow a loop down: the best interval is
    # the closest to the loop's own speed, the median shows the typical one.
    for name, f in (("best", max), ("median", statistics.median)):
        b, s = f(bare), f(stage)
        print(
            f"{name:>6}: bare PyTorch loop {b:7.1f} samples/s | unet stage {s:7.1f} "
            f"samples/s | ratio {s / b:.3f} (target >= 0.9)"
        )


if __name__ == "__main__":
    main()
