"""Shared fixtures: an isolated deployment per test (data dir, database, broker)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.utils.browser import CHROMIUM_ARGS, chromium_path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


@pytest.fixture
def embedded_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """This process pointed at a fresh embedded deployment (SQLite + SQLite broker), migrated."""
    from difflab.db.migrate import upgrade_head
    from tests.utils.services import apply_env, reset_caches, service_env

    saved = {k: v for k, v in os.environ.items() if k.startswith("DIFFLAB_")}
    env = service_env(tmp_path / "var")
    apply_env(env)
    (tmp_path / "var").mkdir(parents=True, exist_ok=True)
    upgrade_head()
    yield env
    for key in [k for k in os.environ if k.startswith("DIFFLAB_")]:
        del os.environ[key]
    os.environ.update(saved)
    reset_caches()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, one per test session (Playwright's sync API
    allows one driver per thread). No browser is downloaded. Without Chromium the tests that
    need it skip locally and fail under CI=true."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing (apt-get install chromium)")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
