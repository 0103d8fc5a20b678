"""Where a training job writes its model: a new name by default, never over one by accident.

- `output` left empty gets a new name at submit, `<kind>-<yyyy-mm-dd>-<n>`: the first n that no
  model directory has and no unfinished job is going to write.
- A name that exists is refused (422 naming `output`) unless the request says `overwrite: true`.
  A stage that writes one part of a model (clip: the text encoder; vae: the VAE) only conflicts
  with a model that already has that part, so a model can be built stage by stage.
- The job writes into models/.staging/<job id>/<name> and only a job that succeeds puts
  it in place, in one rename (an exchange with the old version where the OS offers one): a
  failed or cancelled run leaves the old model as it was and no half-written one.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from pydantic import BaseModel

from difflab.runtime import ParamError, RunContext, Sink, SubmitContext

STAGING = ".staging"
WHOLE: tuple[str, ...] = ()  # a writer of a whole pipeline directory
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,63}$")


def check_output_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise ParamError(
            "output",
            f"{name!r} is not a model name: letters, digits, '-', '_' and '.', starting with a "
            "letter or digit, at most 64 characters",
        )
    return name


def conflict(models_dir: Path, name: str, parts: tuple[str, ...]) -> str | None:
    """Why writing `parts` of model `name` would overwrite something, or None."""
    target = models_dir / name
    if not target.exists():
        return None
    if not parts:
        return f"model {name!r} exists"
    have = [p for p in parts if (target / p).exists()]
    if have:
        return f"model {name!r} already has {', '.join(have)}"
    return None


def resolve_output(
    name: str,
    overwrite: bool,
    kind: str,
    parts: tuple[str, ...],
    ctx: SubmitContext,
    taken: Callable[[str], str | None] | None = None,
) -> str:
    """The output name a job will write: a new one for "", the given one when it is free.
    `taken(name)` says why a name is in use (default: a model directory, see `conflict`)."""
    if not name:
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        for n in range(1, 10_000):
            candidate = f"{kind}-{day}-{n}"
            used = taken(candidate) if taken else (ctx.models_dir / candidate).exists()
            if not used and ctx.reserved(candidate) is None:
                return candidate
        raise ParamError("output", "no free default name left; choose one")
    check_output_name(name)
    if not ctx.at_submit:
        return name  # the worker: its own job holds the name; the swap is checked on publish
    job = ctx.reserved(name)
    if job is not None:
        raise ParamError("output", f"{name!r} is being written by job {job}; wait for it")
    why = taken(name) if taken else conflict(ctx.models_dir, name, parts)
    if why and not overwrite:
        raise ParamError(
            "output",
            f"{why}; choose a new name (or leave it empty for one), or set overwrite: true to "
            "replace it when this job succeeds",
        )
    return name


def staging_dir(ctx: RunContext, name: str) -> Path:
    return ctx.models_dir / STAGING / ctx.job_id / name


@contextlib.contextmanager
def staged_model(
    ctx: RunContext, name: str, overwrite: bool, parts: tuple[str, ...]
) -> Iterator[Path]:
    """Yield the directory to write model `name` into; put it in place if the block succeeds.

    A part-writer starts from a copy of the existing model, so the parts it does not write are
    kept. A block that raises leaves the existing model untouched and removes the staging copy.
    """
    check_output_name(name)
    final = ctx.models_dir / name
    stage = staging_dir(ctx, name)
    shutil.rmtree(stage.parent, ignore_errors=True)  # a killed earlier attempt's leftovers
    stage.parent.mkdir(parents=True)
    if parts and final.is_dir():
        shutil.copytree(final, stage, symlinks=True)
    try:
        yield stage
        why = conflict(ctx.models_dir, name, parts)
        if why and not overwrite:  # appeared while this job ran
            raise ParamError("output", f"{why} (written while this job ran); nothing replaced")
        publish(stage, final)
    finally:
        shutil.rmtree(stage.parent, ignore_errors=True)
        with contextlib.suppress(OSError):
            (ctx.models_dir / STAGING).rmdir()  # only when no other job stages a model


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def publish(stage: Path, final: Path) -> None:
    """Put `stage` at `final`; an existing `final` is replaced, and kept until then."""
    if not final.exists():
        stage.rename(final)
        return
    if _exchange(stage, final):
        shutil.rmtree(stage)  # now the previous version
        return
    previous = stage.with_name(stage.name + ".previous")
    final.rename(previous)
    stage.rename(final)
    shutil.rmtree(previous)


class Writes(Protocol):
    output: str
    overwrite: bool


P = TypeVar("P", bound=BaseModel)


def output_kind(
    kind: str,
    parts: tuple[str, ...],
    train: Callable[[P, Sink, RunContext, Path], dict[str, Any]],
    check: Callable[[P, SubmitContext], P] | None = None,
) -> tuple[Callable[[P, Sink, RunContext], dict[str, Any]], Callable[[P, SubmitContext], P]]:
    """The `run` and `prepare` of a kind that writes model `output`: `train(p, sink, ctx,
    out_dir)` writes into a staging directory that replaces the model only on success."""

    def prepare(p: P, ctx: SubmitContext) -> P:
        if check is not None:
            p = check(p, ctx)
        w = cast(Writes, p)
        name = resolve_output(w.output, w.overwrite, kind, parts, ctx)
        return p.model_copy(update={"output": name})

    def run(p: P, sink: Sink, ctx: RunContext) -> dict[str, Any]:
        w = cast(Writes, p)
        name = w.output
        if not name:  # a caller that skipped prepare (a test, a script): a new name here too
            name = resolve_output(
                "", w.overwrite, kind, parts, SubmitContext(ctx.models_dir, ctx.data_dir)
            )
        with staged_model(ctx, name, w.overwrite, parts) as out_dir:
            result = train(p, sink, ctx, out_dir)
        return {**result, "model": name, "model_dir": str(ctx.models_dir / name)}

    return run, prepare
