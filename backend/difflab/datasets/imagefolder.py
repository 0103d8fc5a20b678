"""`imagefolder`: a directory of images with captions in metadata.jsonl.

The convention of the Hugging Face datasets library and the diffusers training examples:
each line of `metadata.jsonl` is `{"file_name": "0001.png", "text": "a caption"}`, with
file names relative to the directory. Images are resized (shorter side to the resolution)
and center-cropped to a square. Every problem is reported with the file and line it is on.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, UnidentifiedImageError


class DatasetError(ValueError):
    """Bad dataset input; the message names the file (and line) at fault."""


@dataclass(frozen=True)
class CaptionedImage:
    image: Image.Image
    caption: str


@dataclass(frozen=True)
class _Entry:
    path: Path
    caption: str
    line: int  # 1-based line of metadata.jsonl


def metadata_lines(text: str, source: str) -> Iterator[tuple[int, str, str]]:
    """(line number, file_name, caption) of each non-blank metadata.jsonl line; DatasetError
    naming `source` and the line for one that does not read."""
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{source}, line {n}"
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: invalid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
        name, caption = row.get("file_name"), row.get("text")
        if not isinstance(name, str) or not name:
            raise DatasetError(f'{where}: "file_name" must be a non-empty string')
        if not isinstance(caption, str) or not caption.strip():
            raise DatasetError(f'{where}: empty caption ("text") for {name}')
        yield n, name, caption


def center_crop_resize(
    img: Image.Image, resolution: int, at: tuple[float, float] = (0.5, 0.5)
) -> Image.Image:
    """Resize the shorter side to `resolution` (bicubic, keeping the aspect), then crop a
    square: the centre one, or the one at `at` (fractions of the room along x and y)."""
    img = img.convert("RGB")
    w, h = img.size
    scale = resolution / min(w, h)
    nw, nh = max(resolution, round(w * scale)), max(resolution, round(h * scale))
    img = img.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = round((nw - resolution) * at[0]), round((nh - resolution) * at[1])
    return img.crop((left, top, left + resolution, top + resolution))


class ImageFolderDataset:
    """Captioned images read from `root/metadata.jsonl`; checked up front, loaded on access."""

    name = "imagefolder"
    description = (
        "Your own captioned images: a directory of images plus metadata.jsonl lines "
        '{"file_name": ..., "text": ...}, resized and center-cropped to the model resolution.'
    )

    def __init__(
        self,
        root: str | Path,
        resolution: int = 64,
        verify_images: bool = True,
        crop: Literal["center", "random"] = "center",
        seed: int = 0,
    ) -> None:
        self.root = Path(root)
        self.resolution = resolution
        self.crop, self.seed = crop, seed
        self.metadata = self.root / "metadata.jsonl"
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: not a directory")
        if not self.metadata.is_file():
            raise DatasetError(f"{self.metadata}: missing (one JSON object per line)")
        self.entries = self._read_metadata()
        if verify_images:
            for e in self.entries:
                self._open(e).close()

    def _read_metadata(self) -> list[_Entry]:
        entries = []
        text = self.metadata.read_text(encoding="utf-8")
        for n, name, caption in metadata_lines(text, str(self.metadata)):
            where = f"{self.metadata}, line {n}"
            path = (self.root / name).resolve()
            if self.root.resolve() not in path.parents:
                raise DatasetError(f"{where}: {name} is outside the dataset directory")
            if not path.is_file():
                raise DatasetError(f"{where}: image file {name} not found")
            entries.append(_Entry(path=path, caption=caption.strip(), line=n))
        if not entries:
            raise DatasetError(f"{self.metadata}: no entries")
        return entries

    def _open(self, e: _Entry) -> Image.Image:
        try:
            img = Image.open(e.path)
            img.load()
        except (UnidentifiedImageError, OSError) as exc:
            raise DatasetError(
                f"{self.metadata}, line {e.line}: cannot read image {e.path.name} ({exc})"
            ) from exc
        return img

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> CaptionedImage:
        e = self.entries[index]
        at = (0.5, 0.5)
        if self.crop == "random":  # one crop per image and seed (latents are cached per run)
            rng = random.Random(self.seed * 1_000_003 + index)
            at = (rng.random(), rng.random())
        return CaptionedImage(center_crop_resize(self._open(e), self.resolution, at), e.caption)

    def captions(self) -> list[str]:
        return [e.caption for e in self.entries]
