"""The API process moves what it holds at start out of the garbage collector's reach."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

from tests.unit.conftest import MakeClient


def test_freeze_at_start_collects_then_freezes_once_per_process() -> None:
    code = textwrap.dedent(
        """
        import gc
        from difflab.heap import freeze_at_start

        class Node:
            pass

        kept = [[i] for i in range(5000)]
        garbage = Node()
        garbage.self = garbage  # a cycle nothing refers to: collected, not frozen
        del garbage
        assert gc.get_freeze_count() == 0
        assert freeze_at_start() is True
        frozen = gc.get_freeze_count()
        assert frozen >= 5000, frozen
        assert not any(type(o).__name__ == "Node" for o in gc.get_objects())
        assert freeze_at_start() is False  # once: later apps of the process stay collectable
        assert gc.get_freeze_count() == frozen
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_api_freezes_at_start(make_client: MakeClient) -> None:
    c = make_client()
    assert c.get("/api/v1/health").status_code == 200
    assert gc.get_freeze_count() > 100_000  # the libraries and the app, at least
