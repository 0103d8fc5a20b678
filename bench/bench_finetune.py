"""Throughput of the `finetune` kind vs a bare diffusers loop on the house model.

The kind continues every weight of the house model's U-Net (its defaults: batch 16, shapes
data, EMA, Min-SNR) and reports samples/s per log interval. The bare loop is the plainest loop
with the same parts: the same U-Net, AdamW over all its weights, the same cached latents and
text states, draw -> forward -> MSE -> backward -> step. The kind adds what a run needs (the
EMA update of every weight, Min-SNR weighting, gradient clipping, its seeded per-step draws,
caption dropout, metric events, cancellation checks).

    python bench/bench_finetune.py [--steps 30] [--batch 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from difflab.diffusion import finetune
from difflab.runtime import MemorySink, RunContext, SubmitContext

ROOT = Path(__file__).resolve().parents[1]


def stage(p: finetune.Params, ctx: RunContext) -> list[float]:
    sink = MemorySink()
    finetune.run(p, sink, ctx)
    return [v for _, v in sink.metric_series("samples_per_s")][1:]


def bare(p: finetune.Params, ctx: RunContext, steps: int) -> list[float]:
    tr = finetune.FinetuneTrainer(p, ctx, MemorySink(), ctx.work_dir / "unused")
    tr.load_data()  # the same cached latents and text states
    unet = UNet2DConditionModel.from_pretrained(tr.src / "unet").train()
    opt = torch.optim.AdamW(unet.parameters(), lr=p.lr)
    sched, n = tr.noise_scheduler, len(tr.caption_row)

    def step() -> None:
        idx = torch.randint(n, (p.batch_size,))
        z0 = tr.scaling * (tr.mean[idx] + tr.std[idx] * torch.randn_like(tr.mean[idx]))
        noise = torch.randn_like(z0)
        t = torch.randint(0, tr.timesteps, (p.batch_size,))
        pred = unet(sched.add_noise(z0, noise, t), t, tr.cond[tr.caption_row[idx]]).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(p.log_every):
        step()
    rates = []
    for _ in range(steps // p.log_every):
        t0 = time.perf_counter()
        for _ in range(p.log_every):
            step()
        rates.append(p.log_every * p.batch_size / (time.perf_counter() - t0))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2, help="alternating measurements")
    args = ap.parse_args()
    log_every = 5
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models, data = root / "models", root / "var"
        shutil.copytree(ROOT / "models" / "house", models / "house")
        runs: dict[str, list[float]] = {"bare": [], "stage": []}
        for n in range(args.rounds):  # alternate, so drifting machine load hits both
            p = finetune.prepare(
                finetune.Params(
                    steps=args.steps + log_every, batch_size=args.batch, log_every=log_every,
                    sample_every=10**6, checkpoint_every=10**6, train_samples=2048,
                    val_samples=16, probe_size=4, probe_steps=1, probe_adherence=False,
                    output=f"bench-{n}",
                ),
                SubmitContext(models, data),
            )  # fmt: skip
            ctx = RunContext(job_id=f"b{n}", work_dir=root / f"w{n}", models_dir=models,
                             data_dir=data)  # fmt: skip
            runs["bare"] += bare(p, ctx, args.steps)
            runs["stage"] += stage(p, ctx)
    params = sum(x.numel() for x in UNet2DConditionModel.from_pretrained(
        ROOT / "models" / "house" / "unet").parameters())  # fmt: skip
    print(
        f"house model U-Net ({params / 1e6:.1f}M weights, all trained), batch {args.batch}, "
        f"{args.steps} timed steps x {args.rounds} rounds, intervals of {log_every} steps, "
        f"CPU threads {torch.get_num_threads()}"
    )
    print()
    print("| | bare diffusers loop | finetune kind | kind / bare |")
    print("|---|---|---|---|")
    for name, f in (("best", max), ("median", statistics.median)):
        b, s = f(runs["bare"]), f(runs["stage"])
        print(f"| {name} samples/s | {b:.1f} | {s:.1f} | {s / b:.3f} (target >= 0.9) |")


if __name__ == "__main__":
    main()
