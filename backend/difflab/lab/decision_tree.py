"""Decision tree: axis-aligned splits chosen greedily to make the parts purer.

At every node the split (feature j, threshold s) that most lowers the weighted impurity of the
two children is taken; impurity is Gini 1 − Σ p_c² or entropy −Σ p_c log p_c of the class
shares p_c at the node (scikit-learn's DecisionTreeClassifier). Grown deep, a tree carves the
training set into pure boxes and overfits: trees of depth 1, 2, … up to `max_depth` are fitted
so the gap between training and validation accuracy can be watched as depth grows.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field
from sklearn.tree import DecisionTreeClassifier, export_text

from difflab.datasets.toy import ClassificationName
from difflab.lab.common import (
    LabCommon,
    Scaling,
    confusion_artifact,
    decision_boundary_png,
    emit,
    heatmap_artifact,
    line_artifact,
    load_split,
    one_thread,
)
from difflab.runtime import KindSpec, RunContext, Sink


class Params(LabCommon):
    dataset: ClassificationName = Field(
        "moons",
        description="Classification set: iris, wine, breast_cancer, digits, or a 2-D one "
        "(moons, circles, blobs, spirals, xor).",
    )
    scaling: Scaling = Field(
        "none",
        description="Input scaling: none (default; a tree's splits do not depend on the "
        "scale, and thresholds stay in the data's units), minmax or standard.",
    )
    criterion: Literal["gini", "entropy"] = Field(
        "gini", description="Impurity a split lowers: gini or entropy."
    )
    max_depth: int = Field(
        8, ge=1, le=30, description="Deepest tree fitted; every depth from 1 up to it is shown."
    )
    min_samples_leaf: int = Field(
        1, ge=1, le=200, description="Fewest training points a leaf may hold."
    )


def tree_structure(
    model: DecisionTreeClassifier, feature_names: list[str], class_names: list[str]
) -> dict[str, Any]:
    """The fitted tree as nested JSON: split nodes hold feature, threshold, left (≤) and right."""
    t = model.tree_

    def node(i: int) -> dict[str, Any]:
        counts = t.value[i][0]  # class shares (or counts) of the training points at the node
        out: dict[str, Any] = {
            "samples": int(t.n_node_samples[i]),
            "impurity": round(float(t.impurity[i]), 5),
            "class": class_names[int(np.argmax(counts))],
            "value": [round(float(v), 4) for v in counts],
        }
        if t.children_left[i] != -1:  # a split node
            out["feature"] = feature_names[int(t.feature[i])]
            out["threshold"] = round(float(t.threshold[i]), 5)
            out["left"] = node(int(t.children_left[i]))
            out["right"] = node(int(t.children_right[i]))
        return out

    return {
        "criterion": model.criterion,
        "depth": int(model.get_depth()),
        "leaves": int(model.get_n_leaves()),
        "root": node(0),
    }


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    d = load_split(p)
    two_d = d.X_train.shape[1] == 2
    hist: dict[str, list[float]] = {"train/accuracy": [], "val/accuracy": []}
    depths: list[int] = []
    model = DecisionTreeClassifier()
    for depth in range(1, p.max_depth + 1):
        sink.check()
        model = DecisionTreeClassifier(
            criterion=p.criterion,
            max_depth=depth,
            min_samples_leaf=p.min_samples_leaf,
            random_state=p.seed,
        ).fit(d.X_train, d.y_train)
        values = {
            "train/accuracy": float(model.score(d.X_train, d.y_train)),
            "val/accuracy": float(model.score(d.X_val, d.y_val)),
            "leaves": float(model.get_n_leaves()),
        }
        hist["train/accuracy"].append(values["train/accuracy"])
        hist["val/accuracy"].append(values["val/accuracy"])
        depths.append(depth)
        sink.metric(depth, values)
        if two_d:
            img = decision_boundary_png(model.predict, d.X_train, d.y_train)
            emit(sink, f"boundary/depth_{depth:02d}.png", img, view="image", step=depth)
        sink.progress(depth, p.max_depth)

    names, feats = d.data.target_names, d.data.feature_names
    emit(
        sink,
        "accuracy/depth.json",
        line_artifact(
            {k: (depths, v) for k, v in hist.items()},
            "accuracy vs depth",
            title_zh="准确率随树深度的变化",
        ),
        view="line",
        meta={
            "x_title": "max_depth",
            "x_title_zh": "最大深度 max_depth",
            "y_title": "accuracy",
            "y_title_zh": "准确率",
        },
    )
    pred = model.predict(d.X_val)
    emit(sink, "confusion.json", confusion_artifact(d.y_val, pred, names), view="confusion")
    sink.artifact(
        "tree.json", tree_structure(model, feats, names), kind="json", meta={"view": "tree"}
    )
    sink.artifact(
        "tree.txt",
        export_text(model, feature_names=feats, class_names=[str(n) for n in names]),
        kind="text",
        meta={"view": "text"},
    )
    emit(
        sink,
        "importance.json",
        heatmap_artifact(
            model.feature_importances_[None, :],
            feats,
            ["importance"],
            "impurity decrease per feature",
            title_zh="各特征带来的不纯度下降",
        ),
        view="heatmap",
    )
    best = int(np.argmax(hist["val/accuracy"]))
    return {
        "train/accuracy": hist["train/accuracy"][-1],
        "val/accuracy": hist["val/accuracy"][-1],
        "best_depth": depths[best],
        "best_val_accuracy": hist["val/accuracy"][best],
        "leaves": int(model.get_n_leaves()),
        "depth": int(model.get_depth()),
    }


SPEC = KindSpec(
    name="lab.decision_tree",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Decision tree",
    description="Greedy axis-aligned splits (scikit-learn): accuracy against depth, the "
    "boundary at each depth, the tree's structure, feature importances, confusion matrix.",
)
