"""An X/Y/Z plot through the service against the sum of its own cells.

The service runs as `make run` runs it (`difflab serve`, its embedded worker, SQLite) on the
house model with the defaults users get (25 steps, DPM++ 2M, the model's guidance, the studio's
previews: approx every step plus attention maps). One plot of 3 x 3 cells (guidance on x, seed
on y) is submitted through POST /api/v1/jobs; the plot's own time (its job's started ->
finished) is compared with the sum of its cells' times (each cell job's started -> finished),
which is what the same generations cost one after another on one worker. Target: the plot adds
<= 5% to the sum of its cells.

    python bench/bench_xyz.py [--repeats 2] [--model house]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.utils.services import Api  # noqa: E402

from bench_api_generate import deployment  # noqa: E402


def _seconds(job: dict) -> float:
    started = datetime.fromisoformat(job["started_at"])
    finished = datetime.fromisoformat(job["finished_at"])
    return (finished - started).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--model", default="house")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    params = {
        "base": {"prompt": "a red circle on the left", "model": args.model},
        "x": {"field": "guidance_scale", "values": [2, 4, 7]},
        "y": {"field": "seed", "values": [1, 2, 3]},
    }
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        deployment("embedded", Path(tmp), args.models_dir.resolve()) as (base, _env),
    ):
        api = Api(base)
        for _ in range(args.repeats):
            r = api.post("/api/v1/jobs", json={"kind": "xyz", "params": params})
            r.raise_for_status()
            job = api.wait_state(r.json()["id"], ("succeeded", "failed"), timeout=3600)
            assert job["state"] == "succeeded", job
            cells = [api.job(j) for j in job["result"]["jobs"]]
            assert all(c["state"] == "succeeded" for c in cells), json.dumps(cells)[:500]
            rows.append((_seconds(job), sum(_seconds(c) for c in cells), len(cells)))
    print("Embedded (`make run`), model "
          f"{args.model}, 25 steps, DPM++ 2M, the studio's previews; {args.repeats} plots of "
          "3 x 3 cells (guidance x seed).\n")  # fmt: skip
    print("| plot | cells | plot time | sum of its cells | ratio | target |")
    print("|---|---|---|---|---|---|")
    for i, (plot, cells_sum, n) in enumerate(rows, 1):
        print(f"| {i} | {n} | {plot:.2f} s | {cells_sum:.2f} s | {plot / cells_sum:.3f}x "
              "| <= 1.05x |")  # fmt: skip
    ratio = statistics.median(p / c for p, c, _ in rows)
    print(f"\nMedian ratio {ratio:.3f}x: {'met' if ratio <= 1.05 else 'not met'}.")


if __name__ == "__main__":
    main()
