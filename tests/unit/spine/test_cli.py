"""The command line, in-process, against a real SQLite database."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from difflab.cli import app

runner = CliRunner()


def test_users_and_api_key(embedded_env) -> None:
    r = runner.invoke(
        app, ["users", "create", "carol", "--password", "tulip-passphrase", "--role", "admin"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "create", "carol", "--password", "tulip-passphrase"])
    assert r.exit_code == 1 and "already exists" in r.output
    r = runner.invoke(app, ["users", "create-api-key", "carol"])
    assert r.exit_code == 0, r.output
    key = r.output.strip().splitlines()[-1]
    assert key.startswith("dl_") and len(key) > 30
    r = runner.invoke(app, ["users", "set-password", "carol", "--password", "short"])
    assert r.exit_code != 0


def test_train_sleep_in_process_and_bad_params(embedded_env) -> None:
    r = runner.invoke(app, ["train", "sleep", "--set", "steps=2", "--set", "step_seconds=0"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "sleep", "--set", "steps=0"])
    assert r.exit_code == 2 and "steps" in r.output
    r = runner.invoke(app, ["train", "no-such-kind"])
    assert r.exit_code == 2 and "unknown kind" in r.output


def test_generate_in_process_writes_png_with_parameters_and_frames(embedded_env, tmp_path) -> None:
    from difflab.diffusion.tiny import build_tiny_pipeline_dir

    build_tiny_pipeline_dir(Path(embedded_env["DIFFLAB_MODELS_DIR"]) / "house")
    out = tmp_path / "out.png"
    r = runner.invoke(
        app,
        [
            "generate",
            "a red circle on the left",
            "--seed",
            "1",
            "--steps",
            "3",
            "--sampler",
            "DPM++ 2M",
            "--out",
            str(out),
            "--frames",
            str(tmp_path / "frames"),
        ],
    )
    assert r.exit_code == 0, r.output
    image = Image.open(out)
    assert "Seed: 1" in image.info["parameters"] and "Steps: 3" in image.info["parameters"]
    assert len(list((tmp_path / "frames").glob("x0_*.png"))) == 3


def test_jobs_list_and_show(embedded_env) -> None:
    r = runner.invoke(app, ["jobs", "list"])
    assert r.exit_code == 0
    r = runner.invoke(app, ["jobs", "show", "no-such-id"])
    assert r.exit_code == 1
