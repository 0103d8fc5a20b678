"""Where an A1111 call's time goes, against a bare diffusers call of the same work.

bench_api_generate.py gives the ratios; this splits each call by the job row's own clock marks
(the machine's one clock): submit (the request sent -> the job's row created), queue (created
-> a worker's claim), run (claim -> the job's end written), return (end -> the answer read),
beside a bare diffusers call of the same work (bench_api_generate.BareCalls: same sampler,
steps, guidance, size, seed and thread count; img2img and inpainting as that bench sends
them), interleaved. A run longer than the bare call is the worker's own share: setup,
sampling beside its event writer, the final PNG and the end; the rest is the service's fixed
cost per call, which weighs more on img2img's shorter run.

The service is `make run`'s shape (SQLite, serve's embedded worker, default threads) and the
production shape (PostgreSQL, Redis, a separate worker).

    python bench/bench_a1111_timeline.py [--calls 12] [--steps 25] [--backend embedded,redis-pg]
        [--cases txt2img,img2img,inpaint]   (the house model)
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from tests.utils.services import ADMIN_PASSWORD, Api  # noqa: E402

from bench_api_generate import MASK_BLUR, PROMPT, STRENGTH, BareCalls, deployment  # noqa: E402

SEGMENTS = ("submit", "queue", "run", "return", "total", "bare")
CASES = ("txt2img", "img2img", "inpaint")
LABELS = {
    "submit": "submit: request sent -> job created",
    "queue": "queue: created -> claimed by the worker",
    "run": "run: claimed -> end written",
    "return": "return: end written -> answer read",
    "total": "the whole call",
    "bare": "bare diffusers call",
}
TITLES = {
    "embedded": "`make run`'s shape (SQLite, the embedded worker)",
    "redis-pg": "the production shape (PostgreSQL, Redis, a separate worker)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="house")
    parser.add_argument("--calls", type=int, default=12)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--sampler", default="DPM++ 2M")
    parser.add_argument("--backend", default="embedded,redis-pg")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    cases = args.cases.split(",")
    if unknown := sorted(set(cases) - set(CASES)):
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    for i, backend in enumerate(args.backend.split(",")):
        if backend not in TITLES:
            parser.error(f"unknown backend {backend}; known: {', '.join(TITLES)}")
        if i:
            print()
        measure(backend, cases, args)


def measure(backend: str, cases: list[str], args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="difflab-timeline-"))
    ms: dict[str, dict[str, list[float]]] = {c: {k: [] for k in SEGMENTS} for c in cases}
    try:
        models = root / "models"
        shutil.copytree(args.models_dir / args.model, models / "house")
        bare = BareCalls(models / "house", args.sampler, args.steps)
        calls = {
            "txt2img": ("txt2img", {}, bare.txt2img),
            "img2img": ("img2img", bare.img2img_body, bare.img2img),
            "inpaint": ("img2img", bare.inpaint_body, bare.inpaint),
        }
        with deployment(backend, root, models) as (base, _env):
            api = Api(base)
            basic = httpx.Client(base_url=base, auth=("admin", ADMIN_PASSWORD), timeout=600)
            body = {
                "prompt": PROMPT, "steps": args.steps, "cfg_scale": bare.guidance, "seed": 1,
                "width": bare.size, "height": bare.size, "sampler_name": args.sampler,
            }  # fmt: skip
            for i in range(args.calls + 2):  # two warm-up rounds, not counted
                for case in cases:
                    route, extra, bare_call = calls[case]
                    took = bare_call()
                    sent = time.time()
                    r = basic.post(f"/sdapi/v1/{route}", json=body | extra)
                    read = time.time()
                    r.raise_for_status()
                    job_id = json.loads(r.json()["info"])["difflab_job_id"]
                    marks = api.get(f"/api/v1/jobs/{job_id}").json()
                    created, started, finished = (
                        datetime.fromisoformat(marks[k]).timestamp()
                        for k in ("created_at", "started_at", "finished_at")
                    )
                    if i < 2:
                        continue
                    for name, seconds in zip(
                        SEGMENTS,
                        (created - sent, started - created, finished - started,
                         read - finished, read - sent, took),
                        strict=True,
                    ):  # fmt: skip
                        ms[case][name].append(seconds * 1000)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"### {TITLES[backend][0].upper()}{TITLES[backend][1:]}\n")
    print(
        f"Model {args.model} ({bare.size}x{bare.size}), {args.steps} steps, {args.sampler}, "
        f"guidance {bare.guidance:g}, seed 1; img2img and inpainting at denoising strength "
        f"{STRENGTH:g} (int({STRENGTH:g} x {args.steps}) = {int(STRENGTH * args.steps)} steps "
        f"run), inpainting with a half mask, blur {MASK_BLUR}, fill original, only masked; "
        f"worker and bare calls at the default torch thread count ({torch.get_num_threads()}); "
        f"{args.calls} rounds of A1111 calls, each beside its bare call, interleaved; "
        f"{os.cpu_count()} CPUs. Medians (minima).\n"
    )
    print("| part of the call | " + " | ".join(f"A1111 {c}" for c in cases) + " |")
    print("|---|" + "---|" * len(cases))
    for name in SEGMENTS:
        cells = (f"{statistics.median(ms[c][name]):.1f} ms ({min(ms[c][name]):.1f})" for c in cases)
        print(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    print()
    for case in cases:
        m = {k: statistics.median(v) for k, v in ms[case].items()}
        fixed = m["submit"] + m["queue"] + m["return"]
        print(
            f"- {case}: the worker's run is {m['run'] / m['bare']:.3f}x the bare call "
            f"({m['run'] - m['bare']:+.1f} ms); submit, queue and return add {fixed:.1f} ms; "
            f"the whole call is {m['total'] / m['bare']:.3f}x the bare call."
        )


if __name__ == "__main__":
    main()
