"""Unit tests: the API in-process on a real SQLite database and the embedded broker, with three
users (an admin, alice and bob)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from difflab.accounts import create_user, ensure_admin
from difflab.api.app import create_app
from difflab.db.engine import session_scope
from tests.unit.security.helpers import ADMIN, ALICE, BOB
from tests.utils.services import reset_caches

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(embedded_env: dict[str, str]) -> Iterator[MakeClient]:
    """A TestClient on a fresh deployment; keyword arguments are settings (DIFFLAB_<NAME>)."""
    clients: list[TestClient] = []
    seeded = False

    def make(**settings: object) -> TestClient:
        nonlocal seeded
        for name, value in settings.items():
            os.environ[f"DIFFLAB_{name.upper()}"] = str(value)
        reset_caches()
        if not seeded:
            with session_scope() as s:
                ensure_admin(s, *ADMIN)
                create_user(s, *ALICE, "learner")
                create_user(s, *BOB, "learner")
            seeded = True
        # production cookies are Secure: the client must speak https to get them back
        scheme = "https" if settings.get("mode") == "production" else "http"
        client = TestClient(create_app(reconcile=False), base_url=f"{scheme}://testserver")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)
