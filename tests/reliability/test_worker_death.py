"""kill -9 a worker mid-generation and mid-training: the job is re-run on another worker
(training from its last complete checkpoint) and ends exactly once — never stuck running."""

from __future__ import annotations

import pytest

from tests.reliability.cluster import Cluster, events_of, timer, wait_progress
from tests.reliability.conftest import TINY_MODEL, Recorder

pytestmark = pytest.mark.integration

# The vae stage at its smallest: 32 px images, 16 base channels, one image per step.
TINY_VAE = {
    "steps": 20,
    "batch_size": 1,
    "base_channels": 16,
    "resolution": 32,
    "train_samples": 16,
    "val_samples": 8,
    "scaling_samples": 8,
    "eval_every": 1000,
    "log_every": 1,
    "checkpoint_every": 3,
    "resume": True,
    "output": "reliability-vae",
}


def _states(api, job_id: str) -> list[dict]:
    return [e["payload"] for e in events_of(api, job_id, "state")]


@pytest.mark.timeout(240)
def test_kill9_worker_mid_generation(cluster: Cluster, reliability: Recorder) -> None:
    reliability.fault("kill -9 of the worker (process group) while it denoises a generation")
    cluster.use_workers(2)
    api = cluster.api()
    r = api.post(
        "/api/v1/generations",
        json={"prompt": "a red circle", "model": TINY_MODEL, "steps": 100, "seed": 7},
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job"]["id"]
    running = wait_progress(api, job_id, 3)
    victim = running["worker"]
    with timer() as took:
        cluster.kill9(victim)
        cluster.spawn_worker()  # a replacement, for the tests that follow
        done = api.wait_state(job_id, ("succeeded", "failed"), timeout=180)
    states = _states(api, job_id)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2 and done["worker"] != victim
    assert [s["state"] for s in states] == ["queued", "running", "queued", "running", "succeeded"]
    assert "worker lost" in states[2]["reason"]
    image = api.get(f"/api/v1/jobs/{job_id}/artifacts/final/image_0.png")
    assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
    lost = cluster.jobs_lost(api, [job_id])
    reliability.outcome(
        f"requeued after the heartbeat stopped; succeeded on attempt 2 on another worker, "
        f"{took['s']:.0f} s from kill to done",
        lost,
    )
    assert lost == 0


@pytest.mark.timeout(240)
def test_kill9_worker_mid_training_resumes_from_checkpoint(
    cluster: Cluster, reliability: Recorder
) -> None:
    reliability.fault("kill -9 of the worker during `vae` training, after a checkpoint")
    cluster.use_workers(2)
    api = cluster.api()
    job_id = api.submit("vae", **TINY_VAE)["id"]
    ckpt = cluster.data_dir / "jobs" / job_id / "vae.ckpt.safetensors"
    running = wait_progress(api, job_id, 4, timeout=180)
    assert ckpt.exists(), "a checkpoint is written every 3 steps"
    steps_before = max(e["payload"]["done"] for e in events_of(api, job_id, "progress"))
    with timer() as took:
        cluster.kill9(running["worker"])
        cluster.spawn_worker()
        done = api.wait_state(job_id, ("succeeded", "failed"), timeout=200)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2
    logs = [e["payload"]["message"] for e in events_of(api, job_id, "log")]
    resumed = [m for m in logs if m.startswith("resumed vae stage at step")]
    assert len(resumed) == 1, logs
    resumed_at = int(resumed[0].rsplit(" ", 1)[1])
    # the last complete checkpoint before the kill: a multiple of 3, before the end (the steps
    # reported before the kill can lag the steps done: progress rows are a throttled gauge)
    assert resumed_at % 3 == 0 and 3 <= resumed_at < TINY_VAE["steps"]
    # the second attempt continued from there: its first step is resumed_at + 1
    events = events_of(api, job_id)
    second_start = next(
        e["seq"] for e in events
        if e["type"] == "state" and e["payload"].get("state") == "running"
        and e["payload"].get("attempt") == 2
    )  # fmt: skip
    progress = [e["payload"]["done"] for e in events if e["type"] == "progress"]
    second = [e["payload"]["done"] for e in events
              if e["type"] == "progress" and e["seq"] > second_start]  # fmt: skip
    assert second[0] == resumed_at + 1
    assert progress[-1] == TINY_VAE["steps"]
    assert (cluster.models_dir / "reliability-vae" / "vae" / "config.json").is_file()
    lost = cluster.jobs_lost(api, [job_id])
    reliability.outcome(
        f"resumed at step {resumed_at} (killed after step {steps_before}); succeeded on "
        f"attempt 2, {took['s']:.0f} s from kill to done",
        lost,
    )
    assert lost == 0
