"""Answers that change rarely: built once, served with an ETag, 304 when the client has them.

Job kinds and their parameter schemas never change while the process lives; the model list
changes when the models directory does (fingerprinted by the modification times of the
directory, each model's directory and its config files, a few stat calls).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from fastapi import Request, Response

CACHE_CONTROL = "private, no-cache"  # the browser keeps it and asks again: 304 if unchanged


class Cached:
    """A JSON body and its ETag."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    def answer(self, request: Request) -> Response:
        headers = {"ETag": self.etag, "Cache-Control": CACHE_CONTROL}
        wanted = request.headers.get("if-none-match", "")
        if self.etag in (t.strip().removeprefix("W/") for t in wanted.split(",")):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type="application/json", headers=headers)


class KeyedCache:
    """One Cached per key; a new key replaces the old (the key is a fingerprint). One build at a
    time: the requests that arrive while it runs wait for it and share its answer (fifty
    first requests after a start used to build it fifty times at once, each slowing the
    others)."""

    def __init__(self, build: Callable[[], bytes]) -> None:
        self.build = build
        self._key: object = None
        self._value: Cached | None = None
        self._lock = threading.Lock()

    def get(self, key: object) -> Cached:
        value = self._value
        if value is not None and key == self._key:
            return value
        with self._lock:
            if self._value is None or key != self._key:
                self._value, self._key = Cached(self.build()), key
            return self._value


def built_once(build: Callable[[], bytes]) -> Callable[[], Cached]:
    """A Cached built by its first caller while later ones wait for it (never rebuilt)."""
    cache = KeyedCache(build)
    return lambda: cache.get(None)


def models_fingerprint(models_dir: Path) -> tuple[tuple[str, int], ...]:
    """What changes when a model is added, removed, renamed or its configs rewritten."""
    stamps: list[tuple[str, int]] = []
    try:
        stamps.append(("", models_dir.stat().st_mtime_ns))
        for child in sorted(models_dir.iterdir()):
            if not child.is_dir():
                continue
            stamps.append((child.name, child.stat().st_mtime_ns))
            for name in ("model_index.json", "difflab.json", "eval.json"):
                f = child / name
                if f.exists():
                    stamps.append((f"{child.name}/{name}", f.stat().st_mtime_ns))
    except OSError:
        pass
    return tuple(stamps)
