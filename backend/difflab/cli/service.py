"""serve, worker, migrate, reconcile."""

from __future__ import annotations

import ipaddress
import signal
from typing import Annotated

import typer
from rich.console import Console

from difflab.cli import app
from difflab.config import PLACEHOLDER_SECRETS, Settings, get_settings

console = Console()


def _prepare() -> str | None:
    """Apply migrations and create the first admin; returns a generated password, if any."""
    from difflab.accounts import ensure_admin
    from difflab.db.engine import session_scope
    from difflab.db.migrate import upgrade_head, wait_for_database
    from difflab.jobs.publish import declare_queues

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    wait_for_database()
    upgrade_head()
    declare_queues()
    with session_scope() as s:
        return ensure_admin(s, settings.admin_user, settings.admin_password)


WEAK_ADMIN_PASSWORDS = {"admin", "password", "changeme", "change-me", "difflab", "secret"}
MIN_EXPOSED_PASSWORD = 12


def is_loopback(host: str) -> bool:
    """Only "localhost" and loopback addresses (127.0.0.0/8, ::1) count; names are not resolved."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve to any address


def exposure_refusal(host: str, settings: Settings) -> str | None:
    """Binding beyond this machine needs a real secret key and a chosen, strong admin password."""
    if is_loopback(host):
        return None
    problems = []
    if settings.secret_key in PLACEHOLDER_SECRETS:
        problems.append("set DIFFLAB_SECRET_KEY to a real secret")
    password = settings.admin_password
    if not password:
        problems.append("set DIFFLAB_ADMIN_PASSWORD")
    elif password.lower() in WEAK_ADMIN_PASSWORDS or len(password) < MIN_EXPOSED_PASSWORD:
        problems.append(
            f"choose a DIFFLAB_ADMIN_PASSWORD of at least {MIN_EXPOSED_PASSWORD} characters"
            " that is not a default"
        )
    if problems:
        return f"refusing to listen on {host}: {'; '.join(problems)} (or bind 127.0.0.1)"
    return None


@app.command()
def migrate(wait: Annotated[bool, typer.Option(help="wait for the database first")] = True) -> None:
    """Apply the database migrations (alembic upgrade head)."""
    from difflab.db.migrate import upgrade_head, wait_for_database
    from difflab.jobs.publish import declare_queues

    get_settings().data_dir.mkdir(parents=True, exist_ok=True)
    if wait:
        wait_for_database()
    upgrade_head()
    declare_queues()
    console.print("[green]database is at the latest migration[/green]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8000)")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="do not start a worker")] = False,
) -> None:
    """Start the API (and, unless --no-worker, one embedded worker for both queues)."""
    import uvicorn

    from difflab.api.app import create_app

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    refusal = exposure_refusal(host, settings)
    if refusal:
        console.print(f"[red]{refusal}[/red]")
        raise typer.Exit(2)
    generated = _prepare()
    embedded = None
    if not no_worker:
        from difflab.jobs.embedded import EmbeddedWorker, WorkerDirLocked

        embedded = EmbeddedWorker(settings.data_dir, settings.stop_grace_s)
        try:
            embedded.start()
        except WorkerDirLocked as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    console.print(f"[bold]difflab[/bold] on [link]http://{host}:{port}[/link]")
    if generated:
        console.print(
            f"admin sign-in: [bold]{settings.admin_user}[/bold] / [bold]{generated}[/bold]"
            " (shown once; set DIFFLAB_ADMIN_PASSWORD to choose it)"
        )
    else:
        console.print(
            f"admin sign-in: {settings.admin_user} (password as set, or as printed at first start)"
        )
    # SIGTERM / Ctrl-C: uvicorn stops taking requests and gives open ones (event streams
    # included) stop_grace_s; it then raises the signal again, which lands here as a clean exit,
    # and the worker gets as long to end its job before a cold stop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    try:
        if settings.api_processes > 1:
            # each process builds its app from the same settings (the environment); uvicorn's
            # supervisor takes SIGTERM/Ctrl-C, stops them and returns here
            uvicorn.run(
                "difflab.api.app:create_app",
                factory=True,
                workers=settings.api_processes,
                host=host,
                port=port,
                log_level="info",
                access_log=settings.access_log,
                timeout_graceful_shutdown=max(1, round(settings.stop_grace_s)),
            )
        else:
            uvicorn.run(
                create_app(settings),
                host=host,
                port=port,
                log_level="info",
                access_log=settings.access_log,
                timeout_graceful_shutdown=max(1, round(settings.stop_grace_s)),
            )
    finally:
        if embedded is not None:
            embedded.stop()


def _exit_cleanly(signum: int, _frame: object) -> None:
    """The first SIGTERM/SIGINT becomes exit 0; later ones wait for the bounded clean-up."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise SystemExit(0)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="comma-separated queues to consume")] = "gpu,cpu",
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="parallel jobs")] = 1,
    device: Annotated[str | None, typer.Option(help="torch device: cpu, cuda, cuda:N")] = None,
    name: Annotated[
        str | None, typer.Option(help="worker name (default from host and device)")
    ] = None,
) -> None:
    """Start a Celery worker; on a host with several GPUs, one per GPU (--device cuda:N)."""
    from difflab.jobs.celery_app import QUEUES
    from difflab.jobs.worker import run_worker

    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in wanted if q not in QUEUES]
    if unknown or not wanted:
        raise typer.BadParameter(
            f"unknown queue(s) {unknown}; choose from {list(QUEUES)}", param_hint="--queues"
        )
    run_worker(wanted, concurrency, device, name)


@app.command()
def reconcile() -> None:
    """Run one reconciler pass: requeue or fail jobs whose worker died; republish lost messages."""
    from difflab.jobs.reconciler import reconcile_once

    console.print(reconcile_once())
