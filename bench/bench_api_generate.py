"""Generations through the whole service against a bare diffusers pipeline call, with the
defaults users get.

The service runs as `make run` runs it (`difflab serve` with its embedded worker, SQLite), or
with `--backend redis-pg` as production does (PostgreSQL, Redis, `difflab serve --no-worker`
and a `difflab worker` process). The worker keeps its default torch thread count; the bare
pipeline runs in this process with the same count. Runs are interleaved so machine noise
hits both alike; medians and minima are printed with absolute seconds. The A1111 txt2img,
img2img and inpainting cases, whose ratios are compared with each other, run in rounds of one
call of each (`--rounds`), not one case after another.

Cases (each against a bare `StableDiffusionPipeline` call with the same sampler, steps,
guidance, size and seed):
  a1111   POST /sdapi/v1/txt2img as a webuiapi script sends it (the route's live previews:
          approx, every 10 steps as A1111's default period): request -> base64 PNG in the
          response. Target <= 1.10x.
  studio  the studio's request: POST /api/v1/generations with approx previews every step and
          attention maps, the SSE stream followed to its end, the PNG downloaded. <= 1.25x.
  full    as studio with `full` previews: the VAE decodes x_t and x0 every step. <= 2x.
  batch16 16 images in one request through /sdapi/v1/txt2img: images/s >= 0.9x bare.
  a1111-img2img  POST /sdapi/v1/img2img as a1111 (its live previews), denoising_strength 0.75,
          a drawn init image at the model's size, against a bare
          `StableDiffusionImg2ImgPipeline` call (strength 0.75: int(0.75 * steps) steps run).
  a1111-inpaint  as a1111-img2img with a mask over the left half and the inpainting fields
          webuiapi sends by default (mask_blur 4, inpaint_full_res True with padding 0) but
          inpainting_fill 1 ("original"; webuiapi's default 0 "fill" is a preprocessing step
          diffusers has no counterpart for), against the mask blurred as diffusers does
          (mask_processor.blur(4)) and a bare `StableDiffusionInpaintPipeline` call with
          padding_mask_crop=0 (A1111's "only masked": crop, then the result pasted back through
          the blurred mask with image_processor.apply_overlay, as difflab does).
          Both target a ratio <= the a1111 (txt2img) case's ratio in the same run.
The bare img2img and inpainting pipelines share the bare txt2img pipeline's modules (from_pipe
on the pipeline loaded from the same model directory) and get their scheduler from
make_scheduler as it does. Also: job start latency (job created -> worker running, from the
job's own timestamps) and event latency (the worker's event time -> the SSE client has it),
p50 <= 20 ms and <= 50 ms.

Prints a markdown section (bench/run_all.py puts it into docs/performance.md).

    python bench/bench_api_generate.py [--backend both|embedded|redis-pg] [--repeats 5]
        [--rounds 10]
        [--cases a1111,studio,full,batch16,a1111-img2img,a1111-inpaint]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import torch
from diffusers import (
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
)
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.utils.services import (  # noqa: E402
    ADMIN_PASSWORD,
    Api,
    Proc,
    free_port,
    migrate,
    postgres_database,
    redis_database,
    service_env,
    start_server,
    start_worker,
    wait_for,
)

from difflab.diffusion.models import default_guidance, model_resolution  # noqa: E402
from difflab.diffusion.schedulers import make_scheduler  # noqa: E402
from difflab.diffusion.tiny import build_tiny_pipeline_dir  # noqa: E402

PROMPT = "a red circle on the left"
STRENGTH = 0.75  # denoising_strength of the img2img and inpainting cases (A1111's default)
MASK_BLUR = 4  # webuiapi's default
IMG2IMG_ROW = "A1111 img2img, strength 0.75 (its live previews)"
INPAINT_ROW = "A1111 inpaint, half mask, blur 4, fill original, only masked (its live previews)"
TXT2IMG_ROW = "A1111 txt2img (its live previews)"
# compared with each other, so measured in rounds of one call of each
ROUNDS_ROWS = (TXT2IMG_ROW, IMG2IMG_ROW, INPAINT_ROW)
TXT2IMG_TARGET = "<= A1111 txt2img's"  # completed with that row's ratio when it was measured
CASES = ("a1111", "studio", "full", "batch16", "a1111-img2img", "a1111-inpaint")
TITLES = {
    "embedded": "Embedded (`make run`: SQLite, serve's own worker)",
    "redis-pg": "Production shape (PostgreSQL, Redis, a separate worker process)",
}


def init_picture(size: int) -> Image.Image:
    """The img2img cases' init image: a drawn size x size picture (sky, ground, a blue disc on
    the right)."""
    image = Image.new("RGB", (size, size), (135, 180, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, size * 2 // 3, size, size), fill=(90, 150, 70))
    draw.ellipse((size // 2, size // 6, size * 7 // 8, size * 13 // 24), fill=(40, 60, 200))
    return image


def half_mask(size: int) -> Image.Image:
    """The inpainting case's mask: white (repaint) over the left half."""
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (0, 0, size // 2, size))
    return mask


def b64_png(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


class BareCalls:
    """The bare diffusers calls the A1111 cases are measured against, on one model directory:
    StableDiffusionPipeline (txt2img, any batch), and StableDiffusionImg2ImgPipeline and
    StableDiffusionInpaintPipeline on the same modules (from_pipe: no second copy). Each call
    returns its seconds. `img2img_body` and `inpaint_body` are the A1111 request fields of the
    same work."""

    def __init__(self, model_dir: Path, sampler: str, steps: int) -> None:
        self.sampler, self.steps = sampler, steps
        self.size = model_resolution(model_dir).native
        self.guidance = default_guidance(model_dir)
        self.pipe = StableDiffusionPipeline.from_pretrained(
            model_dir, use_safetensors=True, safety_checker=None
        )
        self.pipe.set_progress_bar_config(disable=True)
        self.img2img_pipe = StableDiffusionImg2ImgPipeline.from_pipe(self.pipe)
        self.img2img_pipe.set_progress_bar_config(disable=True)
        self.inpaint_pipe = StableDiffusionInpaintPipeline.from_pipe(self.pipe)
        self.inpaint_pipe.set_progress_bar_config(disable=True)
        self.init_image, self.mask_image = init_picture(self.size), half_mask(self.size)
        self.img2img_body = {
            "init_images": [b64_png(self.init_image)], "denoising_strength": STRENGTH,
        }  # fmt: skip
        self.inpaint_body = self.img2img_body | {
            "mask": b64_png(self.mask_image), "mask_blur": MASK_BLUR, "inpainting_fill": 1,
            "inpaint_full_res": True, "inpaint_full_res_padding": 0,
        }  # fmt: skip

    def txt2img(self, batch: int = 1) -> float:
        t0 = time.perf_counter()
        self.pipe.scheduler = make_scheduler(self.sampler, self.pipe.scheduler.config)
        self.pipe(
            PROMPT, num_inference_steps=self.steps, guidance_scale=self.guidance,
            width=self.size, height=self.size, num_images_per_prompt=batch,
            generator=[torch.Generator().manual_seed(1 + i) for i in range(batch)],
        )  # fmt: skip
        return time.perf_counter() - t0

    def img2img(self) -> float:
        t0 = time.perf_counter()
        pipe = self.img2img_pipe
        pipe.scheduler = make_scheduler(self.sampler, pipe.scheduler.config)
        out = pipe(
            PROMPT, image=self.init_image, strength=STRENGTH, num_inference_steps=self.steps,
            guidance_scale=self.guidance, generator=[torch.Generator().manual_seed(1)],
        )  # fmt: skip
        took = time.perf_counter() - t0
        assert out.images[0].size == (self.size, self.size)
        return took

    def inpaint(self) -> float:
        t0 = time.perf_counter()
        pipe = self.inpaint_pipe
        pipe.scheduler = make_scheduler(self.sampler, pipe.scheduler.config)
        blurred = pipe.mask_processor.blur(self.mask_image, blur_factor=MASK_BLUR)
        out = pipe(  # padding_mask_crop: crop to the mask, paste back (apply_overlay)
            PROMPT, image=self.init_image, mask_image=blurred, strength=STRENGTH,
            num_inference_steps=self.steps, guidance_scale=self.guidance, width=self.size,
            height=self.size, padding_mask_crop=0, generator=[torch.Generator().manual_seed(1)],
        )  # fmt: skip
        took = time.perf_counter() - t0
        assert out.images[0].size == (self.size, self.size)
        return took


def pct(values: list[float], q: float) -> float:
    """The q-quantile of values (nan for none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@contextlib.contextmanager
def deployment(
    backend: str, root: Path, models: Path, **extra: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """The service at its defaults (none of the test deployments' settings: the worker's
    default torch thread count, the default timers), as `make run` starts it or in the
    production shape; `extra`: more settings. Yields its base URL and environment."""
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        if backend == "redis-pg":
            urls["database_url"] = stack.enter_context(postgres_database())
            urls["broker_url"] = stack.enter_context(redis_database(9))
        env = service_env(root / "var", models_dir=models, **urls, **extra)
        # the test deployments' fast timers and relaxed checks are not the defaults: the
        # reconciler every second, heartbeats every half second, no free-disk check
        for test_only in ("TORCH_THREADS", "HEARTBEAT_S", "STALE_AFTER_S", "RECONCILE_EVERY_S",
                          "REQUEUE_AFTER_S", "MIN_FREE_DISK_MB"):  # fmt: skip
            if f"DIFFLAB_{test_only}" not in extra:
                env.pop(f"DIFFLAB_{test_only}")
        migrate(env)
        if backend == "redis-pg":
            server, base = start_server(env, root)
            stack.callback(server.stop)
            worker = start_worker(env, "bench", root)
            stack.callback(worker.stop)
        else:  # `make run`: serve starts its embedded worker
            port = free_port()
            server = Proc(
                [sys.executable, "-m", "difflab.cli", "serve", "--port", str(port)],
                env,
                root / "serve.log",
            )
            stack.callback(server.stop)
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: _workers_up(base), timeout=180, what="serve and its worker")
        yield base, env


def _workers_up(base: str) -> bool:
    try:
        r = httpx.get(base + "/api/v1/health", timeout=2)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and bool(r.json().get("workers"))


def follow(api: Api, job_id: str) -> tuple[str, list[float]]:
    """Read the job's SSE stream to its end as the studio does; returns the final state and
    each event's latency (seconds from the worker's event time to this client having it)."""
    lat: list[float] = []
    state = ""
    with api.client.stream(
        "GET", f"/api/v1/jobs/{job_id}/events", headers={"accept": "text/event-stream"},
        timeout=600,
    ) as r:  # fmt: skip
        r.raise_for_status()
        event = ""
        for line in r.iter_lines():
            now = time.time()
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "end":
                    state = data["state"]
                    break
                created = datetime.fromisoformat(data["created_at"]).timestamp()
                lat.append(now - created)
    return state, lat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["embedded", "redis-pg", "both"], default="both")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--model", default="house")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=10,
        help="rounds of the A1111 txt2img, img2img and inpainting cases, interleaved",
    )  # fmt: skip
    parser.add_argument("--sampler", default="DPM++ 2M")
    parser.add_argument(
        "--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES)
    )
    args = parser.parse_args()
    unknown = sorted(set(args.cases.split(",")) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    backends = ["embedded", "redis-pg"] if args.backend == "both" else [args.backend]
    for backend in backends:
        measure(backend, args)
        print()


def measure(backend: str, args: argparse.Namespace) -> None:
    cases = args.cases.split(",")

    root = Path(tempfile.mkdtemp(prefix="difflab-bench-"))
    models = root / "models"
    source = args.models_dir / args.model
    if (source / "model_index.json").is_file():
        shutil.copytree(source, models / "house")
        model_label = args.model
    else:
        build_tiny_pipeline_dir(models / "house")
        model_label = "tiny test model"
    bare = BareCalls(models / "house", args.sampler, args.steps)
    size, guidance = bare.size, bare.guidance
    threads = torch.get_num_threads()

    starts: list[float] = []
    record = [False]  # warm-up runs are not counted
    events: list[float] = []
    rows: list[tuple[str, list[float], list[float], str, Callable[[float, float], float]]] = []
    try:
        with deployment(backend, root, models) as (base, _env):
            api = Api(base)
            basic = httpx.Client(base_url=base, auth=("admin", ADMIN_PASSWORD), timeout=600)

            def start_latency(job_id: str) -> None:
                job = api.get(f"/api/v1/jobs/{job_id}").json()
                created = datetime.fromisoformat(job["created_at"])
                started = datetime.fromisoformat(job["started_at"])
                if record[0]:
                    starts.append((started - created).total_seconds())

            def a1111(batch: int = 1, route: str = "txt2img", **extra: object) -> float:
                body = {
                    "prompt": PROMPT, "steps": args.steps, "cfg_scale": guidance, "seed": 1,
                    "width": size, "height": size, "sampler_name": args.sampler,
                    "batch_size": batch, **extra,
                }  # fmt: skip
                t0 = time.perf_counter()
                r = basic.post(f"/sdapi/v1/{route}", json=body)
                took = time.perf_counter() - t0
                r.raise_for_status()
                out = r.json()
                assert len(out["images"]) == batch
                start_latency(json.loads(out["info"])["difflab_job_id"])
                return took

            def studio(preview: str) -> float:
                body = {
                    "prompt": PROMPT, "model": "house", "sampler": args.sampler,
                    "steps": args.steps, "guidance_scale": guidance, "seed": 1, "width": size,
                    "height": size, "preview": preview, "preview_every": 1, "attention": True,
                }  # fmt: skip
                t0 = time.perf_counter()
                r = api.post("/api/v1/generations", json=body)
                r.raise_for_status()
                gen = r.json()["generation"]
                state, lat = follow(api, gen["job_id"])
                assert state == "succeeded", state
                gen = api.get(f"/api/v1/generations/{gen['id']}").json()
                png = api.get(gen["images"][0]).content
                took = time.perf_counter() - t0
                assert png.startswith(b"\x89PNG")
                if record[0]:
                    events.extend(lat)
                start_latency(gen["job_id"])
                return took

            plan: list[tuple[str, Callable[[], float], Callable[[], float], int, str]] = []
            if "a1111" in cases:
                plan.append((TXT2IMG_ROW, a1111, bare.txt2img, 1, "<= 1.10x"))
            if "studio" in cases:
                plan.append(
                    ("studio: approx previews + attention, SSE", lambda: studio("approx"),
                     bare.txt2img, 1, "<= 1.25x")
                )  # fmt: skip
            if "full" in cases:
                plan.append(
                    ("studio with full (VAE) previews", lambda: studio("full"), bare.txt2img, 1,
                     "<= 2x")
                )  # fmt: skip
            if "batch16" in cases:
                plan.append(
                    ("batch 16, A1111 txt2img", lambda: a1111(16), lambda: bare.txt2img(16), 16,
                     "images/s >= 0.9x")
                )  # fmt: skip
            if "a1111-img2img" in cases:
                plan.append(
                    (IMG2IMG_ROW, lambda: a1111(1, "img2img", **bare.img2img_body), bare.img2img, 1,
                     TXT2IMG_TARGET)
                )  # fmt: skip
            if "a1111-inpaint" in cases:
                plan.append(
                    (INPAINT_ROW, lambda: a1111(1, "img2img", **bare.inpaint_body), bare.inpaint, 1,
                     TXT2IMG_TARGET)
                )  # fmt: skip
            # the A1111 single-image cases are compared with each other (the image paths'
            # target is txt2img's ratio), so they run in rounds, one call of each per round,
            # each beside its bare call: drift over the run hits all three alike
            grouped = [p for p in plan if p[0] in ROUNDS_ROWS]
            measured: dict[str, tuple[list[float], list[float]]] = {}
            record[0] = False
            for name, through, baseline, _, _ in grouped:
                through()  # warm-up: the worker loads and caches the pipeline
                baseline()
                measured[name] = ([], [])
            record[0] = True
            for _ in range(args.rounds if len(grouped) > 1 else args.repeats):
                for name, through, baseline, _, _ in grouped:
                    measured[name][0].append(through())
                    measured[name][1].append(baseline())
            for name, through, baseline, batch, _ in plan:
                if name in measured:
                    continue
                record[0] = False
                through()
                baseline()
                record[0] = True
                a_s, b_s = [], []
                for _ in range(args.repeats if batch == 1 else max(2, args.repeats // 2)):
                    a_s.append(through())
                    b_s.append(baseline())
                measured[name] = (a_s, b_s)
            for name, _, _, _, target in plan:
                rows.append((name, *measured[name], target, lambda a, b: a / b))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"### {TITLES[backend]}\n")
    print(
        f"Model {model_label} ({size}x{size}), {args.steps} steps, {args.sampler}, guidance "
        f"{guidance:g} (the model's default), seed 1; worker and bare pipeline at the default "
        f"torch thread count ({threads}); {args.repeats} interleaved repeats (batch 16: "
        f"{max(2, args.repeats // 2)})."
    )
    if sum(r[0] in ROUNDS_ROWS for r in rows) > 1:
        print(
            f"The A1111 single-image cases ran together: {args.rounds} rounds of one call of "
            "each, each beside its bare call."
        )
    image_rows = [r for r in rows if r[0] in (IMG2IMG_ROW, INPAINT_ROW)]
    if image_rows:
        print(
            f"img2img and inpainting: a drawn {size}x{size} init image, denoising strength "
            f"{STRENGTH:g} (int({STRENGTH:g} x {args.steps}) = {int(STRENGTH * args.steps)} "
            "steps run); their bare calls are diffusers' StableDiffusionImg2ImgPipeline and, "
            f"for inpainting, mask_processor.blur({MASK_BLUR}) of the mask then "
            "StableDiffusionInpaintPipeline with padding_mask_crop=0 (crop to the mask, then "
            "the result pasted back through the blurred mask with apply_overlay), on the same "
            "model's modules, scheduler from make_scheduler, same strength, steps, guidance, "
            "seed and threads. Target: a ratio no higher than A1111 txt2img's in this run."
        )
    print()
    txt2img = next((r for r in rows if r[0] == TXT2IMG_ROW), None)
    txt2img_ratios = (
        (statistics.median(txt2img[1]) / statistics.median(txt2img[2]),
         min(txt2img[1]) / min(txt2img[2]))
        if txt2img else None
    )  # fmt: skip
    print("| case | API median | API min | bare median | bare min | ratio (median) "
          "| ratio (min) | target |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, a_s, b_s, target, _ in rows:
        am, bm = statistics.median(a_s), statistics.median(b_s)
        if target == TXT2IMG_TARGET:
            target += (
                f" ({txt2img_ratios[0]:.3f}x / {txt2img_ratios[1]:.3f}x)"
                if txt2img_ratios else " (not measured in this run)"
            )  # fmt: skip
        print(
            f"| {name} | {am:.3f} s | {min(a_s):.3f} s | {bm:.3f} s | {min(b_s):.3f} s "
            f"| {am / bm:.3f}x | {min(a_s) / min(b_s):.3f}x | {target} |"
        )
    if image_rows and txt2img_ratios and txt2img:
        txt2img_added = 1000 * (statistics.median(txt2img[1]) - statistics.median(txt2img[2]))
        print()
        for name, a_s, b_s, _, _ in image_rows:
            ratios = (statistics.median(a_s) / statistics.median(b_s), min(a_s) / min(b_s))
            verdict = ", ".join(
                f"{which} {r:.3f}x vs {t:.3f}x: {'met' if r <= t else 'not met'}"
                for which, r, t in zip(("median", "min"), ratios, txt2img_ratios, strict=True)
            )
            # a fixed cost per request weighs more on a shorter run: the absolute figures say
            # whether the image paths add anything beyond txt2img's
            added = 1000 * (statistics.median(a_s) - statistics.median(b_s))
            print(
                f"- {name.split(' (')[0]} against A1111 txt2img, ratio to bare: {verdict}; "
                f"the API added {added:.0f} ms to a {1000 * statistics.median(b_s):.0f} ms "
                f"bare call (median), A1111 txt2img {txt2img_added:.0f} ms to "
                f"{1000 * statistics.median(txt2img[2]):.0f} ms."
            )
    if starts:
        print(
            f"\nJob start latency (created -> running), {len(starts)} jobs: p50 "
            f"{1000 * pct(starts, 0.5):.1f} ms, p90 {1000 * pct(starts, 0.9):.1f} ms "
            "(target p50 <= 20 ms)."
        )
    if events:
        print(
            f"Event latency (worker's event time -> SSE client), {len(events)} events: p50 "
            f"{1000 * pct(events, 0.5):.1f} ms, p99 {1000 * pct(events, 0.99):.1f} ms "
            "(target p50 <= 50 ms)."
        )
    print(f"\nMachine: {os.cpu_count()} CPUs, torch {torch.__version__}.")


if __name__ == "__main__":
    main()
