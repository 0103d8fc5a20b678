"""Property-based fuzzing of every operation in the OpenAPI document, against a live server.

Schemathesis generates requests from the document the server publishes; every answer must be
free of server errors and match its documented schema. Without credentials, every operation
but the public ones answers 401 or 403. Bounded: a few examples per operation, a time budget.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.cluster import Cluster, deploy
from tests.reliability.conftest import Recorder, reliability_env

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 12
BUDGET_S = 90.0
PUBLIC = {
    ("GET", "/api/v1/health"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
}


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, dict]]:
    """A server of its own (no worker: fuzzed jobs stay queued), with an admin API key."""
    root = tmp_path_factory.mktemp("fuzz")
    c = deploy(reliability_env(root), root / "logs")
    try:
        api = c.api()
        created = api.post("/api/v1/users/me/api-keys", json={"name": "fuzz"}).json()
        me = api.get("/api/v1/auth/me").json()["user"]
        yield c, {"key": created["key"], "key_id": created["id"], "admin_id": me["id"]}
    finally:
        c.stop()


def _operations(base: str, auth: dict[str, str]) -> dict[str, Any]:
    return dict(httpx.get(base + "/openapi.json", headers=auth, timeout=30).json()["paths"])


@pytest.mark.timeout(300)
def test_schemathesis_fuzz_every_operation(
    fuzz_target: tuple[Cluster, dict], reliability: Recorder
) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, assume, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    cluster, admin = fuzz_target
    auth = {"authorization": f"Bearer {admin['key']}"}
    schema = schemathesis.openapi.from_url(cluster.base + "/openapi.json", headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    reliability.fault(
        f"schemathesis: {len(operations)} operations x <= {MAX_EXAMPLES} generated requests "
        f"as admin (budget {BUDGET_S:.0f} s)"
    )
    deadline = time.monotonic() + BUDGET_S
    calls = {"n": 0}
    failures: list[str] = []

    for op in operations:
        if time.monotonic() > deadline:
            break

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def fuzz(case: Any) -> None:
            # keep the fuzzing admin able to fuzz: not its own account, not its own key
            params = case.path_parameters or {}
            assume(str(params.get("user_id")) != str(admin["admin_id"]))
            assume(str(params.get("key_id")) != str(admin["key_id"]))
            if time.monotonic() > deadline:
                return
            response = case.call(base_url=cluster.base, headers=auth, timeout=30)
            calls["n"] += 1
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            fuzz()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:400]}")

    server_log = Path(cluster.server.log_path).read_text(errors="replace")
    tracebacks = server_log.count("Traceback (most recent call last)")
    assert failures == [], "\n\n".join(failures)
    assert tracebacks == 0, server_log[server_log.index("Traceback") :][:3000]
    reliability.outcome(
        f"{calls['n']} requests: no 5xx, every response matches its schema, "
        "no traceback in the server log"
    )


def test_protected_operations_need_credentials(
    fuzz_target: tuple[Cluster, dict], reliability: Recorder
) -> None:
    cluster, admin = fuzz_target
    paths = _operations(cluster.base, {"authorization": f"Bearer {admin['key']}"})
    operations = [
        (method.upper(), path)
        for path, ops in paths.items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    ]
    reliability.fault(f"all {len(operations)} operations called with no credentials")
    answers = {}
    with httpx.Client(base_url=cluster.base, timeout=30) as client:
        for method, path in operations:
            url = re.sub(r"\{[^}]+\}", "1", path)
            r = client.request(method, url, json={} if method != "GET" else None)
            answers[(method, path)] = r.status_code
    protected = {op: s for op, s in answers.items() if op not in PUBLIC}
    wrong = {f"{m} {p}": s for (m, p), s in protected.items() if s not in (401, 403)}
    assert wrong == {}, wrong
    assert answers[("GET", "/api/v1/health")] in (200, 503)
    reliability.outcome(
        f"{len(protected)} protected operations: all 401/403; "
        f"{len(answers) - len(protected)} public (health, login, logout) answer normally"
    )
