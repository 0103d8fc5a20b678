"""The datasets the API lists (GET /api/v1/datasets), each with a sample grid."""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

from difflab.datasets.imagefolder import ImageFolderDataset
from difflab.datasets.shapes import ShapesDataset

_DATASETS = {
    ShapesDataset.name: ShapesDataset.description,
    ImageFolderDataset.name: ImageFolderDataset.description,
}


def list_datasets() -> list[dict[str, str]]:
    """[{name, description}] of the built-in datasets."""
    return [{"name": n, "description": d} for n, d in _DATASETS.items()]


BUILT_IN = frozenset(_DATASETS)


def folder_grid(root: Path, n: int = 16, seed: int = 0, tile: int = 64) -> Image.Image:
    """A grid of n images of an imagefolder, drawn at random (seeded), each center-cropped."""
    ds = ImageFolderDataset(root, resolution=tile, verify_images=False)
    order = list(range(len(ds)))
    random.Random(seed).shuffle(order)
    picks = order[:n]
    cols = math.ceil(math.sqrt(len(picks)))
    rows = math.ceil(len(picks) / cols)
    grid = Image.new("RGB", (cols * tile, rows * tile), (255, 255, 255))
    for k, i in enumerate(picks):
        grid.paste(ds[i].image, ((k % cols) * tile, (k // cols) * tile))
    return grid


def sample_grid(name: str, n: int = 16, seed: int = 0) -> Image.Image:
    """A square grid of n samples of a dataset (shapes: from its train split at `seed`).

    imagefolder has no samples of its own (it is the user's directory): its grid is a
    placeholder tile that says so."""
    if name not in _DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(_DATASETS)}")
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    if name == "imagefolder":
        img = Image.new("RGB", (cols * 64, rows * 64), (235, 235, 235))
        ImageDraw.Draw(img).text((8, 8), "your images +\nmetadata.jsonl", fill=(60, 60, 60))
        return img
    ds = ShapesDataset(n, split="train", seed=seed)
    grid = Image.new("RGB", (cols * 64, rows * 64), (255, 255, 255))
    for i in range(n):
        grid.paste(ds[i].image, ((i % cols) * 64, (i // cols) * 64))
    return grid
