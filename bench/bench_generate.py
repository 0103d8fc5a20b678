"""Generation overheads, measured side by side in one process.

(1) A 25-step generation through the `generate` job function with approx previews on every
    step, against the same generation with no previews (target <= 1.10x).
(2) The job function with no previews against a bare diffusers StableDiffusionPipeline call
    on the same model, sampler, size and seed (target <= 1.25x; the API adds its own share,
    measured by the API benchmark).
(3) img2img and inpainting as the job runs them (`generate_from_image`, no previews) against
    bare diffusers StableDiffusionImg2ImgPipeline and StableDiffusionInpaintPipeline calls with
    the same strength, mask, sampler, steps, guidance and seed (bench_api_generate's BareCalls,
    the API benchmark's baselines); no target of its own: the API benchmark's image rows
    compare these paths through the service against txt2img's ratio.

Uses models/house when it is there, else builds the tiny test model in a temporary
directory. Prints absolute seconds (median of the repeats, runs interleaved) and the ratios.

    python bench/bench_generate.py [--models-dir models] [--model house] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench_api_generate import MASK_BLUR, STRENGTH, BareCalls
from difflab.diffusion.generate import GenerateParams, run
from difflab.diffusion.img2img import ImageInput, generate_from_image
from difflab.diffusion.models import load_pipeline, model_resolution
from difflab.diffusion.schedulers import make_scheduler
from difflab.diffusion.tiny import build_tiny_pipeline_dir
from difflab.runtime import MemorySink, RunContext

PROMPT = "a red circle on the left"


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--model", default="house")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sampler", default="DPM++ 2M")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    models_dir, model = args.models_dir, args.model
    tmp = None
    if not (models_dir / model / "model_index.json").is_file():
        tmp = tempfile.TemporaryDirectory()
        models_dir, model = Path(tmp.name), "tiny"
        build_tiny_pipeline_dir(models_dir / model)
        print(f"{args.models_dir / args.model} not found: using the tiny test model")
    model_dir = models_dir / model
    size = model_resolution(model_dir).native
    ctx = RunContext(job_id="bench", device=args.device, models_dir=models_dir)
    print(f"model {model} ({size}x{size}), {args.steps} steps, {args.sampler}, {args.device}, "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip

    def job(preview: str, attention: bool) -> Callable[[], object]:
        params = GenerateParams(
            prompt=PROMPT, model=model, sampler=args.sampler, steps=args.steps, seed=1,
            width=size, height=size, preview=preview, preview_every=1, attention=attention,
        )  # fmt: skip
        return lambda: run(params, MemorySink(), ctx)

    # the bare diffusers pipelines, on one copy of the model
    images = BareCalls(model_dir, args.sampler, args.steps)
    bare = images.pipe.to(args.device)

    def bare_call() -> object:
        bare.scheduler = make_scheduler(args.sampler, bare.scheduler.config)
        return bare(PROMPT, num_inference_steps=args.steps, guidance_scale=7.0, width=size,
                    height=size, generator=torch.Generator().manual_seed(1)).images  # fmt: skip

    def from_image(mask: bool) -> Callable[[], object]:
        init = ImageInput(
            images.init_image, strength=STRENGTH, mask=images.mask_image if mask else None,
            mask_blur=MASK_BLUR, inpainting_fill="original", full_res=True, full_res_padding=0,
        )  # fmt: skip

        def call() -> object:
            pipe = load_pipeline(model_dir, args.device)
            scheduler = make_scheduler(args.sampler, pipe.scheduler.config)
            return generate_from_image(
                pipe, scheduler, init, prompt=PROMPT, steps=args.steps,
                guidance_scale=images.guidance, seeds=(1,), width=size, height=size,
            )  # fmt: skip

        return call

    cases: dict[str, Callable[[], object]] = {
        "bare StableDiffusionPipeline": bare_call,
        "run, preview none": job("none", False),
        "run, preview approx every step": job("approx", False),
        "run, approx + attention maps": job("approx", True),
        "bare img2img pipeline": images.img2img,
        "img2img, generate_from_image": from_image(False),
        "bare inpaint pipeline": images.inpaint,
        "inpaint, generate_from_image": from_image(True),
    }
    load_pipeline(model_dir, args.device)
    for fn in cases.values():  # warm-up: caches, the approx map fit, allocator
        fn()
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            wall, cpu = _timed(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)
    for name in cases:
        print(f"  {name:32s} wall min {min(walls[name]):7.3f} s, median "
              f"{statistics.median(walls[name]):7.3f} s; CPU median "
              f"{statistics.median(cpus[name]):7.3f} s")  # fmt: skip
    # Wall-clock ratios of the minima (the runs least disturbed by other work on the
    # machine) and of the medians, and CPU-time ratios (robust to a busy machine on CPU;
    # meaningless on a GPU, where the CPU waits). On a quiet machine they agree.
    for label, series, pick in (("wall min", walls, min),
                                ("wall median", walls, statistics.median),
                                ("CPU median", cpus, statistics.median)):  # fmt: skip
        m = {name: pick(t) for name, t in series.items()}
        base = m["run, preview none"]
        print(
            f"[{label}] approx previews every step / no previews: "
            f"{m['run, preview approx every step'] / base:.3f}x  (target <= 1.10)"
        )
        print(
            f"[{label}] run (no previews) / bare pipeline:        "
            f"{base / m['bare StableDiffusionPipeline']:.3f}x  (target <= 1.25)"
        )
        print(f"[{label}] approx + attention maps / no previews:    "
              f"{m['run, approx + attention maps'] / base:.3f}x  (no target)")  # fmt: skip
        for case in ("img2img", "inpaint"):
            print(
                f"[{label}] {case}, generate_from_image / bare {case} pipeline: "
                f"{m[f'{case}, generate_from_image'] / m[f'bare {case} pipeline']:.3f}x"
            )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
