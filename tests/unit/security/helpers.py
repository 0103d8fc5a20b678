"""Signing in and submitting jobs in the security tests."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.utils.services import ADMIN_PASSWORD

ALICE = ("alice", "alice-password")
BOB = ("bob", "bob-password-1")
ADMIN = ("admin", ADMIN_PASSWORD)


def login(c: TestClient, who: tuple[str, str]) -> dict[str, str]:
    """Sign in with the session cookie; returns the CSRF header to send on state changes."""
    c.cookies.clear()
    r = c.post("/api/v1/auth/login", json={"username": who[0], "password": who[1]})
    assert r.status_code == 200, r.text
    return {"x-csrf-token": r.json()["csrf_token"]}


def api_key(c: TestClient, who: tuple[str, str]) -> dict[str, str]:
    """An API key of `who` as a Bearer header (the cookie jar is left empty)."""
    csrf = login(c, who)
    r = c.post("/api/v1/users/me/api-keys", json={"name": "test"}, headers=csrf)
    assert r.status_code == 201, r.text
    c.cookies.clear()
    return {"authorization": f"Bearer {r.json()['key']}"}


def submit_sleep(c: TestClient, headers: dict[str, str], **params: object) -> dict:
    r = c.post("/api/v1/jobs", json={"kind": "sleep", "params": params}, headers=headers)
    assert r.status_code == 202, r.text
    return dict(r.json())
