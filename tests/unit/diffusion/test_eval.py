"""eval: Fréchet distance math, the prompt set, adherence scoring and the report."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy import linalg

from difflab.datasets.shapes import render
from difflab.diffusion import eval as evaluation
from difflab.diffusion.eval_adherence import (
    HEADS,
    AttributeClassifier,
    prompt_set,
    save_classifier,
    score,
    targets,
)
from difflab.diffusion.eval_fid import frechet_distance
from difflab.runtime import MemorySink, RunContext
from tests.unit.diffusion.test_house import build_tiny_house


def test_frechet_distance_matches_the_closed_form_for_gaussians() -> None:
    rng = np.random.default_rng(0)
    s1, s2, mu = np.array([1.0, 2.0, 0.5]), np.array([0.5, 1.0, 2.0]), np.array([1.0, -1.0, 0.0])
    a = rng.normal(size=(200_000, 3)) * np.sqrt(s1)
    b = rng.normal(size=(200_000, 3)) * np.sqrt(s2) + mu
    # diagonal covariances: Tr(S1 + S2 - 2 (S1 S2)^1/2) = sum (sqrt s1 - sqrt s2)^2
    expected = float(mu @ mu + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum())
    assert frechet_distance(a, b) == pytest.approx(expected, abs=0.03)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_trace_term_matches_an_eigen_decomposition() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(400, 4)) @ rng.normal(size=(4, 4)) + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr (S1 S2)^1/2 = sum sqrt(eig(S1^1/2 S2 S1^1/2)), a symmetric PSD matrix
    r = linalg.sqrtm(s1).real
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(r @ s2 @ r), 0, None)).sum()
    d = a.mean(0) - b.mean(0)
    expected = d @ d + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError):
        frechet_distance(a, b[:, :3])


def test_prompt_set_is_fixed_and_canonical() -> None:
    a, b = prompt_set(120, 40, seeds_per_prompt=2), prompt_set(120, 40, seeds_per_prompt=2)
    assert [(p.text, p.seed) for p in a] == [(p.text, p.seed) for p in b]
    assert len(a) == 320 and len({p.seed for p in a}) == 320
    one = [p for p in a if len(p.scene.objects) == 1]
    # the 120 one-object prompts cover every (color, shape, position) exactly once
    triples = {
        (p.scene.objects[0].color, p.scene.objects[0].shape, p.scene.objects[0].position)
        for p in one
    }
    assert len(triples) == 120
    for p in a:
        for o in p.scene.objects:
            assert re.search(rf"\b{o.color} {o.shape}\b", p.text)
        if len(p.scene.objects) == 1:
            assert p.scene.objects[0].position in p.text


class Oracle(AttributeClassifier):
    """Answers from the ground truth (the score arithmetic under test, not a CNN)."""

    def __init__(self, answers: dict[str, torch.Tensor]) -> None:
        super().__init__(width=4)
        self.answers = answers

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for k, n in HEADS.items():
            ans = self.answers[k][: len(x)].clamp(min=0)
            out[k] = torch.nn.functional.one_hot(ans, n).float()
        return out


def test_score_counts_right_attributes() -> None:
    prompts = prompt_set(6, 4)
    scenes = [p.scene for p in prompts]
    t = targets(scenes)
    wrong = {k: v.clone() for k, v in t.items()}
    wrong["color"][0] = (wrong["color"][0] + 1) % 6  # one object: one color wrong
    wrong["right_shape"][6] = (wrong["right_shape"][6] + 1) % 4  # one pair: one shape wrong
    images = [render(s) for s in scenes]
    s = score(Oracle(wrong), images, scenes)
    assert s["one/color"] == pytest.approx(5 / 6) and s["one/shape"] == 1.0
    assert s["one/all"] == pytest.approx(5 / 6)
    assert s["two/both"] == pytest.approx(3 / 4) and s["two/left_color"] == 1.0


def test_eval_reports_adherence_clip_score_and_fid(tmp_path: Path) -> None:
    src, _, _ = build_tiny_house()
    models = tmp_path / "models"
    shutil.copytree(src, models / "house")
    save_classifier(AttributeClassifier(), models / ".eval-cache")  # untrained: fast
    sink = MemorySink()
    ctx = RunContext(job_id="e", work_dir=tmp_path / "w", models_dir=models)
    p = evaluation.Params(n_one=5, n_two=3, steps=2, batch_size=4, cpu_threads=1)
    result = evaluation.run(p, sink, ctx)
    report: dict[str, Any] = json.loads(sink.artifacts["report.json"])
    assert report["n_images"] == 8 and report["steps"] == 2
    assert report["guidance_scale"] == 4.0  # the model's default (difflab.json)
    assert report["adherence"]["n_one"] == 5 and report["adherence"]["n_two"] == 3
    fid = report["fid"]
    assert fid["generated_vs_reference"] >= 0 and fid["real_vs_reference_floor"] >= 0
    assert fid["ratio"] == pytest.approx(
        fid["generated_vs_reference"] / fid["real_vs_reference_floor"]
    )
    assert fid["ratio_std"] >= 0 and fid["bootstrap_rounds"] == 20
    assert (fid["n_generated"], fid["n_real"], fid["n_reference"]) == (8, 8, 8)
    assert "not on the model" in fid["features"]
    assert "self-consistency" in report["clip_score"]["encoder"]
    assert report["clip_score"]["generated"] >= 0
    # the weights measured, by hash, as sha256sum prints them
    weights = report["weights"]
    unet = models / "house" / "unet" / "diffusion_pytorch_model.safetensors"
    assert (
        weights["files"]["unet/diffusion_pytorch_model.safetensors"]
        == hashlib.sha256(unet.read_bytes()).hexdigest()
    )
    assert len(weights["sha256"]) == 64
    assert set(report["targets"]["met"]) == {
        "one/color",
        "one/shape",
        "one/position",
        "two/both",
        "fid_ratio",
    }
    assert result["targets"] == report["targets"]
    (metric,) = sink.of_type("metric")
    assert {"eval/one/color", "eval/two/both", "eval/fid", "eval/fid_floor"} <= set(
        metric["values"]
    )
    heat = json.loads(sink.artifacts["confusion/color.json"])
    assert np.array(heat["matrix"]).sum() == 5
    assert sink.artifacts["samples/grid.png"][:4] == b"\x89PNG"
    assert not (models / "house" / "eval.json").exists()  # only with save_report


def test_eval_save_report_writes_eval_json_and_the_model_card(tmp_path: Path) -> None:
    src, _, _ = build_tiny_house()
    models = tmp_path / "models"
    shutil.copytree(src, models / "house")
    save_classifier(AttributeClassifier(), models / ".eval-cache")
    ctx = RunContext(job_id="e", work_dir=tmp_path / "w", models_dir=models)
    p = evaluation.Params(n_one=4, n_two=2, steps=2, batch_size=6, cpu_threads=1, save_report=True)
    evaluation.run(p, MemorySink(), ctx)
    saved = json.loads((models / "house" / "eval.json").read_text())
    assert saved["n_images"] == 6 and saved["steps"] == 2
    card = (models / "house" / "README.md").read_text()
    assert "## Evaluation" in card and "## Training" in card  # training.json was kept
    one_color = f"| one object: color | {100 * saved['adherence']['one/color']:.1f}% |"
    assert one_color in card
    assert f"{saved['fid']['generated_vs_reference']:.3f}" in card
    assert saved["weights"]["sha256"] in card


def test_eval_refuses_a_directory_that_is_not_a_pipeline(tmp_path: Path) -> None:
    (tmp_path / "models" / "nope").mkdir(parents=True)
    ctx = RunContext(job_id="e", work_dir=tmp_path, models_dir=tmp_path / "models")
    with pytest.raises(ValueError, match="not a pipeline directory"):
        evaluation.run(evaluation.Params(model="nope"), MemorySink(), ctx)
