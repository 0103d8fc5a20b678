"""A 25-step generation through the whole service against a bare diffusers pipeline call.

Through the API: POST /api/v1/generations → the job is queued, a real worker process claims
it, generates, stores the PNG → the client sees the job end and downloads the PNG. Baseline: a
bare StableDiffusionPipeline call on the same model, sampler, size and seed in this process.
Target: the API path ≤ 1.25× the bare call. Both use the same number of torch threads; runs
are interleaved so machine noise hits both alike. Prints absolute seconds and the ratio.

    python bench/bench_api_generate.py [--models-dir models] [--model house] [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.utils.services import (  # noqa: E402
    Api,
    migrate,
    service_env,
    start_server,
    start_worker,
    wait_for,
)

from difflab.diffusion.models import model_resolution  # noqa: E402
from difflab.diffusion.schedulers import make_scheduler  # noqa: E402
from difflab.diffusion.tiny import build_tiny_pipeline_dir  # noqa: E402

PROMPT = "a red circle on the left"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--model", default="house")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sampler", default="DPM++ 2M")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    root = Path(tempfile.mkdtemp(prefix="difflab-bench-"))
    models = root / "models"
    source = args.models_dir / args.model
    if (source / "model_index.json").is_file():
        shutil.copytree(source, models / "house")
    else:
        print(f"{source} not found: using the tiny test model")
        build_tiny_pipeline_dir(models / "house")
    size = model_resolution(models / "house").native
    env = service_env(
        root / "var",
        models_dir=models,
        DIFFLAB_TORCH_THREADS=str(args.threads),
        DIFFLAB_HEARTBEAT_S="5",
        DIFFLAB_STALE_AFTER_S="60",
    )
    migrate(env)
    server, base = start_server(env, root)
    worker = start_worker(env, "bench", root)
    try:
        api = Api(base)
        body = {
            "prompt": PROMPT,
            "model": "house",
            "sampler": args.sampler,
            "steps": args.steps,
            "guidance_scale": 7.0,
            "seed": 1,
            "width": size,
            "height": size,
            "preview": "none",
            "attention": False,
        }

        def through_api() -> float:
            t0 = time.perf_counter()
            r = api.post("/api/v1/generations", json=body)
            r.raise_for_status()
            gen_id = r.json()["generation"]["id"]
            gen = wait_for(
                lambda: (
                    (g := api.get(f"/api/v1/generations/{gen_id}").json())["state"]
                    in ("succeeded", "failed")
                    and g
                ),
                timeout=600,
                every=0.02,
            )
            assert gen["state"] == "succeeded", gen
            png = api.get(gen["images"][0]).content
            assert png.startswith(b"\x89PNG")
            return time.perf_counter() - t0

        bare = StableDiffusionPipeline.from_pretrained(
            models / "house", use_safetensors=True, safety_checker=None
        )
        bare.set_progress_bar_config(disable=True)

        def bare_call() -> float:
            t0 = time.perf_counter()
            bare.scheduler = make_scheduler(args.sampler, bare.scheduler.config)
            bare(
                PROMPT,
                num_inference_steps=args.steps,
                guidance_scale=7.0,
                width=size,
                height=size,
                generator=torch.Generator().manual_seed(1),
            )
            return time.perf_counter() - t0

        through_api()  # warm-up: the worker loads and caches the pipeline
        bare_call()
        api_s, bare_s = [], []
        for _ in range(args.repeats):
            api_s.append(through_api())
            bare_s.append(bare_call())
        a, b = statistics.median(api_s), statistics.median(bare_s)
        print(
            f"model house ({size}x{size}), {args.steps} steps, {args.sampler}, "
            f"{args.threads} torch thread(s)"
        )
        print(f"  through the API (submit -> PNG): median {a:.3f} s, min {min(api_s):.3f} s")
        print(f"  bare StableDiffusionPipeline:    median {b:.3f} s, min {min(bare_s):.3f} s")
        print(
            f"  ratio API / bare: median {a / b:.3f}x, min {min(api_s) / min(bare_s):.3f}x"
            "  (target <= 1.25)"
        )
    finally:
        worker.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
