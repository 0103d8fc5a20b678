"""Untrusted bytes are never unpickled: not from the broker, not from checkpoints, not from
model weights, whatever their file name says."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from kombu.exceptions import ContentDisallowed
from kombu.serialization import loads
from safetensors import SafetensorError
from safetensors.torch import save_file

from difflab.diffusion.checkpoint import load_checkpoint, save_checkpoint
from difflab.diffusion.models import (
    UnsafeWeightsError,
    check_safetensors_only,
    clear_pipeline_cache,
    load_pipeline,
)
from difflab.jobs.celery_app import celery_config


class _Payload:
    """Unpickling this creates `marker`: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def hostile_pickle(marker: Path) -> bytes:
    blob = pickle.dumps({"state_dict": _Payload(marker)}, protocol=2)
    assert blob[:1] == b"\x80"
    return blob


def test_the_proof_works(tmp_path: Path) -> None:
    """Loading the payload with pickle does create the marker (so its absence means something)."""
    marker = tmp_path / "ran"
    obj = pickle.loads(hostile_pickle(marker))  # noqa: S301 (the point of this test)
    obj["state_dict"].close()
    assert marker.exists()


def test_celery_accepts_json_only(tmp_path: Path) -> None:
    conf = celery_config("redis://127.0.0.1:1/0", 3600)
    assert conf["accept_content"] == ["json"] and conf["result_accept_content"] == ["json"]
    assert conf["task_serializer"] == conf["result_serializer"] == "json"
    marker = tmp_path / "ran"
    with pytest.raises(ContentDisallowed):
        loads(
            hostile_pickle(marker),
            "application/x-python-serialize",
            "binary",
            accept=conf["accept_content"],
        )
    assert not marker.exists()


def test_a_pickle_renamed_to_safetensors_is_not_a_checkpoint(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "vae.ckpt.safetensors"
    path.write_bytes(hostile_pickle(marker))
    with pytest.raises(SafetensorError, match="deserializing header"):
        load_checkpoint(path)
    assert not marker.exists()


def test_checkpoints_round_trip_without_pickle(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 1})
    head = path.read_bytes()[:8]
    (n,) = struct.unpack("<Q", head)
    header = json.loads(path.read_bytes()[8 : 8 + n])
    assert "__metadata__" in header  # a safetensors file: header, then raw tensors
    state = load_checkpoint(path)
    assert state["step"] == 1
    assert torch.equal(state["model"]["weight"], model.state_dict()["weight"])


def _model_dir(root: Path) -> Path:
    """A directory shaped like an SD-1.x pipeline, with valid (tiny) safetensors weights."""
    path = root / "models" / "m"
    for part in ("text_encoder", "unet", "vae", "tokenizer", "scheduler"):
        (path / part).mkdir(parents=True)
    for part in ("text_encoder", "unet", "vae"):
        save_file({"w": torch.zeros(2)}, str(path / part / "model.safetensors"))
    (path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return path


def _torch_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": 1}))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("unet/diffusion_pytorch_model.safetensors", "pickle", "looks like a pickle"),
        ("unet/diffusion_pytorch_model.bin", "pickle", "pickle-format weight file"),
        ("vae/weights.ckpt", "pickle", "pickle-format weight file"),
        ("text_encoder/model.safetensors", "zip", "zip/torch checkpoint"),
        ("vae/model.safetensors", "huge-header", "not a safetensors file"),
    ],
)
def test_hostile_weights_refuse_the_model(tmp_path: Path, name: str, content: str, reason: str):
    path = _model_dir(tmp_path)
    marker = tmp_path / "ran"
    blob = {
        "pickle": hostile_pickle(marker),
        "zip": _torch_zip(),
        # a header length of 2**60: refused before any allocation
        "huge-header": struct.pack("<Q", 2**60) + b"{}",
    }[content]
    (path / name).write_bytes(blob)
    with pytest.raises(UnsafeWeightsError, match=reason):
        check_safetensors_only(path)
    clear_pipeline_cache()
    with pytest.raises(UnsafeWeightsError, match=reason):
        load_pipeline(path)
    assert not marker.exists()


def test_a_weight_file_linking_out_of_the_model_is_refused(tmp_path: Path) -> None:
    path = _model_dir(tmp_path)
    outside = tmp_path / "elsewhere.safetensors"
    save_file({"w": torch.zeros(2)}, str(outside))
    (path / "unet" / "model.safetensors").unlink()
    (path / "unet" / "model.safetensors").symlink_to(outside)
    with pytest.raises(UnsafeWeightsError, match="outside the model directory"):
        check_safetensors_only(path)
