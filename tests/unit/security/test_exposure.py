"""`difflab serve` binds beyond loopback only with a real secret key and a strong admin password."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from difflab.cli import app
from difflab.cli.service import exposure_refusal, is_loopback
from difflab.config import Settings

REAL_SECRET = "a-real-secret-0123456789abcdef"
STRONG_PASSWORD = "correct-horse-battery"


def settings(**values: str) -> Settings:
    """Settings with the defaults spelled out, whatever this process's environment holds."""
    return Settings(**{"secret_key": "dev-secret-key", "admin_password": "", **values})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_needs_nothing(host: str) -> None:
    assert is_loopback(host)
    assert exposure_refusal(host, settings()) is None


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.org", "127.evil.example", ""]
)
def test_anything_else_needs_secret_and_password(host: str) -> None:
    assert not is_loopback(host)
    refusal = exposure_refusal(host, settings())
    assert refusal is not None
    assert "DIFFLAB_SECRET_KEY" in refusal and "DIFFLAB_ADMIN_PASSWORD" in refusal
    only_secret = exposure_refusal(host, settings(secret_key=REAL_SECRET))
    assert only_secret is not None and "DIFFLAB_SECRET_KEY" not in only_secret
    assert "DIFFLAB_ADMIN_PASSWORD" in only_secret
    only_password = exposure_refusal(host, settings(admin_password=STRONG_PASSWORD))
    assert only_password is not None and "DIFFLAB_SECRET_KEY" in only_password
    both = settings(secret_key=REAL_SECRET, admin_password=STRONG_PASSWORD)
    assert exposure_refusal(host, both) is None


@pytest.mark.parametrize("secret", ["", "change-me", "changeme", "secret", "dev-secret-key"])
def test_placeholder_secrets_are_refused(secret: str) -> None:
    chosen = settings(secret_key=secret, admin_password=STRONG_PASSWORD)
    assert "DIFFLAB_SECRET_KEY" in (exposure_refusal("0.0.0.0", chosen) or "")


@pytest.mark.parametrize("password", ["admin", "password", "Changeme", "short-pw"])
def test_weak_admin_passwords_are_refused(password: str) -> None:
    chosen = settings(secret_key=REAL_SECRET, admin_password=password)
    refusal = exposure_refusal("0.0.0.0", chosen)
    assert refusal is not None and "at least 12 characters" in refusal


def test_serve_exits_before_binding(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DIFFLAB_DATA_DIR", str(tmp_path))
    from difflab.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0" in result.output
    assert not (tmp_path / "difflab.sqlite").exists()  # nothing was prepared either
