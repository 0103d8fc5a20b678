"""train KIND and eval MODEL: run training and evaluation kinds here or on a server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from difflab.cli import app
from difflab.cli.local import console, parse_sets, run_local, run_remote

SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="a parameter: key=value")]
ServerOpt = Annotated[str | None, typer.Option(help="run on this server (http://host:port)")]
KeyOpt = Annotated[str | None, typer.Option(help="API key for --server (or DIFFLAB_API_KEY)")]
OutOpt = Annotated[Path | None, typer.Option(help="where to write artifacts (local runs)")]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu, cuda, cuda:N (local runs)")]


def _kinds(category: tuple[str, ...]) -> dict:
    from difflab.jobs.registry import all_kinds

    return {n: s for n, s in all_kinds().items() if s.category in category}


@app.command()
def train(
    kind: Annotated[
        str, typer.Argument(help="a training or lab kind: clip, vae, unet, house, lab.*")
    ],
    set_: SetOpt = None,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    out: OutOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Train: a house-model stage or a learning-lab model (parameters with --set key=value)."""
    kinds = _kinds(("training", "lab", "diagnostic"))
    if kind not in kinds:
        console.print(f"[red]unknown kind {kind!r}; choose from: {', '.join(kinds)}[/red]")
        raise typer.Exit(2)
    params = parse_sets(set_ or [])
    if server:
        run_remote(server, api_key, kind, params)
    else:
        run_local(kinds[kind], params, out, device)


@app.command("eval")
def evaluate(
    model: Annotated[str, typer.Argument(help="a model directory name inside the models dir")],
    set_: SetOpt = None,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    out: OutOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Evaluate a model: prompt adherence, CLIP score and FID (the `eval` kind)."""
    kinds = _kinds(("evaluation",))
    if "eval" not in kinds:
        console.print("[red]the eval kind is not available in this installation[/red]")
        raise typer.Exit(2)
    params = {"model": model, **parse_sets(set_ or [])}
    if server:
        run_remote(server, api_key, "eval", params)
    else:
        run_local(kinds["eval"], params, out, device)
