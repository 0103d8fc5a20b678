from __future__ import annotations

import os
import pickle
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from difflab.diffusion import models
from difflab.diffusion.models import (
    ModelError,
    UnsafeWeightsError,
    check_safetensors_header,
    check_safetensors_only,
    list_models,
    load_pipeline,
    model_resolution,
    resolve_model,
)


def test_list_models_finds_the_tiny_model_with_its_resolution(models_dir: Path) -> None:
    found = list_models(models_dir)
    assert [m.name for m in found] == ["tiny"]
    info = found[0]
    assert not info.default
    assert info.scheduler == "DDPMScheduler"
    # unet sample_size 8 * VAE factor 8 = 64 native; the range is half to twice that.
    assert (info.resolution.native, info.resolution.min, info.resolution.max) == (64, 32, 128)
    assert info.resolution.multiple == 8
    assert info.to_public() == {
        "name": "tiny", "default": False, "scheduler": "DDPMScheduler",
        "resolution": {"native": 64, "min": 32, "max": 128, "multiple": 8},
        "default_guidance": 7.5,  # records none in difflab.json: SD's usual scale
        "prompt_words": [], "prompt_examples": [],  # no training.json: any text is the user's
    }  # fmt: skip


def test_a_model_trained_on_shapes_offers_its_grammar(copy_model: Callable[[str], Path]) -> None:
    import json

    from difflab.datasets.shapes import prompt_examples, prompt_words

    model = copy_model("shapes-model")
    (model / "training.json").write_text(json.dumps({"recipe": {"dataset": "shapes"}}))
    public = list_models(model.parent)[0].to_public()
    assert public["prompt_words"] == prompt_words()
    assert public["prompt_examples"] == prompt_examples()


def test_default_model_house_is_listed_first(copy_model: Callable[[str], Path]) -> None:
    copy_model("alpha")
    house = copy_model("house")
    (house.parent / "notes").mkdir()  # not a model directory: ignored
    (house.parent / "stray.txt").write_text("x")
    names = [(m.name, m.default) for m in list_models(house.parent)]
    assert names == [("house", True), ("alpha", False)]


def test_resolve_model_returns_the_directory(models_dir: Path, tiny_dir: Path) -> None:
    assert resolve_model(models_dir, "tiny") == tiny_dir.resolve()


@pytest.mark.parametrize(
    "name",
    [
        "", ".", "..", "../tiny", "tiny/../tiny", "/etc", "/tmp/tiny", "tiny/", "./tiny",
        "a\\b", "..\\tiny", "tiny\x00", "%2e%2e", "%2e%2e%2ftiny", "..%2ftiny", ".hidden",
        "~", "~root", "C:\\models", "tiny unet", "tiny/unet", " tiny", "x" * 101,
    ],
)  # fmt: skip
def test_hostile_model_names_are_refused(models_dir: Path, name: str) -> None:
    with pytest.raises(ModelError) as e:
        resolve_model(models_dir, name)
    assert "available: tiny" in str(e.value)


def test_unknown_model_lists_the_available_ones(models_dir: Path) -> None:
    with pytest.raises(ModelError, match=r"unknown model 'nope'; available: tiny"):
        resolve_model(models_dir, "nope")


def test_symlink_out_of_the_models_dir_is_refused(
    copy_model: Callable[[str], Path], tmp_path: Path
) -> None:
    root = copy_model("tiny").parent
    outside = tmp_path / "elsewhere"
    shutil.copytree(root / "tiny", outside)
    os.symlink(outside, root / "escape")
    with pytest.raises(ModelError):
        resolve_model(root, "escape")
    assert [m.name for m in list_models(root)] == ["tiny"]
    # A link to a model inside the directory is fine: it is another name for it.
    os.symlink(root / "tiny", root / "alias")
    assert resolve_model(root, "alias") == (root / "tiny").resolve()


class _Trap:
    """Unpickling this object would create `marker` (a stand-in for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_pickle_renamed_to_safetensors_is_refused_and_never_unpickled(
    copy_model: Callable[[str], Path], tmp_path: Path
) -> None:
    model = copy_model("tiny")
    marker = tmp_path / "pwned"
    weights = model / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(pickle.dumps(_Trap(marker), protocol=2))
    with pytest.raises(UnsafeWeightsError, match=r"unet/.*not a safetensors file.*pickle"):
        load_pipeline(model)
    assert not marker.exists()


def test_a_torch_zip_checkpoint_renamed_to_safetensors_is_refused(
    copy_model: Callable[[str], Path],
) -> None:
    model = copy_model("tiny")
    torch.save({"w": torch.zeros(2)}, model / "vae" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(UnsafeWeightsError, match="zip"):
        check_safetensors_only(model)


def test_a_model_with_only_bin_weights_is_refused(copy_model: Callable[[str], Path]) -> None:
    model = copy_model("tiny")
    (model / "text_encoder" / "model.safetensors").unlink()
    torch.save({"w": torch.zeros(2)}, model / "text_encoder" / "pytorch_model.bin")
    with pytest.raises(UnsafeWeightsError, match=r"text_encoder/pytorch_model.bin is a pickle"):
        load_pipeline(model)


def test_a_model_without_weights_is_refused(copy_model: Callable[[str], Path]) -> None:
    model = copy_model("tiny")
    (model / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(UnsafeWeightsError, match=r"unet/ has no .safetensors weights"):
        check_safetensors_only(model)


def test_safetensors_header_check(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_file({"a": torch.ones(3, 2)}, str(good))
    check_safetensors_header(good)
    data = good.read_bytes()
    bad_offsets = tmp_path / "cut.safetensors"
    bad_offsets.write_bytes(data[:-8])  # tensor bytes missing: offsets point past the end
    with pytest.raises(UnsafeWeightsError, match="bad safetensors entry"):
        check_safetensors_header(bad_offsets)
    tiny = tmp_path / "tiny.safetensors"
    tiny.write_bytes(b"\x01")
    with pytest.raises(UnsafeWeightsError, match="too short"):
        check_safetensors_header(tiny)


def test_model_resolution_reads_the_configs(tiny_dir: Path) -> None:
    res = model_resolution(tiny_dir)
    res.check("width", 64)
    res.check("width", 32)
    for bad in (24, 136, 60):
        with pytest.raises(ValueError, match=r"^width must be a multiple of 8 between 32 and 128"):
            res.check("width", bad)


def test_load_pipeline_loads_once_per_process_even_concurrently(
    copy_model: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = copy_model("tiny")
    calls = []
    real = models.StableDiffusionPipeline.from_pretrained

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(models.StableDiffusionPipeline, "from_pretrained", counting)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(load_pipeline(model))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and calls[0]["use_safetensors"] is True
    assert len({id(p) for p in got}) == 1 and load_pipeline(model) is got[0]
    pipe = got[0]
    assert pipe.safety_checker is None  # type: ignore[attr-defined]
    assert not any(p.requires_grad for p in pipe.unet.parameters())  # type: ignore[attr-defined]

    # Rewritten weights (a retrained model) are noticed and loaded again.
    weights = model / "unet" / "diffusion_pytorch_model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load_pipeline(model) is not pipe and len(calls) == 2
