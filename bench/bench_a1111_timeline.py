"""Where an A1111 txt2img call's time goes, against a bare pipeline call of the same work.

bench_api_generate.py gives the ratio; this splits the call by the job row's own clock marks
(the machine's one clock): submit (the request sent -> the job's row created), queue (created
-> a worker's claim), run (claim -> the job's end written), return (end -> the answer read),
beside a bare diffusers StableDiffusionPipeline call (same sampler, steps, guidance, size,
seed and thread count), interleaved. A run longer than the bare call is the worker's own
share: setup, sampling beside its event writer, the final PNG and the end; the rest is the
service's fixed cost per call.

The service is `make run`'s shape (SQLite, serve's embedded worker, default threads).

    python bench/bench_a1111_timeline.py [--calls 12] [--steps 25]   (the house model)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import torch
from diffusers import StableDiffusionPipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from tests.utils.services import ADMIN_PASSWORD, Api  # noqa: E402

from bench_api_generate import PROMPT, deployment  # noqa: E402
from difflab.diffusion.models import default_guidance, model_resolution  # noqa: E402
from difflab.diffusion.schedulers import make_scheduler  # noqa: E402

SEGMENTS = ("submit", "queue", "run", "return", "total", "bare")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="house")
    parser.add_argument("--calls", type=int, default=12)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--sampler", default="DPM++ 2M")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="difflab-timeline-"))
    try:
        models = root / "models"
        shutil.copytree(args.models_dir / args.model, models / "house")
        size = model_resolution(models / "house").native
        guidance = default_guidance(models / "house")
        bare = StableDiffusionPipeline.from_pretrained(
            models / "house", use_safetensors=True, safety_checker=None
        )
        bare.set_progress_bar_config(disable=True)

        def bare_call() -> float:
            t0 = time.perf_counter()
            bare.scheduler = make_scheduler(args.sampler, bare.scheduler.config)
            bare(
                PROMPT, num_inference_steps=args.steps, guidance_scale=guidance, width=size,
                height=size, generator=[torch.Generator().manual_seed(1)],
            )  # fmt: skip
            return time.perf_counter() - t0

        ms: dict[str, list[float]] = {k: [] for k in SEGMENTS}
        with deployment("embedded", root, models) as (base, _env):
            api = Api(base)
            basic = httpx.Client(base_url=base, auth=("admin", ADMIN_PASSWORD), timeout=600)
            body = {
                "prompt": PROMPT, "steps": args.steps, "cfg_scale": guidance, "seed": 1,
                "width": size, "height": size, "sampler_name": args.sampler,
            }  # fmt: skip
            for i in range(args.calls + 2):  # two warm-up rounds, not counted
                took = bare_call()
                sent = time.time()
                r = basic.post("/sdapi/v1/txt2img", json=body)
                read = time.time()
                r.raise_for_status()
                job = api.get(f"/api/v1/jobs/{json.loads(r.json()['info'])['difflab_job_id']}")
                marks = job.json()
                created, started, finished = (
                    datetime.fromisoformat(marks[k]).timestamp()
                    for k in ("created_at", "started_at", "finished_at")
                )
                if i < 2:
                    continue
                for name, seconds in zip(
                    SEGMENTS,
                    (created - sent, started - created, finished - started, read - finished,
                     read - sent, took),
                    strict=True,
                ):  # fmt: skip
                    ms[name].append(seconds * 1000)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"Model {args.model} ({size}x{size}), {args.steps} steps, {args.sampler}, guidance "
        f"{guidance:g}, seed 1; `make run`'s shape (SQLite, the embedded worker); worker and bare "
        f"pipeline at the default torch thread count ({torch.get_num_threads()}); {args.calls} "
        f"A1111 txt2img calls interleaved with bare calls; {os.cpu_count()} CPUs.\n"
    )
    print("| part of the call | median | min |")
    print("|---|---|---|")
    labels = {
        "submit": "submit: request sent -> job created",
        "queue": "queue: created -> claimed by the worker",
        "run": "run: claimed -> end written",
        "return": "return: end written -> answer read",
        "total": "the whole call",
        "bare": "bare pipeline call",
    }
    for name in SEGMENTS:
        values = ms[name]
        print(f"| {labels[name]} | {statistics.median(values):.1f} ms | {min(values):.1f} ms |")
    run, bare_ms = statistics.median(ms["run"]), statistics.median(ms["bare"])
    fixed = sum(statistics.median(ms[k]) for k in ("submit", "queue", "return"))
    print(
        f"\nMedians: the worker's run is {run / bare_ms:.3f}x the bare call "
        f"({run - bare_ms:+.1f} ms); submit, queue and return add {fixed:.1f} ms; the whole "
        f"call is {statistics.median(ms['total']) / bare_ms:.3f}x the bare call."
    )


if __name__ == "__main__":
    main()
