"""Composition: the house recipe's holdout option, the held-out prompt set, its score, and the
eval report's section on it, labelled held out or seen in training by the model's
training.json."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from difflab.datasets.shapes import (
    HELD_OUT_COMPOSITIONS,
    TWO_OBJECT_POSITIONS,
    ShapesDataset,
    composition,
    render,
)
from difflab.diffusion import eval as evaluation
from difflab.diffusion import house
from difflab.diffusion.eval_adherence import (
    AttributeClassifier,
    held_out_prompt_set,
    held_out_score,
    prompt_set,
    save_classifier,
    targets,
)
from difflab.diffusion.train_common import check_data, open_dataset
from difflab.runtime import MemorySink, ParamError, RunContext, SubmitContext
from tests.unit.diffusion.test_eval import Oracle
from tests.unit.diffusion.test_house import build_tiny_house

HELD = set(HELD_OUT_COMPOSITIONS)


def test_house_holdout_defaults_to_none_and_reaches_every_stage_and_the_recipe(
    tmp_path: Path,
) -> None:
    default = house.Params()
    assert default.holdout == "none"  # the shipped recipe: trained on every composition
    assert house.recipe_of(default)["holdout"] == "none"
    p = house.Params(holdout="compositions", train_samples=64, val_samples=16)
    assert house.recipe_of(p)["holdout"] == "compositions"  # what training.json records
    for name, stage in house.stage_params_of(p).items():
        assert stage.holdout == "compositions", name
        for split in ("train", "val"):
            data = open_dataset(stage, split, tmp_path)
            assert isinstance(data, ShapesDataset) and data.holdout == "compositions"
            assert not any(data.scene(i)[0].held_out() for i in range(len(data)))
    ctx = SubmitContext(models_dir=tmp_path / "models", data_dir=tmp_path)
    folder = house.Params(dataset="imagefolder", data_path=str(tmp_path), holdout="compositions")
    with pytest.raises(ParamError) as refused:
        check_data(folder, ctx)
    assert refused.value.field == "holdout"


def test_held_out_prompt_set_asks_only_for_held_out_compositions() -> None:
    a, b = held_out_prompt_set(24, 10, seeds_per_prompt=2), held_out_prompt_set(24, 10, 2)
    assert [(p.text, p.seed) for p in a] == [(p.text, p.seed) for p in b]
    assert len(a) == 68 and len({p.seed for p in a}) == 68
    one = [p for p in a if len(p.scene.objects) == 1]
    two = [p for p in a if len(p.scene.objects) == 2]
    assert {composition(p.scene.objects[0]) for p in one} == HELD  # all 12, twice over
    for p in two:  # one held-out object on its side, beside one that is not held out
        held = [o for o in p.scene.objects if composition(o) in HELD]
        assert len(held) == 1 and held[0].position in TWO_OBJECT_POSITIONS
    assert {composition(o) for p in two for o in p.scene.objects} & HELD == {
        t for t in HELD if t[2] in TWO_OBJECT_POSITIONS
    }
    for p in a:
        for o in p.scene.objects:
            assert re.search(rf"\b{o.color} {o.shape}\b", p.text)
        if len(p.scene.objects) == 1:
            assert p.scene.objects[0].position in p.text
    main = {p.seed for p in prompt_set(240, 160)}
    assert not main & {p.seed for p in held_out_prompt_set(60, 40)}


def test_the_in_distribution_set_of_a_held_out_model_leaves_them_out() -> None:
    prompts = prompt_set(216, 80, holdout="compositions")
    shown = {composition(o) for p in prompts for o in p.scene.objects}
    assert not shown & HELD
    one = {composition(p.scene.objects[0]) for p in prompts if len(p.scene.objects) == 1}
    assert len(one) == 108  # every other triple, twice over
    assert [p.text for p in prompt_set(30, 10)] != [
        p.text for p in prompt_set(30, 10, holdout="compositions")
    ]


def test_held_out_score_counts_the_held_out_object_only() -> None:
    prompts = held_out_prompt_set(4, 4)
    scenes = [p.scene for p in prompts]
    t = targets(scenes)
    wrong = {k: v.clone() for k, v in t.items()}
    wrong["position"][0] = (wrong["position"][0] + 1) % 5  # a held-out object misplaced
    side = [
        "left" if composition(s.objects[0]) in HELD else "right" for s in scenes[4:]
    ]  # the held-out side of each pair
    other = {"left": "right", "right": "left"}
    wrong[f"{other[side[0]]}_shape"][4] = (wrong[f"{other[side[0]]}_shape"][4] + 1) % 4
    wrong[f"{side[1]}_color"][5] = (wrong[f"{side[1]}_color"][5] + 1) % 6
    s = held_out_score(Oracle(wrong), [render(sc) for sc in scenes], scenes)
    assert s["n_held_out_objects"] == 8
    assert s["composition/color"] == pytest.approx(7 / 8) and s["composition/shape"] == 1.0
    # misplaced (prompt 0) and wrong color (pair 5) miss; pair 4's other object does not count
    assert s["composition/all"] == pytest.approx(6 / 8)
    assert s["two/both"] == pytest.approx(2 / 4) and s["one/all"] == pytest.approx(3 / 4)


def _eval(models: Path, tmp_path: Path, **params: Any) -> tuple[dict[str, Any], MemorySink]:
    sink = MemorySink()
    ctx = RunContext(job_id="e", work_dir=tmp_path / "w", models_dir=models)
    p = evaluation.Params(
        n_one=3,
        n_two=2,
        n_held_out_one=3,
        n_held_out_two=2,
        steps=2,
        batch_size=5,
        cpu_threads=1,
        **params,
    )
    result = evaluation.run(p, sink, ctx)
    report: dict[str, Any] = json.loads(sink.artifacts["report.json"])
    assert result["compositions"] == report["compositions"]
    return report, sink


def test_eval_labels_the_held_out_set_by_the_models_training(tmp_path: Path) -> None:
    src, _, _ = build_tiny_house()
    models = tmp_path / "models"
    shutil.copytree(src, models / "house")
    save_classifier(AttributeClassifier(), models / ".eval-cache")  # untrained: fast

    # the tiny house was trained on every composition: its figure is seen in training
    report, sink = _eval(models, tmp_path, save_report=True)
    comp = report["compositions"]
    assert comp["status"] == "seen in training" and not comp["left_out_of_main_set"]
    assert comp["held_out"] == [" ".join(t) for t in HELD_OUT_COMPOSITIONS]
    assert comp["n_images"] == 5 and report["n_images"] == 5
    adh = comp["adherence"]
    assert (adh["n_one"], adh["n_two"], adh["n_held_out_objects"]) == (3, 2, 5)
    assert {"one/color", "one/shape", "one/position", "two/both", "composition/all"} <= set(adh)
    assert comp["classifier_on_real"]["n_held_out_objects"] == 5
    assert "held_out" not in report["targets"]["met"]  # no target for what it has seen
    (metric,) = sink.of_type("metric")
    assert metric["values"]["eval/compositions/composition/all"] == adh["composition/all"]
    assert sink.artifacts["samples/held_out.png"][:4] == b"\x89PNG"
    card = (models / "house" / "README.md").read_text()
    assert "| seen in training | this model | real images | target | |" in card
    assert "Held-out compositions: none." in card and "**seen in training**" in card
    assert "| held out |" not in card

    # the same weights, recorded as trained with the compositions held out
    training_file = models / "house" / "training.json"
    training = json.loads(training_file.read_text())
    training["recipe"]["holdout"] = "compositions"
    training_file.write_text(json.dumps(training))
    report, _ = _eval(models, tmp_path, save_report=True)
    comp = report["compositions"]
    assert comp["status"] == "held out" and comp["left_out_of_main_set"]
    assert report["targets"]["thresholds"]["held_out"] == 0.90
    assert report["targets"]["met"]["held_out"] == (comp["adherence"]["composition/all"] >= 0.9)
    card = (models / "house" / "README.md").read_text()
    figure = f"{100 * comp['adherence']['composition/all']:.1f}%"
    assert "| held out | this model | real images | target | |" in card
    assert f"| held-out object: both attributes right at its position | {figure} |" in card
    assert "orange square on the right" in card and f"in {figure} of images" in card
    assert "seen in training" not in card

    # no training.json: whether they were held out is not known, and not claimed
    training_file.unlink()
    report, _ = _eval(models, tmp_path)
    assert report["compositions"]["status"] == "unknown"
    assert "held_out" not in report["targets"]["met"]
