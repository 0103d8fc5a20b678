"""Uploaded datasets: both caption forms, and every bad input refused with the file named,
leaving nothing half-written and no existing dataset touched."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from difflab.datasets import uploads
from difflab.datasets.imagefolder import ImageFolderDataset


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in files.items():
            zf.writestr(name, blob)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    buf.seek(0)
    return buf


def upload_zip(data_dir: Path, name: str, files: dict[str, bytes], **kw) -> list[uploads.Item]:
    """What the API route does: stage, build, publish."""
    archive = make_zip(files, kw.pop("symlinks", None))
    with uploads.staging_dir(data_dir) as staged:
        stage = uploads.Staging(staged, kw.pop("limits", uploads.Limits()))
        uploads.stage_zip(archive, stage)
        root, items = uploads.build(staged)
        uploads.publish(root, uploads.dataset_path(data_dir, name))
    return items


def meta(*rows: tuple[str, str]) -> bytes:
    return "\n".join(json.dumps({"file_name": f, "text": t}) for f, t in rows).encode()


def test_metadata_jsonl_form_in_a_folder_zip(tmp_path: Path) -> None:
    items = upload_zip(tmp_path, "cats", {
        "cats/a.png": png(), "cats/sub/b.jpg": png((0, 0, 255)),
        "cats/metadata.jsonl": meta(("a.png", "a  red\tcat"), ("sub/b.jpg", "a blue cat")),
        "__MACOSX/._a.png": b"junk", "cats/.DS_Store": b"junk",
    })  # fmt: skip
    assert [(i.file_name, i.text, i.width) for i in items] == [
        ("a.png", "a red cat", 40),
        ("sub/b.jpg", "a blue cat", 40),
    ]
    root = uploads.dataset_path(tmp_path, "cats")
    ds = ImageFolderDataset(root, resolution=16)  # what training reads
    assert len(ds) == 2 and ds[1].caption == "a blue cat" and ds[0].image.size == (16, 16)
    assert not (tmp_path / "datasets" / ".staging").exists()


def test_kohya_txt_form_becomes_metadata_jsonl(tmp_path: Path) -> None:
    upload_zip(tmp_path, "dogs", {"1.png": png(), "1.txt": b"a dog\n", "2.webp": b"",
                                  "2.txt": b"x"} | {"2.webp": _webp()})  # fmt: skip
    root = uploads.dataset_path(tmp_path, "dogs")
    assert uploads.read_items(root) == [
        {"file_name": "1.png", "text": "a dog"},
        {"file_name": "2.webp", "text": "x"},
    ]
    assert sorted(p.name for p in root.iterdir()) == ["1.png", "2.webp", "metadata.jsonl"]


def _webp() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="WEBP")
    return buf.getvalue()


BAD = [
    ({"../evil.png": b"x"}, "../evil.png", "'..'"),
    ({"/etc/evil.png": b"x"}, "/etc/evil.png", "relative path"),
    ({"C:/evil.png": b"x"}, "C:/evil.png", "relative path"),
    ({"a.png": png(), "a.txt": b"c", "notes.pdf": b"%PDF"}, "notes.pdf", "not an image"),
    ({"a.png": b"not a png at all", "a.txt": b"c"}, "a.png", "not an image"),
    ({"a.png": png()[:60], "a.txt": b"c"}, "a.png", "damaged"),
    ({"a.png": png(), "a.txt": b"c", "b.txt": b"orphan"}, "b.txt", "without an image"),
    ({"a.png": png()}, "a.png", "has no caption"),
    ({"a.png": png(), "A.PNG": png(), "a.txt": b"c"}, "A.PNG", "duplicate"),
    ({"a.png": png(), "a.jpg": png(), "a.txt": b"c"}, "a.png", "share the caption name"),
    ({"a.txt": b"c"}, "files", "no images"),
    ({"a.png": png(), "a.txt": b"   "}, "a.txt", "empty caption"),
    ({"a.png": png(), "a.txt": b"c", "metadata.jsonl": meta(("a.png", "c"))}, "a.txt", "not both"),
    ({"a.png": png(), "metadata.jsonl": b'{"file_name": "a.png"'}, "metadata.jsonl, line 1",
     "invalid JSON"),
    ({"a.png": png(), "metadata.jsonl": meta(("a.png", "c"), ("b.png", "d"))},
     "metadata.jsonl, line 2", "not in the upload"),
    ({"a.png": png(), "metadata.jsonl": meta(("a.png", "c"), ("a.png", "d"))},
     "metadata.jsonl, line 2", "second caption"),
    ({"a.png": png(), "metadata.jsonl": meta(("a.png", ""))}, "metadata.jsonl, line 1",
     "empty caption"),
    ({"a.png": png(), "a.txt": b"c", ".hidden/x.png": png()}, ".hidden/x.png", "hidden"),
]  # fmt: skip


@pytest.mark.parametrize(("files", "where", "why"), BAD)
def test_bad_input_is_refused_naming_the_file(tmp_path: Path, files, where, why) -> None:
    with pytest.raises(uploads.UploadError) as info:
        upload_zip(tmp_path, "bad", files)
    assert info.value.where == where and why in info.value.message, str(info.value)
    assert not (tmp_path / "datasets" / "bad").exists()
    assert not (tmp_path / "datasets" / ".staging").exists()  # nothing half-written


def test_symlink_entries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(uploads.UploadError, match="symlink") as info:
        upload_zip(tmp_path, "s", {"a.png": png(), "a.txt": b"c"}, symlinks={"b.png": "/etc"})
    assert info.value.where == "b.png"


def test_zip_bombs_are_refused_by_ratio_and_by_total_size(tmp_path: Path) -> None:
    zeros = b"\0" * (8 << 20)  # 8 MB of zeros deflate about 1000:1
    with pytest.raises(uploads.UploadError, match="zip bomb") as info:
        upload_zip(tmp_path, "b", {"a.png": png(), "a.txt": zeros})
    assert info.value.where == "a.txt"
    small = uploads.Limits(max_total_bytes=len(png()) + 10)
    with pytest.raises(uploads.UploadError, match="in all"):
        upload_zip(tmp_path, "b", {"a.png": png(), "b.png": png(), "a.txt": b"c"}, limits=small)
    few = uploads.Limits(max_files=2)
    with pytest.raises(uploads.UploadError, match="more than 2 files"):
        upload_zip(tmp_path, "b", {"a.png": png(), "a.txt": b"c", "b.png": png()}, limits=few)
    assert not (tmp_path / "datasets" / "b").exists()


def test_not_a_zip_and_bad_names(tmp_path: Path) -> None:
    with uploads.staging_dir(tmp_path) as staged, pytest.raises(uploads.UploadError, match="zip"):
        uploads.stage_zip(io.BytesIO(b"PK\x03\x04 nope"), uploads.Staging(staged, uploads.Limits()))
    for bad in ("Cats", "a b", "-x", "", "x" * 65, "../x"):
        with pytest.raises(uploads.UploadError) as info:
            uploads.check_name(bad)
        assert info.value.where == "name"
    with pytest.raises(uploads.UploadError, match="built-in"):
        uploads.check_name("shapes", {"shapes"})


def test_an_existing_dataset_is_never_replaced(tmp_path: Path) -> None:
    upload_zip(tmp_path, "mine", {"a.png": png(), "a.txt": b"first"})
    with pytest.raises(uploads.UploadError, match="exists") as info:
        upload_zip(tmp_path, "mine", {"b.png": png(), "b.txt": b"second"})
    assert info.value.where == "name"
    root = uploads.dataset_path(tmp_path, "mine")
    assert uploads.read_items(root) == [{"file_name": "a.png", "text": "first"}]


def test_folder_files_caption_edit_remove_and_stats(tmp_path: Path) -> None:
    with uploads.staging_dir(tmp_path) as staged:
        stage = uploads.Staging(staged, uploads.Limits())
        for name, blob in {"f/a.png": png(), "f/a.txt": b"a red zorblax",
                           "f/b.png": png(), "f/b.txt": b"a blue circle"}.items():  # fmt: skip
            stage.add(name, io.BytesIO(blob))
        with pytest.raises(uploads.UploadError, match="duplicate"):
            stage.add("f/a.png", io.BytesIO(png()))
        root, _ = uploads.build(staged)
        uploads.publish(root, uploads.dataset_path(tmp_path, "f"))
    root = uploads.dataset_path(tmp_path, "f")
    uploads.set_caption(root, "a.png", "  a   green circle ")
    assert uploads.read_items(root)[0]["text"] == "a green circle"
    with pytest.raises(KeyError):
        uploads.set_caption(root, "zzz.png", "x")
    s = uploads.stats(uploads.read_items(root), {"a</w>", "green</w>", "circle</w>"})
    assert s["images"] == 2 and s["caption_words"] == {"min": 3, "mean": 3.0, "max": 3}
    assert s["unknown_words"] == [{"word": "blue", "count": 1}]
    uploads.remove_item(root, "a.png")
    assert not (root / "a.png").exists() and len(uploads.read_items(root)) == 1
    with pytest.raises(uploads.UploadError, match="last image"):
        uploads.remove_item(root, "b.png")
    for outside in ("../x", "/etc/passwd", "..", "metadata.jsonl/../../x"):
        with pytest.raises((KeyError, uploads.UploadError)):
            uploads.item_path(root, outside)
