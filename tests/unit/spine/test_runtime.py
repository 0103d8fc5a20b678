from __future__ import annotations

import pytest
from PIL import Image

from difflab.runtime import JobCancelled, MemorySink, check_artifact_name, encode_artifact


@pytest.mark.parametrize(
    "name", ["a.png", "steps/xt_001.png", "attention/index.json", "x-y_z.v1.txt"]
)
def test_plain_artifact_names_are_accepted(name: str) -> None:
    assert check_artifact_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "../x.png",
        "/abs.png",
        "a/../b.png",
        "a\\b.png",
        "a//b.png",
        ".hidden",
        "a/./b",
        "x\x00.png",
        "%2e%2e/x.png",
        "",
        "a/",
    ],
)
def test_hostile_artifact_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_artifact_name(name)


def test_encode_artifact_kinds() -> None:
    assert encode_artifact(b"x") == b"x"
    assert encode_artifact({"a": 1}) == b'{"a":1}'
    png = encode_artifact(Image.new("RGB", (2, 2)))
    assert png.startswith(b"\x89PNG")
    with pytest.raises(TypeError):
        encode_artifact(object())


def test_memory_sink_records_and_cancels(tmp_path) -> None:
    sink = MemorySink(artifact_dir=tmp_path)
    sink.metric(1, {"train/loss": 2.0})
    sink.metric(2, {"train/loss": 1.0}, epoch=0.5)
    sink.progress(2, 4)
    sink.artifact("img/a.png", Image.new("RGB", (4, 4)), step=2)
    assert sink.metric_series("train/loss") == [(1, 2.0), (2, 1.0)]
    assert (tmp_path / "img" / "a.png").is_file()
    assert sink.of_type("artifact")[0]["mime"] == "image/png"
    sink.check()
    sink.cancel()
    with pytest.raises(JobCancelled):
        sink.check()


def test_an_event_unlike_its_types_model_fails_where_it_is_emitted() -> None:
    import pytest
    from pydantic import ValidationError

    from difflab.event_types import PAYLOADS, UnknownEventType
    from difflab.runtime import MemorySink

    sink = MemorySink()
    sink.event("denoise", {"step": 1, "total": 2, "timestep": 999.0, "x0": "steps/x0_001.png"})
    with pytest.raises(ValidationError):
        sink.event("denoise", {"step": "first", "total": 2, "timestep": 1})
    with pytest.raises(ValidationError):  # a field the model does not know
        sink.event("log", {"message": "hi", "level": "debug"})
    with pytest.raises(ValidationError):
        sink.event("metric", {"step": 1, "values": {"loss": "low"}})
    with pytest.raises(UnknownEventType):
        sink.event("telemetry", {})
    assert set(PAYLOADS) == {"state", "progress", "metric", "artifact", "log", "denoise", "cell"}


def test_the_events_route_publishes_every_event_type_in_openapi() -> None:
    from difflab.api.app import create_app
    from difflab.event_types import PAYLOADS

    doc = create_app(reconcile=False).openapi()
    route = doc["paths"]["/api/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]
    items = route["content"]["application/json"]["schema"]["items"]
    assert set(items["discriminator"]["mapping"]) == set(PAYLOADS)
    for name in ("StatePayload", "MetricPayload", "ArtifactPayload", "DenoisePayload"):
        assert name in doc["components"]["schemas"]


def test_job_errors_reach_users_without_server_paths(embedded_env) -> None:
    from pathlib import Path

    from difflab.jobs.runner import public_error

    data = Path(embedded_env["DIFFLAB_DATA_DIR"]).resolve()
    models = Path(embedded_env["DIFFLAB_MODELS_DIR"]).resolve()
    raw = (
        f"FileNotFoundError: [Errno 2] No such file: '{data}/jobs/ab/unet.ckpt'; "
        f"model {models}/house/unet; see /usr/lib/python3.11/site-packages/torch/serialization.py"
    )
    shown = public_error(raw)
    assert shown == (
        "FileNotFoundError: [Errno 2] No such file: '<data>/jobs/ab/unet.ckpt'; "
        "model <models>/house/unet; see .../serialization.py"
    )
    assert public_error("loss 1/2 of a/b") == "loss 1/2 of a/b"  # no absolute path: unchanged
