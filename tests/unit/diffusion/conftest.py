"""A tiny random SD-1.x model directory, built once per test session (about a second)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from difflab.diffusion.models import load_pipeline
from difflab.diffusion.tiny import build_tiny_pipeline_dir


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding one model, `tiny` (safetensors weights)."""
    root = tmp_path_factory.mktemp("models")
    build_tiny_pipeline_dir(root / "tiny", seed=0)
    return root


@pytest.fixture(scope="session")
def tiny_dir(models_dir: Path) -> Path:
    return models_dir / "tiny"


@pytest.fixture(scope="session")
def tiny_pipe(tiny_dir: Path) -> Any:
    """The cached pipeline of `tiny` on the CPU (shared: tests must not mutate it)."""
    return load_pipeline(tiny_dir, "cpu")


@pytest.fixture
def copy_model(tiny_dir: Path, tmp_path: Path) -> Callable[[str], Path]:
    """copy_model(name) -> a private copy of `tiny` at tmp_path/models/name, for tests that
    change files."""

    def make(name: str = "tiny") -> Path:
        dest = tmp_path / "models" / name
        shutil.copytree(tiny_dir, dest, ignore=shutil.ignore_patterns("latent_rgb.json"))
        return dest

    return make
