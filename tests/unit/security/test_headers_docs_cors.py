"""Security headers, the OpenAPI docs behind sign-in in production, CORS never a wildcard."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from difflab.config import Settings
from tests.unit.security.conftest import MakeClient
from tests.unit.security.helpers import ALICE, api_key, login

PRODUCTION = {"mode": "production", "secret_key": "a-real-secret-0123456789abcdef"}


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/api/v1/health", "/api/v1/jobs", "/", "/some/client/route"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "same-origin", path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    assert client.get("/api/v1/jobs").headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in client.get("/api/v1/health").headers


def test_production_adds_hsts(make_client: MakeClient) -> None:
    c = make_client(**PRODUCTION)
    assert "max-age=" in c.get("/api/v1/health").headers["strict-transport-security"]


def test_development_serves_the_docs_to_anyone(client: TestClient) -> None:
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_production_docs_need_a_signed_in_user(make_client: MakeClient) -> None:
    c = make_client(**PRODUCTION)
    for path in ("/openapi.json", "/docs"):
        r = c.get(path)
        assert r.status_code == 401, (path, r.status_code)
        assert "paths" not in r.text
    login(c, ALICE)
    doc = c.get("/openapi.json")
    assert doc.status_code == 200 and "/api/v1/jobs" in doc.json()["paths"]
    docs = c.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    c.cookies.clear()
    key = api_key(c, ALICE)
    assert c.get("/openapi.json", headers=key).status_code == 200


@pytest.mark.parametrize("origins", [["*"], ["https://ok.example", "*"], ["null"]])
def test_cors_wildcards_are_refused(origins: list[str]) -> None:
    with pytest.raises(ValidationError, match="CORS"):
        Settings(cors_origins=origins)


def test_cors_is_off_unless_origins_are_listed(client: TestClient) -> None:
    r = client.get("/api/v1/health", headers={"origin": "https://ui.example"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_allows_listed_origins_only(make_client: MakeClient) -> None:
    c = make_client(cors_origins='["https://ui.example"]')
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-csrf-token",
    }
    ok = c.options("/api/v1/jobs", headers={"origin": "https://ui.example", **preflight})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://ui.example"
    assert ok.headers["access-control-allow-credentials"] == "true"
    bad = c.options("/api/v1/jobs", headers={"origin": "https://evil.example", **preflight})
    assert bad.headers.get("access-control-allow-origin") != "https://evil.example"
    assert "access-control-allow-origin" not in bad.headers
    # a listed origin's state change is accepted by the same-origin check
    csrf = login(c, ALICE)
    r = c.post(
        "/api/v1/jobs",
        json={"kind": "sleep", "params": {"steps": 1}},
        headers={**csrf, "origin": "https://ui.example"},
    )
    assert r.status_code == 202
