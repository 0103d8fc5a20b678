"""imagefolder: images + metadata.jsonl, resized and center-cropped; errors name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from difflab.datasets.imagefolder import DatasetError, ImageFolderDataset


def make_folder(root: Path, lines: list[str], images: dict[str, tuple[int, int]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, size in images.items():
        Image.new("RGB", size, (200, 30, 30)).save(root / name)
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return root


def row(name: str, text: str) -> str:
    return json.dumps({"file_name": name, "text": text})


def test_loads_resizes_and_center_crops(tmp_path: Path) -> None:
    root = make_folder(
        tmp_path / "d",
        [row("a.png", "a red thing"), "", row("b.jpg", "wide")],
        {"a.png": (100, 80), "b.jpg": (300, 64)},
    )
    ds = ImageFolderDataset(root, resolution=64)
    assert len(ds) == 2 and ds.captions() == ["a red thing", "wide"]
    item = ds[1]
    assert item.image.size == (64, 64) and item.image.mode == "RGB"
    assert item.caption == "wide"


@pytest.mark.parametrize(
    ("lines", "images", "expected"),
    [
        (
            [row("a.png", "x"), row("missing.png", "y")],
            {"a.png": (8, 8)},
            r"metadata\.jsonl, line 2: image file missing\.png not found",
        ),
        (
            [row("a.png", "x"), "{not json"],
            {"a.png": (8, 8)},
            r"metadata\.jsonl, line 2: invalid JSON",
        ),
        (
            [row("a.png", "  ")],
            {"a.png": (8, 8)},
            r"metadata\.jsonl, line 1: empty caption .* a\.png",
        ),
        (['["a.png", "x"]'], {"a.png": (8, 8)}, r"line 1: expected a JSON object"),
        ([json.dumps({"text": "x"})], {}, r"line 1: \"file_name\" must be"),
        ([row("../escape.png", "x")], {}, r"line 1: \.\./escape\.png is outside"),
    ],
)
def test_bad_metadata_names_file_and_line(
    tmp_path: Path, lines: list[str], images: dict[str, tuple[int, int]], expected: str
) -> None:
    root = make_folder(tmp_path / "d", lines, images)
    with pytest.raises(DatasetError, match=expected):
        ImageFolderDataset(root)


def test_unreadable_image_names_file_and_line(tmp_path: Path) -> None:
    root = make_folder(
        tmp_path / "d", [row("a.png", "ok"), row("bad.png", "broken")], {"a.png": (8, 8)}
    )
    (root / "bad.png").write_bytes(b"this is not a png")
    with pytest.raises(DatasetError, match=r"metadata\.jsonl, line 2: cannot read image bad\.png"):
        ImageFolderDataset(root)


def test_missing_directory_or_metadata(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a directory"):
        ImageFolderDataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"metadata\.jsonl: missing"):
        ImageFolderDataset(tmp_path / "empty")


def test_random_crop_keeps_the_aspect_and_draws_its_place_from_the_seed(tmp_path: Path) -> None:
    """A 4:1 picture, left half red, right half blue: the centre crop straddles both, random
    crops land at places drawn per image and seed (the same again for the same seed)."""
    root = tmp_path / "wide"
    root.mkdir()
    img = Image.new("RGB", (256, 64), (255, 0, 0))
    img.paste((0, 0, 255), (128, 0, 256, 64))
    img.save(root / "a.png")
    (root / "metadata.jsonl").write_text(row("a.png", "a wide picture") + "\n")
    center = ImageFolderDataset(root, resolution=32)[0].image
    assert center.size == (32, 32)
    left, right = center.getpixel((2, 16)), center.getpixel((29, 16))
    assert left[0] > 200 and right[2] > 200  # both halves: the middle of the picture

    def blue_share(seed: int) -> float:
        im = ImageFolderDataset(root, resolution=32, crop="random", seed=seed)[0].image
        return sum(im.getpixel((x, 16))[2] > 128 for x in range(32)) / 32

    shares = [blue_share(s) for s in range(12)]
    assert shares == [blue_share(s) for s in range(12)]  # a function of the seed
    assert len(set(shares)) > 3 and min(shares) < 0.5 < max(shares)  # different places
