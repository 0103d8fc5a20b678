"""jobs list | show | cancel — straight on the database, for operators on the server host."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from difflab.cli import app
from difflab.db.engine import session_scope
from difflab.db.models import Job

console = Console()
jobs_app = typer.Typer(help="List, show and cancel jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("list")
def list_jobs(
    state: Annotated[
        str | None, typer.Option(help="queued, running, succeeded, failed, cancelled")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="job kind")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """The most recent jobs."""
    with session_scope() as s:
        q = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if state:
            q = q.where(Job.state == state)
        if kind:
            q = q.where(Job.kind == kind)
        rows = list(s.scalars(q))
    table = Table("id", "kind", "state", "progress", "attempts", "created", "error")
    for j in rows:
        table.add_row(
            j.id,
            j.kind,
            j.state,
            f"{j.progress:.0%}",
            str(j.attempts),
            j.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            (j.error or "")[:60],
        )
    console.print(table)


@jobs_app.command("show")
def show_job(job_id: str) -> None:
    """One job, whole, as JSON."""
    from difflab.api.schemas import JobPublic

    with session_scope() as s:
        job = s.get(Job, job_id)
        if job is None:
            console.print(f"[red]no job {job_id}[/red]")
            raise typer.Exit(1)
        console.print_json(json.dumps(JobPublic.model_validate(job).model_dump(mode="json")))


@jobs_app.command("cancel")
def cancel_job(job_id: str) -> None:
    """Cancel a queued job now, or ask a running one to stop at its next step."""
    from difflab.jobs.lifecycle import request_cancel

    with session_scope() as s:
        job = s.get(Job, job_id)
        if job is None:
            console.print(f"[red]no job {job_id}[/red]")
            raise typer.Exit(1)
        job = request_cancel(s, job)
        console.print(
            f"{job.id}: {job.state}{' (cancel requested)' if job.cancel_requested else ''}"
        )
