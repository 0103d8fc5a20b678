"""The session cookie's flags, and the CSRF token on every state-changing cookie request."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.unit.security.conftest import MakeClient
from tests.unit.security.helpers import ADMIN, ALICE, login

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
NO_SESSION_NEEDED = {"/api/v1/auth/login"}  # signing in is what makes the session


def _cookie_attributes(set_cookie: str) -> dict[str, str]:
    parts = [p.strip() for p in set_cookie.split(";")]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1) + [""])[1] for p in parts[1:]}


def test_session_cookie_is_httponly_samesite_strict(client: TestClient) -> None:
    r = client.post("/api/v1/auth/login", json={"username": ALICE[0], "password": ALICE[1]})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("difflab_session=")
    attrs = _cookie_attributes(cookie)
    assert "httponly" in attrs
    assert attrs["samesite"].lower() == "strict"
    assert attrs["path"] == "/"
    assert int(attrs["max-age"]) == 14 * 86400
    assert "secure" not in attrs  # development serves plain http on loopback
    assert r.json()["csrf_token"] and r.json()["csrf_token"] not in cookie


def test_production_cookie_is_also_secure(make_client: MakeClient) -> None:
    c = make_client(mode="production", secret_key="a-real-secret-0123456789abcdef")
    r = c.post("/api/v1/auth/login", json={"username": ALICE[0], "password": ALICE[1]})
    assert r.status_code == 200
    assert "secure" in _cookie_attributes(r.headers["set-cookie"])


def _state_changing_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every state-changing operation of the OpenAPI document (all routers, A1111 included)."""
    routes = []
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if path in NO_SESSION_NEEDED:
            continue
        for method in sorted(m.upper() for m in operations if m.upper() in STATE_CHANGING):
            # fill path parameters with plausible values; auth runs before they are looked up
            routes.append((method, re.sub(r"\{[^}]+\}", "1", path)))
    return routes


def test_every_state_changing_route_needs_the_csrf_token(client: TestClient) -> None:
    csrf = login(client, ADMIN)
    routes = _state_changing_routes(client)
    assert len(routes) >= 8, routes  # jobs, cancel, retry, delete, users, keys, logout, ...
    for method, path in routes:
        for headers in ({}, {"x-csrf-token": "not-the-token"}):
            r = client.request(method, path, json={}, headers=headers)
            assert r.status_code == 403, (method, path, headers, r.status_code, r.text)
            assert "CSRF" in r.json()["detail"]
    # and the same request with the token gets past the check
    r = client.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}}, headers=csrf)
    assert r.status_code == 202


def test_logout_needs_the_token_and_ends_the_session(client: TestClient) -> None:
    csrf = login(client, ALICE)
    assert client.post("/api/v1/auth/logout").status_code == 403
    assert client.get("/api/v1/auth/me").status_code == 200
    r = client.post("/api/v1/auth/logout", headers=csrf)
    assert r.status_code == 204
    assert "difflab_session=" in r.headers["set-cookie"]
    assert client.get("/api/v1/auth/me").status_code == 401


def test_signing_in_again_replaces_the_session(client: TestClient) -> None:
    login(client, ALICE)
    first = client.cookies.get("difflab_session")
    r = client.post("/api/v1/auth/login", json={"username": ALICE[0], "password": ALICE[1]})
    assert r.status_code == 200
    second = client.cookies.get("difflab_session")
    assert first and second and first != second
    client.cookies.clear()
    assert client.get("/api/v1/auth/me", cookies={"difflab_session": first}).status_code == 401
    assert client.get("/api/v1/auth/me", cookies={"difflab_session": second}).status_code == 200


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://testserver.evil.example", "null", "http://localhost:1"],
)
def test_a_cross_origin_post_is_refused_even_with_the_token(client: TestClient, origin) -> None:
    csrf = login(client, ADMIN)
    body = {"username": "mallory", "password": "s3cret-passphrase", "role": "admin"}
    r = client.post("/api/v1/users", json=body, headers={**csrf, "origin": origin})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    users = [u["username"] for u in client.get("/api/v1/users").json()["data"]]
    assert "mallory" not in users
    # the same request from the app's own origin is accepted
    r = client.post("/api/v1/users", json=body, headers={**csrf, "origin": "http://testserver"})
    assert r.status_code == 201


def test_behind_a_trusted_proxy_the_forwarded_host_is_this_origin(
    make_client: MakeClient,
) -> None:
    client = make_client(trusted_proxies='["testclient"]')  # TestClient's own address
    csrf = login(client, ADMIN)
    body = {"username": "proxied", "password": "s3cret-passphrase"}
    headers = {**csrf, "origin": "https://difflab.example", "x-forwarded-host": "difflab.example"}
    assert client.post("/api/v1/users", json=body, headers=headers).status_code == 201


def test_a_forwarded_host_from_anyone_else_is_ignored(client: TestClient) -> None:
    """By default no proxy is trusted: a client cannot vouch for its own origin."""
    csrf = login(client, ADMIN)
    body = {"username": "forged", "password": "s3cret-passphrase"}
    headers = {**csrf, "origin": "https://evil.example", "x-forwarded-host": "evil.example"}
    r = client.post("/api/v1/users", json=body, headers=headers)
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]


def test_a_cross_site_fetch_without_origin_is_refused(client: TestClient) -> None:
    csrf = login(client, ADMIN)
    r = client.post(
        "/api/v1/users",
        json={"username": "mallory", "password": "s3cret-passphrase"},
        headers={**csrf, "sec-fetch-site": "cross-site"},
    )
    assert r.status_code == 403


def test_a_form_post_cannot_sign_in(client: TestClient) -> None:
    """Login CSRF: a cross-site HTML form can only send form or text bodies, never JSON."""
    r = client.post(
        "/api/v1/auth/login",
        content=b'{"username": "admin", "password": "admin-password-1"}',
        headers={"content-type": "text/plain"},
    )
    assert r.status_code == 422
    assert "difflab_session" not in r.headers.get("set-cookie", "")
