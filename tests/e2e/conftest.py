"""Browser tests: Debian's Chromium driven by Playwright against a real running server and worker.

No browser is downloaded: Playwright launches /usr/bin/chromium (installed by .ci/run). Without
Chromium these tests skip locally, and fail under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Deployment, _deploy
from tests.utils.services import ADMIN_PASSWORD, service_env

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser(chromium: Any) -> Any:
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        pytest.fail("the frontend is not built (make install)")
    return chromium


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A server and one worker, with the tiny test model installed as `house`."""
    from difflab.diffusion.tiny import build_tiny_pipeline_dir

    root = tmp_path_factory.mktemp("site")
    env = service_env(root / "var")
    build_tiny_pipeline_dir(Path(env["DIFFLAB_MODELS_DIR"]) / "house", seed=0)
    for dep in _deploy(env, root / "logs"):
        dep.add_worker("w1")
        yield dep


@pytest.fixture
def page(browser: Any, site: Deployment) -> Iterator[Any]:
    context = browser.new_context(base_url=site.base, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def sign_in(page: Any, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("nav-studio").wait_for()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
