"""A checkpoint save onto a full filesystem leaves the previous checkpoint intact and fails the
job with the reason.

The worker runs in its own mount namespace where the jobs directory is a real tmpfs sized for
one checkpoint and a half: the first save fits, the second (a temporary file written next to
the previous checkpoint, then renamed over it) runs out of space with ENOSPC from the kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.reliability.cluster import Cluster, events_of, unshare_available
from tests.reliability.conftest import Recorder

pytestmark = pytest.mark.integration

PARAMS = {
    "steps": 8,
    "batch_size": 1,
    "base_channels": 16,
    "resolution": 32,
    "train_samples": 16,
    "val_samples": 8,
    "scaling_samples": 8,
    "eval_every": 1000,
    "log_every": 1,
    "checkpoint_every": 2,
    "output": "reliability-disk-full",
}

# Run inside the worker's namespace: what the job directory holds, and the checkpoint's step
# read back in full (every tensor) with safetensors alone.
INSPECT = """
import json, sys
from pathlib import Path
from safetensors import safe_open
work = Path(sys.argv[1])
out = {"files": sorted(p.name for p in work.iterdir())}
with safe_open(str(work / "vae.ckpt.safetensors"), framework="numpy") as f:
    out["tensors"] = sum(int(f.get_tensor(k).size) for k in f.keys())
    out["step"] = json.loads(f.metadata()["state"])["step"]
print(json.dumps(out))
"""


def checkpoint_bytes() -> int:
    """Size of one checkpoint of PARAMS' model: weights + AdamW's two moments, float32."""
    from difflab.diffusion.train_vae import Params, build_vae

    n = sum(p.numel() for p in build_vae(Params(**PARAMS)).parameters())
    return 3 * 4 * n


@pytest.mark.timeout(240)
def test_checkpoint_save_on_a_full_disk(cluster: Cluster, reliability: Recorder) -> None:
    reliability.fault("tmpfs of 1.5 checkpoints under the jobs dir: the 2nd save hits ENOSPC")
    if not unshare_available():
        pytest.skip("this machine does not allow a tmpfs in a private mount namespace")
    cluster.use_workers(0)
    size = int(checkpoint_bytes() * 1.5)
    name = cluster.spawn_worker_on_tmpfs(cluster.data_dir / "jobs", size)
    cluster.wait_workers([name])
    api = cluster.api()
    job_id = api.submit("vae", **PARAMS)["id"]
    done = api.wait_state(job_id, ("succeeded", "failed"), timeout=180)
    assert done["state"] == "failed", done
    assert "No space left on device" in done["error"], done["error"]
    assert done["attempts"] == 1  # a full disk is not a dead worker: no retry loop
    progress = [e["payload"]["done"] for e in events_of(api, job_id, "progress")]
    # step 4's save failed, so step 4 never reported (progress rows are a throttled gauge,
    # so some earlier steps may not have a row of their own)
    assert progress and max(progress) <= 3

    pid = cluster.workers[name].pid
    inspect = subprocess.run(
        ["nsenter", "-t", str(pid), "-U", "-m", "--preserve-credentials"]
        + [sys.executable, "-c", INSPECT, str(cluster.data_dir / "jobs" / job_id)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert inspect.returncode == 0, inspect.stderr[-2000:]
    seen = json.loads(inspect.stdout)
    assert seen["files"] == ["vae.ckpt.safetensors"], seen  # no half-written temporary file
    assert seen["step"] == 2 and seen["tensors"] * 4 <= size
    lost = cluster.jobs_lost(api, [job_id])
    reliability.outcome(
        f"job failed with '{done['error'][:60]}...'; the step-2 checkpoint reads back whole, "
        "no temporary file left",
        lost,
    )
    assert lost == 0
