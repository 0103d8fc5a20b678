"""API processes and workers move what they keep out of the garbage collector's reach."""

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


def test_a_worker_settles_after_each_load_and_frees_what_a_freeze_kept() -> None:
    """settle collects what an earlier freeze kept and has since become garbage (a replaced
    model's cycles), then freezes what is alive; loaded() settles only where asked (workers)."""
    code = textwrap.dedent(
        """
        import gc, weakref
        from difflab import heap

        class Model:
            pass

        def a_model():
            m = Model()
            m.self = m  # modules and their hooks can form cycles: refcounting alone never frees
            return m

        old = a_model()
        gone = weakref.ref(old)
        heap.loaded()  # this process did not ask: nothing frozen
        assert gc.get_freeze_count() == 0
        heap.settle_after_loads()
        heap.loaded()
        assert gc.get_freeze_count() > 0 and gone() is not None
        del old  # the model is replaced: a frozen cycle nothing refers to
        gc.collect()
        assert gone() is not None  # frozen: a plain collection never walks it
        new = a_model()
        heap.loaded()  # the next load's settle frees it
        assert gone() is None
        assert gc.get_freeze_count() > 0 and new.self is new  # the new one is kept, frozen
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
