"""difflab.lab.common: scaling and splits against scikit-learn, the artifact helpers, the
parameter conventions every classic kind follows."""

from __future__ import annotations

import importlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from pydantic import BaseModel, ValidationError
from sklearn.metrics import confusion_matrix
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from threadpoolctl import threadpool_info

from difflab.lab.common import (
    PALETTE,
    LabCommon,
    confusion_artifact,
    curve_fit_png,
    decision_boundary_png,
    emit,
    heatmap_artifact,
    image_grid,
    line_artifact,
    load_split,
    one_thread,
    scale,
    scatter_artifact,
    train_val_split,
)
from difflab.runtime import KindSpec, MemorySink

CLASSIC_KINDS = [
    "linear_regression",
    "logistic_regression",
    "softmax_regression",
    "perceptron",
    "naive_bayes",
    "decision_tree",
    "svm",
    "kmeans",
    "pca",
    "lda",
    "tsne",
]

rng = np.random.default_rng(0)
X_A = rng.normal(3.0, 2.0, size=(40, 3))
X_B = rng.normal(0.0, 5.0, size=(15, 3))


@pytest.mark.parametrize(
    ("scaling", "scaler"), [("minmax", MinMaxScaler()), ("standard", StandardScaler())]
)
def test_scale_matches_sklearn_fitted_on_train_only(scaling: str, scaler: object) -> None:
    a, b = scale(X_A, X_B, scaling=scaling)  # type: ignore[arg-type]
    ref = scaler.fit(X_A)  # type: ignore[attr-defined]
    np.testing.assert_allclose(a, ref.transform(X_A), atol=1e-12)
    np.testing.assert_allclose(b, ref.transform(X_B), atol=1e-12)


def test_scale_keeps_constant_columns_finite_and_none_copies() -> None:
    X = np.column_stack([np.ones(10), np.arange(10.0)])
    for scaling in ("minmax", "standard"):
        (out,) = scale(X, scaling=scaling)  # type: ignore[arg-type]
        assert np.all(np.isfinite(out)) and np.all(out[:, 0] == 0.0)
    (same,) = scale(X, scaling="none")
    np.testing.assert_array_equal(same, X)
    assert same is not X
    with pytest.raises(ValueError, match="scaling"):
        scale(X, scaling="zscore")  # type: ignore[arg-type]


def test_split_is_seeded_sized_and_stratified() -> None:
    X = np.arange(200.0)[:, None]
    y = np.array([0] * 150 + [1] * 50)
    a = train_val_split(X, y, 0.2, seed=1)
    b = train_val_split(X, y, 0.2, seed=1)
    c = train_val_split(X, y, 0.2, seed=2)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    X_tr, X_val, y_tr, y_val = a
    assert len(X_val) == 40 and len(X_tr) == 160
    assert np.bincount(y_val).tolist() == [30, 10]  # class shares kept
    assert sorted(np.concatenate([X_tr, X_val])[:, 0].tolist()) == X[:, 0].tolist()
    with pytest.raises(ValueError):
        train_val_split(X, y, 0.0, seed=0)


def test_load_split_scales_with_training_statistics() -> None:
    d = load_split(LabCommon(dataset="wine", scaling="standard", val_fraction=0.3))
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(d.X_train.std(axis=0), 1.0, atol=1e-9)
    assert not np.allclose(d.X_val.mean(axis=0), 0.0, atol=1e-3)
    assert len(d.y_val) == 54


def test_lab_common_fields_are_bounded_and_named_in_errors() -> None:
    for bad, field in [
        ({"n_samples": 5}, "n_samples"),
        ({"noise": -0.1}, "noise"),
        ({"val_fraction": 0.9}, "val_fraction"),
        ({"scaling": "zscore"}, "scaling"),
        ({"dataset": "mnist"}, "dataset"),
        ({"kernel": "rbf"}, "kernel"),
    ]:
        with pytest.raises(ValidationError) as err:
            LabCommon(**bad)
        assert err.value.errors()[0]["loc"] == (field,)


def _pixel(img: Image.Image, fx: float, fy: float) -> tuple[int, int, int]:
    return img.getpixel((int(fx * (img.width - 1)), int(fy * (img.height - 1))))  # type: ignore[return-value]


def test_decision_boundary_colours_each_side_by_its_class() -> None:
    X = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    y = np.array([0, 0, 1, 1])
    img = decision_boundary_png(lambda G: (G[:, 0] > 0).astype(int), X, y, resolution=64)
    assert img.size == (64, 64) and img.mode == "RGB"
    left, right = np.array(_pixel(img, 0.3, 0.5)), np.array(_pixel(img, 0.7, 0.5))
    # each region is its class colour blended towards white: closest to its own class colour
    for pix, cls in ((left, 0), (right, 1)):
        direction = 255.0 - pix
        scores = [
            np.dot(direction, 255.0 - PALETTE[k]) / np.linalg.norm(255.0 - PALETTE[k])
            for k in (0, 1)
        ]
        assert int(np.argmax(scores)) == cls

    # probabilities: an unsure region is paler than a sure one
    def proba(G: np.ndarray) -> np.ndarray:
        p1 = 1.0 / (1.0 + np.exp(-3.0 * G[:, 0]))
        return np.column_stack([1.0 - p1, p1])

    soft = decision_boundary_png(proba, X, y, resolution=64)
    assert sum(_pixel(soft, 0.55, 0.5)) > sum(_pixel(soft, 0.98, 0.5))


def test_decision_boundary_refuses_other_than_2d() -> None:
    with pytest.raises(ValueError, match="2-D"):
        decision_boundary_png(lambda G: G[:, 0], np.zeros((5, 3)), np.zeros(5))


def test_json_artifacts_follow_the_conventions() -> None:
    s = scatter_artifact(np.array([[0.1234567, 1.0], [2.0, 3.0]]), [0, 1], ["a", "b"], "t")
    assert s == {
        "points": [[0.12346, 1.0], [2.0, 3.0]],
        "labels": [0, 1],
        "label_names": ["a", "b"],
        "title": "t",
    }
    h = heatmap_artifact(np.eye(2), ["x0", "x1"], ["y0", "y1"], "h")
    assert h["matrix"] == [[1.0, 0.0], [0.0, 1.0]] and h["x_labels"] == ["x0", "x1"]
    line = line_artifact({"train": ([0, 1], np.array([0.5, 0.25]))}, "l")
    assert line["series"] == [{"name": "train", "x": [0, 1], "y": [0.5, 0.25]}]
    y_true, y_pred = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2])
    c = confusion_artifact(y_true, y_pred, ["a", "b", "c"])
    assert c["matrix"] == confusion_matrix(y_true, y_pred).tolist()
    for d in (s, h, line, c):
        json.dumps(d)
    with pytest.raises(ValueError):
        scatter_artifact(np.zeros((3, 2)), [0, 1], ["a"], "t")
    with pytest.raises(ValueError):
        heatmap_artifact(np.zeros((2, 3)), ["a", "b"], ["c", "d"], "t")
    with pytest.raises(ValueError):
        line_artifact({"s": ([0, 1], [1.0])}, "t")


def test_emit_stores_the_view_and_the_right_kind() -> None:
    sink = MemorySink()
    emit(
        sink,
        "a/scatter.json",
        scatter_artifact(np.zeros((1, 2)), [0], ["x"], "t"),
        view="scatter",
        step=3,
    )
    emit(sink, "a/img.png", Image.new("RGB", (4, 4)), view="image")
    first, second = sink.of_type("artifact")
    assert (first["kind"], first["step"], first["meta"]["view"]) == ("json", 3, "scatter")
    assert (second["kind"], second["meta"]["view"]) == ("image", "image")
    assert json.loads(sink.artifacts["a/scatter.json"])["label_names"] == ["x"]


def test_image_grid_tiles_and_scales() -> None:
    imgs = [np.zeros((8, 8)), np.ones((8, 8)), np.full((3, 8, 8), 0.5), Image.new("RGB", (8, 8))]
    grid = image_grid(imgs, ncols=3, scale=2, pad=2)
    assert grid.size == (3 * (16 + 2) + 2, 2 * (16 + 2) + 2)
    assert grid.getpixel((2 + 18 + 5, 2 + 5)) == (255, 255, 255)  # the second tile: ones
    with pytest.raises(ValueError):
        image_grid([], ncols=2)


def test_curve_fit_png_draws_points_and_curves() -> None:
    x = np.linspace(0, 1, 20)
    img = curve_fit_png(x, 2 * x, {"fit": (x, 2 * x)}, width=100, height=80)
    assert img.size == (100, 80)
    assert len(set(img.getdata())) > 2


def test_one_thread_limits_then_restores() -> None:
    import torch

    before = torch.get_num_threads()

    @one_thread
    def inside() -> tuple[int, list[int]]:
        return torch.get_num_threads(), [p["num_threads"] for p in threadpool_info()]

    torch_threads, pools = inside()
    assert torch_threads == 1 and all(n == 1 for n in pools)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("kind", CLASSIC_KINDS)
def test_each_kind_declares_a_lab_spec_with_documented_bounded_params(kind: str) -> None:
    module = importlib.import_module(f"difflab.lab.{kind}")
    spec = module.SPEC
    assert isinstance(spec, KindSpec)
    assert spec.name == f"lab.{kind}" and spec.category == "lab" and spec.queue == "cpu"
    assert not spec.admin_only and spec.title and spec.description
    params: type[BaseModel] = spec.params
    assert params.model_config.get("extra") == "forbid"
    params()  # every field has a default
    for name, field in params.model_fields.items():
        assert field.description, f"{kind}.{name} has no description"
        if field.annotation in (int, float):
            bounds = {type(m).__name__ for m in field.metadata}
            assert bounds & {"Ge", "Gt"} and "Le" in bounds, f"{kind}.{name} is unbounded"
    with pytest.raises(ValidationError) as err:
        params(no_such_field=1)
    assert err.value.errors()[0]["loc"] == ("no_such_field",)


def test_png_artifacts_decode() -> None:
    sink = MemorySink()
    X = np.array([[0.0, 0.0], [1.0, 1.0]])
    emit(sink, "b.png", decision_boundary_png(lambda G: np.zeros(len(G)), X, [0, 1]), view="image")
    assert Image.open(io.BytesIO(sink.artifacts["b.png"])).size == (200, 200)
