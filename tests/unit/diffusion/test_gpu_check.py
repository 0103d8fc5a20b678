"""bench/gpu_check.py in its tiny CPU mode: every path it times on a GPU runs here too."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "gpu_check.py"


@pytest.mark.timeout(600)
def test_gpu_check_tiny_mode_runs_every_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    rows = module.main(["--tiny", "--json", str(tmp_path / "rows.json")])
    checks = [r["check"] for r in rows]
    assert not [r for r in rows if r["check"] == "FAILED"], rows
    assert sum("generate job" in c for c in checks) == 3
    assert sum("CFG step" in c for c in checks) == 4  # two variants x batch 1 and 4
    assert any(c.startswith("VAE decode") for c in checks)
    assert any(c.startswith("U-Net training step") for c in checks)
    out = capsys.readouterr().out
    assert "| check | result |" in out and "ms" in out
    assert (tmp_path / "rows.json").is_file()
