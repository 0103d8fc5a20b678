"""Captioned image datasets users upload: checked as they arrive, stored whole or not at all.

An upload is a .zip or a set of files (a folder dragged into the browser). Either way it is
first written, file by file, into a staging directory under DATA_DIR/datasets/.staging/, with
every name and size checked on the way in:
- a name must be a plain relative path (no absolute path, drive letter, backslash or `..`),
  a zip entry must not be a symlink, and two files may not share a name (case-insensitively);
- sizes are capped (files, bytes in all, and each zip entry's compression ratio, counted on
  the bytes actually inflated, so a zip that lies in its headers is caught too).
Then the staged tree is read as a dataset, in one of the two forms in use:
- Hugging Face imagefolder: `metadata.jsonl` lines {"file_name": ..., "text": ...};
- kohya: a `<stem>.txt` caption beside each image.
Every image must decode completely, every caption must have its image and every image its
caption; anything else (a non-image file, an empty dataset) is refused, naming the file (and
line). What is kept is always the imagefolder form (the images as uploaded, `metadata.jsonl`
written from either form), so the training code reads one form. The checked dataset is
renamed into DATA_DIR/datasets/<name>/ in one step; a refused upload leaves nothing behind
and never touches an existing dataset.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import uuid
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from PIL import Image

from difflab.datasets.imagefolder import DatasetError, metadata_lines
from difflab.runtime import write_atomic

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
METADATA = "metadata.jsonl"
STAGING = ".staging"
# files that archivers and desktops add beside what the user chose: skipped, not refused
_JUNK_DIRS = frozenset({"__MACOSX"})
_JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_IMAGE_PIXELS = 4096 * 4096
_CHUNK = 1 << 20
UPLOAD_CHUNK_BYTES = 64 * 2**20  # the largest chunk of a resumable upload (one PUT)


class UploadError(ValueError):
    """A refused upload: `where` is the form field or the file (and line) at fault."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message


@dataclass(frozen=True)
class Limits:
    max_files: int = 20_000
    max_total_bytes: int = 4 * 2**30  # inflated, all files together
    max_file_bytes: int = 64 * 2**20
    max_ratio: float = 200.0  # a zip entry's inflated / compressed size


@dataclass
class Staging:
    """Files written so far into a staging directory, with the checks on the way in."""

    root: Path
    limits: Limits
    seen: dict[str, str] = field(default_factory=dict)  # lowercase name -> name
    total: int = 0

    def add(self, name: str, src: IO[bytes], compressed: int | None = None) -> None:
        rel = relative_name(name)
        if rel is None:
            return  # a directory entry or desktop junk
        key = rel.lower()
        if key in self.seen:
            raise UploadError(rel, f"duplicate file name (also {self.seen[key]!r})")
        if len(self.seen) >= self.limits.max_files:
            raise UploadError(rel, f"more than {self.limits.max_files} files in one upload")
        self.seen[key] = rel
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with open(dest, "xb") as out:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                self.total += len(chunk)
                if written > self.limits.max_file_bytes:
                    raise UploadError(rel, f"over {self.limits.max_file_bytes >> 20} MB")
                if self.total > self.limits.max_total_bytes:
                    raise UploadError(
                        rel, f"the upload is over {self.limits.max_total_bytes >> 20} MB in all"
                    )
                ratio = written / max(compressed or 0, 1)
                if compressed is not None and written > 1 << 20 and ratio > self.limits.max_ratio:
                    raise UploadError(
                        rel,
                        f"compressed more than {self.limits.max_ratio:.0f}:1 (a zip bomb?)",
                    )
                out.write(chunk)


def check_name(name: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A dataset name: a lowercase slug, not a built-in dataset's."""
    if not _NAME.match(name):
        raise UploadError(
            "name",
            f"{name!r} is not a dataset name: lowercase letters, digits, '-' and '_', starting "
            "with a letter or digit, at most 64 characters",
        )
    if name in taken:
        raise UploadError("name", f"{name!r} is a built-in dataset's name")
    return name


def relative_name(name: str) -> str | None:
    """A checked relative path for an uploaded file name; None for what is skipped."""
    if "\\" in name or _DRIVE.match(name) or name.startswith("/"):
        raise UploadError(name, "not a relative path inside the dataset")
    if "\x00" in name:
        raise UploadError(repr(name), "a file name may not hold a NUL character")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UploadError(name, "a path with '..' would leave the dataset directory")
    if name.endswith("/") or not parts:
        return None
    if parts[0] in _JUNK_DIRS or parts[-1] in _JUNK_FILES or parts[-1].startswith("._"):
        return None
    if any(p.startswith(".") for p in parts):
        raise UploadError(name, "hidden files and folders are not part of a dataset")
    return "/".join(parts)


def stage_zip(archive: IO[bytes], staging: Staging) -> None:
    """Write a zip's files into the staging directory, checking each entry."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError("files", f"not a readable zip archive ({exc})") from None
    with zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UploadError(info.filename, "a symlink; only plain files are accepted")
            if info.is_dir():
                relative_name(info.filename)  # still checked: no absolute or '..' paths
                continue
            if info.flag_bits & 0x1:
                raise UploadError(info.filename, "encrypted zip entries are not supported")
            try:
                with zf.open(info) as src:
                    staging.add(info.filename, src, compressed=info.compress_size)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                if isinstance(exc, FileExistsError):
                    raise UploadError(info.filename, "duplicate file name") from None
                raise UploadError(info.filename, f"cannot be extracted ({exc})") from None


def _strip_common_folder(root: Path) -> Path:
    """The folder the dataset's files are in: a zip of a folder holds one top folder."""
    while True:
        entries = [p for p in root.iterdir()]
        if len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        else:
            return root


def check_image(path: Path, rel: str) -> tuple[int, int]:
    """The image decodes completely and is under the pixel cap: its (width, height)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=("PNG", "JPEG", "WEBP")) as img:
                w, h = img.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise UploadError(rel, f"{w}x{h} is over the {MAX_IMAGE_PIXELS}-pixel limit")
                img.load()
                return w, h
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(rel, f"over the {MAX_IMAGE_PIXELS}-pixel limit") from None
    except Image.UnidentifiedImageError:
        raise UploadError(rel, "not an image PIL can read as PNG, JPEG or WebP") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UploadError(rel, f"the image data is damaged ({exc})") from None


def _read_metadata(root: Path, images: dict[str, Path]) -> dict[str, str]:
    """Captions from metadata.jsonl, every line checked."""
    captions: dict[str, str] = {}
    try:
        text = (root / METADATA).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UploadError(METADATA, "not UTF-8 text") from None
    try:
        lines = list(metadata_lines(text, METADATA))
    except DatasetError as exc:
        where, _, message = str(exc).partition(": ")
        raise UploadError(where, message) from None
    for n, name, caption in lines:
        where = f"{METADATA}, line {n}"
        rel = relative_name(name)
        if rel is None or rel not in images:
            raise UploadError(where, f"image file {name} is not in the upload")
        if rel in captions:
            raise UploadError(where, f"a second caption for {name}")
        captions[rel] = " ".join(caption.split())
    return captions


def _read_txt(root: Path, images: dict[str, Path], texts: dict[str, Path]) -> dict[str, str]:
    """Captions from a <stem>.txt beside each image (kohya's form)."""
    by_stem: dict[str, str] = {}
    for rel in images:
        stem = rel.rsplit(".", 1)[0]
        if stem in by_stem:
            raise UploadError(rel, f"two images share the caption name {stem}.txt "
                                   f"({by_stem[stem]} and {rel})")  # fmt: skip
        by_stem[stem] = rel
    captions = {}
    for rel, path in texts.items():
        stem = rel.rsplit(".", 1)[0]
        if stem not in by_stem:
            raise UploadError(rel, "a caption file without an image of the same name")
        try:
            caption = " ".join(path.read_text(encoding="utf-8").split())
        except UnicodeDecodeError:
            raise UploadError(rel, "not UTF-8 text") from None
        if not caption:
            raise UploadError(rel, "empty caption")
        captions[by_stem[stem]] = caption
    return captions


@dataclass(frozen=True)
class Item:
    file_name: str
    text: str
    width: int
    height: int


def build(staged: Path) -> tuple[Path, list[Item]]:
    """Read a staged upload as a dataset; returns its root folder and its items, having
    written metadata.jsonl there and removed the .txt captions."""
    root = _strip_common_folder(staged)
    images: dict[str, Path] = {}
    texts: dict[str, Path] = {}
    has_metadata = False
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        suffix = path.suffix.lower()
        if rel == METADATA:
            has_metadata = True
        elif suffix in IMAGE_SUFFIXES:
            images[rel] = path
        elif suffix == ".txt":
            texts[rel] = path
        else:
            raise UploadError(rel, "not an image (PNG, JPEG, WebP) or a caption (.txt, "
                                   f"{METADATA})")  # fmt: skip
    if not images:
        raise UploadError("files", "no images: a dataset needs at least one captioned image")
    if has_metadata and texts:
        raise UploadError(
            next(iter(texts)), f"captions come either from {METADATA} or from .txt files, not both"
        )
    captions = _read_metadata(root, images) if has_metadata else _read_txt(root, images, texts)
    items = []
    for rel, path in images.items():
        if rel not in captions:
            hint = f"a line in {METADATA}" if has_metadata else f"{rel.rsplit('.', 1)[0]}.txt"
            raise UploadError(rel, f"has no caption ({hint})")
        w, h = check_image(path, rel)
        items.append(Item(rel, captions[rel], w, h))
    for path in texts.values():
        path.unlink()
    write_metadata(root, items)
    return root, items


def write_metadata(root: Path, items: list[Item] | list[dict[str, Any]]) -> None:
    lines = []
    for it in items:
        name, text = (it.file_name, it.text) if isinstance(it, Item) else (it["file_name"],
                                                                            it["text"])  # fmt: skip
        lines.append(json.dumps({"file_name": name, "text": text}, ensure_ascii=False))
    write_atomic(root / METADATA, ("\n".join(lines) + "\n").encode())


def datasets_dir(data_dir: Path) -> Path:
    return data_dir / "datasets"


def dataset_path(data_dir: Path, name: str) -> Path:
    """The directory of an uploaded dataset (the name checked first, so it stays inside)."""
    return datasets_dir(data_dir) / check_name(name)


@contextlib.contextmanager
def staging_dir(data_dir: Path) -> Iterator[Path]:
    """A fresh staging directory, removed afterwards whatever happens."""
    path = datasets_dir(data_dir) / STAGING / uuid.uuid4().hex
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def publish(root: Path, final: Path) -> None:
    """Move a built dataset into place; an existing dataset is never replaced."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        final.mkdir()  # claims the name: fails if anything holds it
    except FileExistsError:
        raise UploadError("name", f"a dataset named {final.name!r} exists") from None
    try:
        for child in root.iterdir():
            os.replace(child, final / child.name)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise


def read_items(root: Path) -> list[dict[str, str]]:
    """The {file_name, text} lines of a stored dataset's metadata.jsonl."""
    out = []
    for raw in (root / METADATA).read_text(encoding="utf-8").splitlines():
        if raw.strip():
            row = json.loads(raw)
            out.append({"file_name": row["file_name"], "text": row["text"]})
    return out


def set_caption(root: Path, file_name: str, text: str) -> None:
    caption = " ".join(text.split())
    if not caption:
        raise UploadError("text", "empty caption")
    items = read_items(root)
    for it in items:
        if it["file_name"] == file_name:
            it["text"] = caption
            write_metadata(root, items)
            return
    raise KeyError(file_name)


def remove_item(root: Path, file_name: str) -> None:
    """Remove one image and its caption; the last image is not removed (a dataset is never
    empty: delete the dataset instead)."""
    items = read_items(root)
    keep = [it for it in items if it["file_name"] != file_name]
    if len(keep) == len(items):
        raise KeyError(file_name)
    if not keep:
        raise UploadError("file_name", "the last image of a dataset: delete the dataset instead")
    write_metadata(root, keep)  # the caption goes first: a dataset never names a missing file
    with contextlib.suppress(FileNotFoundError):
        item_path(root, file_name).unlink()


def item_path(root: Path, file_name: str) -> Path:
    """A dataset file's path, resolved inside the dataset's directory."""
    rel = relative_name(file_name)
    path = (root / rel).resolve() if rel else root
    if rel is None or root.resolve() not in path.parents:
        raise KeyError(file_name)
    return path


_WORD = re.compile(r"[a-z0-9']+")


def stats(items: list[dict[str, str]], vocab: set[str] | None) -> dict[str, Any]:
    """Counts a dataset page shows: images, caption lengths in words, and the words a text
    encoder's tokenizer has no whole-word token for (when `vocab` is given)."""
    words = Counter(w for it in items for w in _WORD.findall(it["text"].lower()))
    lengths = [len(it["text"].split()) for it in items]
    unknown = None
    if vocab is not None:
        unknown = [
            {"word": w, "count": c}
            for w, c in words.most_common()
            if f"{w}</w>" not in vocab and w not in vocab
        ][:100]
    return {
        "images": len(items),
        "caption_words": {
            "min": min(lengths, default=0),
            "mean": round(sum(lengths) / max(len(lengths), 1), 2),
            "max": max(lengths, default=0),
        },
        "distinct_words": len(words),
        "unknown_words": unknown,
    }


__all__ = [
    "METADATA",
    "Item",
    "Limits",
    "Staging",
    "UploadError",
    "build",
    "check_image",
    "check_name",
    "dataset_path",
    "datasets_dir",
    "item_path",
    "publish",
    "read_items",
    "relative_name",
    "remove_item",
    "set_caption",
    "stage_zip",
    "staging_dir",
    "stats",
]
