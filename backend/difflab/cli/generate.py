"""generate PROMPT: text to image, in this process or through a server, with a progress bar."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from difflab.cli import app
from difflab.cli.local import console, follow, run_local


def _params(
    prompt: str,
    negative: str,
    model: str,
    sampler: str,
    steps: int,
    guidance: float | None,
    seed: int,
    width: int | None,
    height: int | None,
    batch: int,
    frames: Path | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "prompt": prompt,
        "negative_prompt": negative,
        "model": model,
        "sampler": sampler,
        "steps": steps,
        "seed": seed,
        "width": width,
        "height": height,
        "batch_size": batch,
        "preview": "approx" if frames else "none",
        "attention": False,
    }
    if guidance is not None:  # left out: the model's default guidance applies
        params["guidance_scale"] = guidance
    return params


def _outputs(out: Path, n: int) -> list[Path]:
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{i}{out.suffix}") for i in range(n)]


@app.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="what to draw")],
    negative_prompt: Annotated[str, typer.Option("--negative", help="what to avoid")] = "",
    model: Annotated[str, typer.Option(help="model directory name")] = "house",
    sampler: Annotated[str, typer.Option(help="sampler, e.g. 'DPM++ 2M', 'Euler a'")] = "DPM++ 2M",
    steps: Annotated[int, typer.Option(min=1, max=150)] = 25,
    guidance: Annotated[
        float | None,
        typer.Option("--guidance", "--cfg", min=0, max=30, help="default: the model's"),
    ] = None,
    seed: Annotated[int, typer.Option(help="-1 for a random seed")] = -1,
    width: Annotated[int | None, typer.Option(help="pixels (default: the model's size)")] = None,
    height: Annotated[int | None, typer.Option(help="pixels (default: the model's size)")] = None,
    batch: Annotated[int, typer.Option(min=1, max=16)] = 1,
    out: Annotated[Path, typer.Option(help="where to write the PNG")] = Path("out.png"),
    frames: Annotated[Path | None, typer.Option(help="write every preview frame here")] = None,
    server: Annotated[
        str | None, typer.Option(help="run on this server (http://host:port)")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="API key for --server")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:N (local runs)")] = None,
) -> None:
    """Generate images from a prompt; the PNG carries its parameters (A1111 infotext)."""
    params = _params(
        prompt, negative_prompt, model, sampler, steps, guidance, seed, width, height, batch, frames
    )
    if server:
        _remote(server, api_key, params, out, frames)
        return
    from difflab.jobs.registry import get_kind

    scratch = Path(typer.get_app_dir("difflab")) / "last-generation"
    shutil.rmtree(scratch, ignore_errors=True)
    result = run_local(get_kind("generate"), params, scratch, device)
    for name, path in zip(result["images"], _outputs(out, len(result["images"])), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(scratch / name, path)
        console.print(f"wrote {path}")
    if frames:
        _copy_frames(scratch / "steps", frames)


def _copy_frames(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    for f in sorted(src.glob("*.png")):
        shutil.copyfile(f, dest / f.name)
        count += 1
    console.print(f"wrote {count} frames to {dest}")


def _remote(
    server: str, api_key: str | None, params: dict[str, Any], out: Path, frames: Path | None
) -> None:
    import os

    import httpx

    key = api_key or os.environ.get("DIFFLAB_API_KEY")
    if not key:
        raise typer.BadParameter(
            "an API key is needed (--api-key or DIFFLAB_API_KEY)", param_hint="--api-key"
        )
    with httpx.Client(
        base_url=server.rstrip("/"), timeout=60, headers={"authorization": f"Bearer {key}"}
    ) as client:
        r = client.post("/api/v1/generations", json=params)
        if r.status_code >= 400:
            console.print(f"[red]{r.status_code}: {r.text}[/red]")
            raise typer.Exit(2)
        job_id = r.json()["job"]["id"]
        follow(client, job_id)
        gen = client.get(f"/api/v1/generations/{r.json()['generation']['id']}").json()
        if gen["state"] != "succeeded":
            console.print(f"[red]{gen['state']}: {gen.get('error') or ''}[/red]")
            raise typer.Exit(1)
        for url, path in zip(gen["images"], _outputs(out, len(gen["images"])), strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(client.get(url).content)
            console.print(f"wrote {path}")
        if frames:
            frames.mkdir(parents=True, exist_ok=True)
            events = client.get(
                f"/api/v1/jobs/{job_id}/events", headers={"accept": "application/json"}
            ).json()
            for e in events:
                if e["type"] == "artifact" and e["payload"]["name"].startswith("steps/"):
                    name = e["payload"]["name"].split("/", 1)[1]
                    (frames / name).write_bytes(client.get(e["payload"]["url"]).content)
            console.print(f"wrote frames to {frames}")
