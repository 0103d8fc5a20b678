"""users create | set-password | create-api-key."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from difflab.accounts import (
    Role,
    create_api_key,
    create_user,
    find_user,
    password_problem,
    set_password,
)
from difflab.cli import app
from difflab.db.engine import session_scope
from difflab.db.models import User

console = Console()
users_app = typer.Typer(help="Manage users and API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _user(s: Session, name: str) -> User:
    user = find_user(s, name)
    if user is None:
        console.print(f"[red]no user {name!r}[/red]")
        raise typer.Exit(1)
    return user


@users_app.command("create")
def create(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[str, typer.Option(help="admin or learner")] = "learner",
) -> None:
    """Create a user."""
    if role not in ("admin", "learner"):
        raise typer.BadParameter("role must be admin or learner", param_hint="--role")
    problem = password_problem(password, name)
    if problem:
        raise typer.BadParameter(problem, param_hint="--password")
    r: Role = "admin" if role == "admin" else "learner"
    with session_scope() as s:
        try:
            create_user(s, name, password, r)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    console.print(f"created {role} {name}")


@users_app.command("set-password")
def set_pw(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Set a user's password (ends their browser sessions and revokes their API keys)."""
    problem = password_problem(password, name)
    if problem:
        raise typer.BadParameter(problem, param_hint="--password")
    with session_scope() as s:
        set_password(s, _user(s, name), password)
    console.print(f"password of {name} changed")


@users_app.command("create-api-key")
def create_key(name: str, key_name: Annotated[str, typer.Option("--name")] = "cli") -> None:
    """Create an API key for a user; the key is printed alone on the last line, once."""
    with session_scope() as s:
        _, key = create_api_key(s, _user(s, name), key_name)
    console.print(f"API key for {name} (shown once; send it as 'Authorization: Bearer <key>'):")
    print(key)
