"""The `difflab` command line (typer). Each module here adds its commands to `app`."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="difflab",
    help="Text-to-image latent diffusion you can train, run and understand.",
    no_args_is_help=True,
    add_completion=False,
)

# modules that register commands on `app` (feature modules are added when they exist)
COMMAND_MODULES = ("service", "jobs", "users", "generate", "train")

for _name in COMMAND_MODULES:
    try:
        importlib.import_module(f"difflab.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"difflab.cli.{_name}":
            raise
