"""CPU time the service spends per A1111 txt2img call, per process: the API process and the
embedded worker (with its pool children), as `make run` starts them.

Wall-clock ratios (bench_api_generate.py) move with whatever else the machine runs; the CPU
seconds a process was scheduled for move far less, so this is the measure to compare two
versions of the code with on a shared machine: run it on each, one after the other. It is
not a target of its own. The worker's figure includes its torch threads spinning at OpenMP
barriers, so it is about threads x wall time of the sampling; the API process's figure is the
service's own cost (HTTP, auth, submit, the wait, the answer).

    python bench/bench_service_cpu.py [--calls 20] [--steps 25]   (the default model: house)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from tests.utils.services import ADMIN_PASSWORD  # noqa: E402

from bench_api_generate import deployment  # noqa: E402


def _cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    body = {
        "prompt": "a red circle on the left", "steps": args.steps, "cfg_scale": 4,
        "sampler_name": "DPM++ 2M", "width": 64, "height": 64, "seed": 1,
    }  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as tmp,
        deployment("embedded", Path(tmp), ROOT / "models") as (base, _),
    ):
        port = base.rsplit(":", 1)[1]
        (serve,) = [
            p
            for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and "serve" in p.info["cmdline"] and port in p.info["cmdline"]
        ]
        with httpx.Client(base_url=base, auth=("admin", ADMIN_PASSWORD), timeout=300) as c:
            for _ in range(3):  # warm: the pipeline loaded, caches filled
                assert c.post("/sdapi/v1/txt2img", json=body).status_code == 200
            workers = [w for w in serve.children(recursive=True) if "worker" in w.cmdline()]
            api0, work0 = _cpu_s(serve), sum(_cpu_s(w) for w in workers)
            t0 = time.perf_counter()
            for _ in range(args.calls):
                r = c.post("/sdapi/v1/txt2img", json=body)
                assert r.status_code == 200, r.text
            wall = time.perf_counter() - t0
            api1, work1 = _cpu_s(serve), sum(_cpu_s(w) for w in workers)
    n = args.calls
    print(
        f"{n} A1111 txt2img calls (default model, {args.steps} steps, DPM++ 2M, 64x64), embedded: "
        f"API process {1000 * (api1 - api0) / n:.1f} ms CPU per call, worker "
        f"{1000 * (work1 - work0) / n:.0f} ms CPU per call ({len(workers)} processes), "
        f"wall {1000 * wall / n:.0f} ms per call; {psutil.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
