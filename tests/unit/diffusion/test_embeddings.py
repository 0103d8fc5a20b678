"""Textual-inversion embeddings: found by name in the models directory, loaded when a prompt
uses them, and they change the picture; safetensors only, names checked."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from difflab.diffusion import embeddings
from difflab.diffusion.generate import GenerateParams, run
from difflab.runtime import MemorySink, RunContext


def _models(tmp_path: Path, models_dir: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(models_dir / "tiny", root / "tiny")
    return root


def _embedding(root: Path, name: str, vectors: int, size: int, seed: int = 0) -> Path:
    path = embeddings.embeddings_dir(root) / f"{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    save_file({"emb_params": torch.randn(vectors, size, generator=g) * 2}, str(path))
    return path


def _image(root: Path, tmp_path: Path, prompt: str) -> MemorySink:
    sink = MemorySink()
    params = GenerateParams(prompt=prompt, model="tiny", steps=3, seed=1, width=32, height=32,
                            sampler="DDIM")  # fmt: skip
    run(params, sink, RunContext("t", models_dir=root, data_dir=tmp_path, work_dir=tmp_path))
    return sink


def test_an_embedding_changes_the_picture_when_its_name_is_used(
    tmp_path: Path, models_dir: Path, tiny_pipe: Any
) -> None:
    root = _models(tmp_path, models_dir)
    size = embeddings.hidden_size(tiny_pipe)
    before = _image(root, tmp_path, "a sparkle circle")  # no such embedding yet: a word
    _embedding(root, "sparkle", 2, size)
    _embedding(root, "wrongsize", 1, size + 8)
    (embeddings.embeddings_dir(root) / "sneaky.pt").write_bytes(b"not loaded")
    listed = embeddings.listing(root, size)
    assert listed["loaded"]["sparkle"]["vectors"] == 2 and "wrongsize" in listed["skipped"]
    assert "sneaky" not in listed["loaded"] and "sneaky" not in listed["skipped"]
    after = _image(root, tmp_path, "a sparkle circle")
    assert before.artifacts["final/image_0.png"] != after.artifacts["final/image_0.png"]
    assert "embeddings: sparkle" in [e["message"] for e in after.of_type("log")]
    tokens = after.artifacts["text/tokens.json"]
    assert "sparkle_1" in str(tokens)  # the name expanded to its two vectors' tokens
    plain = _image(root, tmp_path, "a circle")  # unused: nothing changes for other prompts
    plain_again = _image(root, tmp_path, "a circle")
    assert plain.artifacts["final/image_0.png"] == plain_again.artifacts["final/image_0.png"]
