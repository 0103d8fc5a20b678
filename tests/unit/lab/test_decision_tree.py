"""lab.decision_tree: depth curve, exported structure, scikit-learn underneath."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from difflab.lab import decision_tree
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def _walk(node: dict[str, Any]) -> tuple[int, int]:
    """(leaves, depth) of an exported node; children split the parent's samples."""
    if "left" not in node:
        return 1, 0
    assert node["left"]["samples"] + node["right"]["samples"] == node["samples"]
    (la, da), (lb, db) = _walk(node["left"]), _walk(node["right"])
    return la + lb, 1 + max(da, db)


def test_depth_curve_and_the_exported_tree() -> None:
    sink = MemorySink()
    result = decision_tree.run(decision_tree.Params(dataset="moons", max_depth=6), sink, CTX)
    train = [v for _, v in sink.metric_series("train/accuracy")]
    assert len(train) == 6
    assert all(b >= a for a, b in zip(train, train[1:], strict=False))  # deeper never fits worse
    assert result["best_val_accuracy"] >= 0.9
    tree = json.loads(sink.artifacts["tree.json"])
    leaves, depth = _walk(tree["root"])
    assert (leaves, depth) == (result["leaves"], result["depth"]) == (tree["leaves"], tree["depth"])
    assert tree["root"]["feature"] in ("x1", "x2")
    assert {
        "boundary/depth_01.png",
        "boundary/depth_06.png",
        "accuracy/depth.json",
        "importance.json",
        "tree.txt",
    } <= set(sink.artifacts)


def test_iris_with_entropy() -> None:
    result = decision_tree.run(
        decision_tree.Params(dataset="iris", criterion="entropy", max_depth=3), MemorySink(), CTX
    )
    assert result["val/accuracy"] >= 0.9


def test_fields_are_checked() -> None:
    for bad, field in [
        ({"criterion": "mse"}, "criterion"),
        ({"max_depth": 0}, "max_depth"),
        ({"kernel": "rbf"}, "kernel"),
    ]:
        with pytest.raises(ValidationError) as err:
            decision_tree.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"][0] == field


def test_cancel_stops_between_depths() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        decision_tree.run(decision_tree.Params(), sink, CTX)
    assert len(sink.of_type("metric")) == 1
