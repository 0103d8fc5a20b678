"""docs/performance.md and docs/zh/performance.md are what bench/run_all.py makes of their
templates and the saved benchmark output: no figure typed by hand, and the two languages
show the same benchmarks."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "run_all.py"


def _run_all():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("run_all", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_page_is_its_template_filled_with_the_saved_results() -> None:
    run_all = _run_all()
    for template, page in run_all.PAGES:
        assert page.read_text() == run_all.render(template), (
            f"{page} differs from {template.name} + bench/results: edit the template, then "
            "`python bench/run_all.py --docs-only`"
        )


def test_both_languages_show_the_same_benchmarks_in_the_same_order() -> None:
    run_all = _run_all()
    placeholders = [re.findall(r"\{\{(\w+)\}\}", t.read_text()) for t, _ in run_all.PAGES]
    assert placeholders[0] and all(p == placeholders[0] for p in placeholders)
