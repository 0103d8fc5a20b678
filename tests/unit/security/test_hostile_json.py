"""JSON a client should never send: NaN and Infinity, lone surrogates, NUL bytes. Each is a
4xx naming what is wrong, never a 500, on every route that reads a body, sign-in included."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.unit.conftest import MakeClient
from tests.unit.security.helpers import ALICE, api_key

HOSTILE = {
    "nan": '{"kind": "sleep", "params": {"steps": NaN}}',
    "infinity": '{"kind": "sleep", "params": {"step_seconds": Infinity}}',
    "lone surrogate": '{"kind": "sleep\\ud800", "params": {}}',
    "nul": '{"kind": "sleep\\u0000", "params": {}}',
    "nul in a key": '{"kind": "sleep", "params": {"ste\\u0000ps": 1}}',
}
ROUTES = [
    ("/api/v1/jobs", "{body}"),
    ("/api/v1/generations", '{{"prompt": {value}}}'),
    ("/sdapi/v1/txt2img", '{{"prompt": {value}}}'),
    ("/api/v1/auth/login", '{{"username": {value}, "password": "x"}}'),
]
VALUES = {
    "nan": "NaN",
    "infinity": "-Infinity",
    "lone surrogate": '"a\\udfff b"',
    "nul": '"a\\u0000b"',
    "nul in a key": '"ok", "x\\u0000": 1',
}


@pytest.fixture
def alice(make_client: MakeClient) -> tuple[TestClient, dict[str, str]]:
    c = make_client()
    return c, api_key(c, ALICE)


@pytest.mark.parametrize("case", list(HOSTILE))
@pytest.mark.parametrize(("route", "template"), ROUTES)
def test_hostile_json_is_a_4xx_never_a_500(alice, case: str, route: str, template: str) -> None:
    c, headers = alice
    body = template.format(body=HOSTILE[case], value=VALUES[case])
    r = c.post(route, content=body, headers={**headers, "content-type": "application/json"})
    assert 400 <= r.status_code < 500, (case, route, r.status_code, r.text)
    assert r.status_code != 429 or route != "/api/v1/auth/login"
    detail = r.json()["detail"]
    assert detail, (case, route)


def test_a_body_without_a_content_type_is_held_to_the_same_rules(alice) -> None:
    c, headers = alice
    body = HOSTILE["nan"].encode()
    r = c.post("/api/v1/jobs", content=body, headers={k: v for k, v in headers.items()})
    assert r.status_code == 400 and "NaN" in r.json()["detail"], r.text
    ok = c.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}}, headers=headers)
    assert ok.status_code == 202  # a plain body passes through unchanged
