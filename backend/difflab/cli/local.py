"""Running a job kind from the CLI: in this process (a Sink drawn with rich) or through a server."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from difflab.config import get_settings
from difflab.runtime import (
    JobCancelled,
    KindSpec,
    MemorySink,
    ParamError,
    RunContext,
    SubmitContext,
)

console = Console()


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values are read as JSON where they parse (numbers, lists, true)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint="--set")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


class RichSink(MemorySink):
    """A MemorySink that draws a progress bar and prints metrics as they come."""

    def __init__(self, progress: Progress, artifact_dir: Path | None, every_s: float = 1.0) -> None:
        super().__init__(artifact_dir=artifact_dir)
        self.bar = progress
        self.task = progress.add_task("running", total=None)
        self.every_s = every_s
        self._last_print = 0.0

    def progress(self, done: int, total: int, message: str = "") -> None:
        super().progress(done, total, message)
        self.bar.update(self.task, completed=done, total=total, description=message or "running")

    def metric(self, step: int, values: Mapping[str, float], *, epoch: float | None = None) -> None:
        super().metric(step, values, epoch=epoch)
        now = time.monotonic()
        if now - self._last_print >= self.every_s:
            self._last_print = now
            shown = "  ".join(f"{k}={v:.4g}" for k, v in values.items())
            self.bar.console.print(f"step {step}: {shown}")

    def log(self, message: str) -> None:
        super().log(message)
        self.bar.console.print(message)


def validate(spec: KindSpec, params: dict[str, Any]) -> Any:
    try:
        return spec.params.model_validate(params)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"]) or "params"
            console.print(f"[red]{field}: {err['msg']}[/red]")
        raise typer.Exit(2) from None


def run_local(spec: KindSpec, params: dict[str, Any], out: Path | None, device: str | None) -> dict:
    """Run a kind in this process; artifacts go to `out` (or the data dir's jobs folder)."""
    settings = get_settings()
    model = validate(spec, params)
    try:  # the checks a server would run at submit
        model = spec.check(model, SubmitContext(settings.models_dir, settings.data_dir))
    except ParamError as exc:
        console.print(f"[red]{exc.field}: {exc.message}[/red]")
        raise typer.Exit(2) from None
    job_id = f"cli-{uuid.uuid4().hex[:8]}"
    work_dir = settings.jobs_dir / job_id
    work_dir.mkdir(parents=True, exist_ok=True)
    if device is None:
        from difflab.jobs.worker import default_device

        device = default_device()
    ctx = RunContext(
        job_id=job_id,
        device=device,
        work_dir=work_dir,
        models_dir=settings.models_dir,
        data_dir=settings.data_dir,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        sink = RichSink(bar, out or work_dir / "artifacts")
        try:
            result = dict(spec.run(model, sink, ctx) or {})
        except JobCancelled:
            console.print("[yellow]cancelled[/yellow]")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]")
            raise typer.Exit(130) from None
    console.print_json(json.dumps(result, default=str))
    return result


def run_remote(server: str, api_key: str | None, kind: str, params: dict[str, Any]) -> dict:
    """Submit a job to a server and follow its events with a progress bar."""
    import httpx

    key = api_key or os.environ.get("DIFFLAB_API_KEY")
    if not key:
        raise typer.BadParameter(
            "an API key is needed (--api-key or DIFFLAB_API_KEY)", param_hint="--api-key"
        )
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=30) as client:
        r = client.post("/api/v1/jobs", json={"kind": kind, "params": params})
        if r.status_code >= 400:
            console.print(f"[red]{r.status_code}: {r.text}[/red]")
            raise typer.Exit(2)
        job = r.json()
        follow(client, job["id"])
        return dict(client.get(f"/api/v1/jobs/{job['id']}").json())


def follow(client: Any, job_id: str) -> None:
    """Draw a job's progress from its SSE stream until it ends."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(job_id[:8], total=None)
        with client.stream("GET", f"/api/v1/jobs/{job_id}/events", timeout=None) as resp:
            event = None
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    data = json.loads(line.split(":", 1)[1])
                    if event == "end":
                        bar.console.print(f"job {job_id}: {data['state']}")
                        return
                    payload = data.get("payload", {})
                    if event == "progress":
                        bar.update(task, completed=payload["done"], total=payload["total"])
                    elif event == "state" and payload.get("error"):
                        bar.console.print(f"[red]{payload['error']}[/red]")
