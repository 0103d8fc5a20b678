"""Credentials are never stored in the clear: argon2 passwords, digested keys and sessions."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from difflab.accounts import (
    LastAdmin,
    authenticate,
    create_api_key,
    create_user,
    update_user,
    user_for_api_key,
)
from difflab.db.engine import session_scope
from difflab.db.models import ApiKey, User, WebSession
from tests.unit.security.helpers import ADMIN, ALICE, BOB, api_key, login
from tests.utils.services import reset_caches


def _dump_database() -> str:
    """Every value of every row of the credential tables, as one string."""
    out = []
    with session_scope() as s:
        for table in ("users", "api_keys", "web_sessions", "audit_log"):
            out += [repr(tuple(row)) for row in s.execute(text(f"SELECT * FROM {table}"))]
    return "\n".join(out)


def test_passwords_are_argon2id_hashes(client: TestClient) -> None:
    with session_scope() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == ALICE[0]))
        assert stored is not None and stored.startswith("$argon2id$")
        assert ALICE[1] not in stored
        assert authenticate(s, *ALICE) is not None
        assert authenticate(s, ALICE[0], ALICE[1] + "x") is None
        # the same password hashes differently for another user (a salt per hash)
        other = create_user(s, "carol", ALICE[1])
        assert other.password_hash != stored
    assert ALICE[1] not in _dump_database()


def test_api_keys_are_stored_hashed_and_shown_once(client: TestClient) -> None:
    csrf = login(client, ALICE)
    r = client.post("/api/v1/users/me/api-keys", json={"name": "laptop"}, headers=csrf)
    assert r.status_code == 201
    key = r.json()["key"]
    assert key.startswith("dl_") and len(key) > 40
    with session_scope() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.name == "laptop"))
        assert row is not None
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in _dump_database()
    listed = client.get("/api/v1/users/me/api-keys").json()
    assert [k["name"] for k in listed] == ["laptop"]
    assert all("key" not in k and key not in str(k) for k in listed)
    assert listed[0]["prefix"] == key[:12]
    # the key works as a Bearer token, until it is revoked
    client.cookies.clear()
    bearer = {"authorization": f"Bearer {key}"}
    assert client.get("/api/v1/auth/me", headers=bearer).json()["user"]["username"] == "alice"
    csrf = login(client, ALICE)
    key_id = listed[0]["id"]
    assert client.delete(f"/api/v1/users/me/api-keys/{key_id}", headers=csrf).status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401


def test_a_key_with_a_matching_prefix_but_wrong_rest_is_refused(client: TestClient) -> None:
    with session_scope() as s:
        alice = s.scalar(select(User).where(User.username == ALICE[0]))
        assert alice is not None
        _, key = create_api_key(s, alice, "k")
    forged = key[:12] + "A" * (len(key) - 12)
    with session_scope() as s:
        assert user_for_api_key(s, forged) is None
        assert user_for_api_key(s, key) is not None


def test_session_tokens_are_keyed_digests(client: TestClient, monkeypatch) -> None:
    login(client, ALICE)
    token = client.cookies.get("difflab_session")
    assert token and token not in _dump_database()
    with session_scope() as s:
        stored = s.scalar(select(WebSession.token_hash))
    assert stored not in (token, hashlib.sha256(token.encode()).hexdigest())
    assert client.get("/api/v1/auth/me").status_code == 200
    # a new secret key signs every browser out
    monkeypatch.setenv("DIFFLAB_SECRET_KEY", "another-secret-key-0123456789")
    reset_caches()
    assert client.get("/api/v1/auth/me").status_code == 401


def test_a_new_password_ends_every_session(client: TestClient) -> None:
    csrf = login(client, ALICE)
    r = client.post(
        "/api/v1/users/me/password",
        json={"current_password": "wrong-one", "new_password": "a-new-password"},
        headers=csrf,
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/users/me/password",
        json={"current_password": ALICE[1], "new_password": "a-new-password"},
        headers=csrf,
    )
    assert r.status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    login(client, (ALICE[0], "a-new-password"))


def test_deactivated_users_cannot_sign_in_or_use_keys(client: TestClient) -> None:
    csrf = login(client, ADMIN)
    with session_scope() as s:
        alice = s.scalar(select(User).where(User.username == ALICE[0]))
        assert alice is not None
        _, key = create_api_key(s, alice, "k")
        alice_id = alice.id
    r = client.patch(f"/api/v1/users/{alice_id}", json={"is_active": False}, headers=csrf)
    assert r.status_code == 200 and r.json()["is_active"] is False
    client.cookies.clear()
    r = client.post("/api/v1/auth/login", json={"username": ALICE[0], "password": ALICE[1]})
    assert r.status_code == 401
    assert client.get("/api/v1/jobs", headers={"authorization": f"Bearer {key}"}).status_code == 401


def test_the_last_admin_cannot_be_demoted_or_deactivated(client: TestClient) -> None:
    with session_scope() as s:
        admin = s.scalar(select(User).where(User.username == ADMIN[0]))
        assert admin is not None
        with pytest.raises(LastAdmin):
            update_user(s, admin, role="learner")
        with pytest.raises(LastAdmin):
            update_user(s, admin, is_active=False)
    csrf = login(client, ADMIN)
    r = client.patch("/api/v1/users/1", json={"role": "learner"}, headers=csrf)
    assert r.status_code == 409 and "last active admin" in r.json()["detail"]
    # with a second admin, the first may step down
    r = client.post(
        "/api/v1/users",
        json={"username": "second", "password": "tulip-passphrase-2", "role": "admin"},
        headers=csrf,
    )
    assert r.status_code == 201
    assert (
        client.patch("/api/v1/users/1", json={"role": "learner"}, headers=csrf).status_code == 200
    )


def test_a_password_reset_revokes_the_users_api_keys(client: TestClient) -> None:
    key = api_key(client, ALICE)
    assert client.get("/api/v1/jobs", headers=key).status_code == 200
    csrf = login(client, ALICE)
    r = client.post(
        "/api/v1/users/me/password",
        json={"current_password": ALICE[1], "new_password": "a-new-passphrase"},
        headers=csrf,
    )
    assert r.status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/jobs", headers=key).status_code == 401
    # the same when an admin sets it
    key = api_key(client, (ALICE[0], "a-new-passphrase"))
    admin = login(client, ADMIN)
    alice_id = client.get("/api/v1/auth/me", headers=key).json()["user"]["id"]
    r = client.patch(f"/api/v1/users/{alice_id}", json={"password": "another-passphrase"},
                     headers=admin)  # fmt: skip
    assert r.status_code == 200
    client.cookies.clear()
    assert client.get("/api/v1/jobs", headers=key).status_code == 401


def test_an_api_key_cannot_create_keys_and_admins_list_and_revoke_anyones(
    client: TestClient,
) -> None:
    key = api_key(client, ALICE)
    r = client.post("/api/v1/users/me/api-keys", json={"name": "more"}, headers=key)
    assert r.status_code == 403 and "password sign-in" in r.json()["detail"]
    alice_id = client.get("/api/v1/auth/me", headers=key).json()["user"]["id"]
    admin = login(client, ADMIN)
    (listed,) = client.get(f"/api/v1/users/{alice_id}/api-keys", headers=admin).json()
    assert "key" not in listed and listed["prefix"] in key["authorization"]
    r = client.delete(f"/api/v1/users/{alice_id}/api-keys/{listed['id']}", headers=admin)
    assert r.status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/jobs", headers=key).status_code == 401
    # a user cannot list another's keys
    bob = api_key(client, BOB)
    assert client.get(f"/api/v1/users/{alice_id}/api-keys", headers=bob).status_code == 403


def test_names_differing_only_in_case_are_one_user_and_weak_passwords_are_refused(
    client: TestClient,
) -> None:
    admin = login(client, ADMIN)
    r = client.post("/api/v1/users", json={"username": "ALICE", "password": "x-long-passphrase"},
                    headers=admin)  # fmt: skip
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    cases = [("short-1", "at least 10"), ("password123", "too easy"),
             ("aaaaaaaaaaaa", "too easy"), ("carol-is-here-1", "username")]  # fmt: skip
    for password, why in cases:
        r = client.post("/api/v1/users", json={"username": "carol", "password": password},
                        headers=admin)  # fmt: skip
        assert r.status_code == 422, (password, r.text)
        (err,) = r.json()["detail"]
        assert err["loc"][-1] == "password" and why in err["msg"], (password, err)
    client.cookies.clear()
    # sign-in finds the user whatever the case of the name
    r = client.post("/api/v1/auth/login", json={"username": "Alice", "password": ALICE[1]})
    assert r.status_code == 200 and r.json()["user"]["username"] == ALICE[0]


def test_sign_in_does_the_same_work_for_unknown_deactivated_and_wrong(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing cannot tell the cases apart: each runs exactly one argon2 verification."""
    import difflab.accounts as accounts

    calls: list[str] = []
    real = accounts.verify_password
    monkeypatch.setattr(accounts, "verify_password", lambda h, p: calls.append(p) or real(h, p))
    with session_scope() as s:
        update_user(s, s.scalar(select(User).where(User.username == BOB[0])), is_active=False)
    with session_scope() as s:
        for name, password in [("nobody", "x"), (BOB[0], BOB[1]), (ALICE[0], "wrong")]:
            assert authenticate(s, name, password) is None
    assert len(calls) == 3
