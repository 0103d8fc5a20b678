"""Small tabular data sets for the learning lab: scikit-learn's bundled sets and generators.

`load_dataset(name)` returns a `ToyData`: features `X` as float64 of shape (n, d), targets `y`
(int64 class ids for classification, float64 for regression), names for both, and the task.

- scikit-learn's bundled sets (iris, wine, breast_cancer, digits, diabetes) are read as they
  ship; `n_samples` and `noise` do not apply to them and are ignored.
- generated classification sets have 2-D inputs, so a decision boundary can be drawn over the
  plane: moons, circles, blobs, spirals, xor. `noise` is the standard deviation of Gaussian
  noise added to the inputs (for blobs: each cluster's standard deviation is 10 × noise).
- generated regression sets: linear (1-D, y = a·x + b), plane (2-D, y = a1·x1 + a2·x2 + b),
  sine (1-D) and poly (1-D cubic); `noise` is the standard deviation of the noise on y.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
from sklearn import datasets as skd

ClassificationName = Literal[
    "iris", "wine", "breast_cancer", "digits", "moons", "circles", "blobs", "spirals", "xor"
]
RegressionName = Literal["diabetes", "linear", "plane", "sine", "poly"]
DatasetName = Literal[ClassificationName, RegressionName]
BinaryName = Literal["breast_cancer", "moons", "circles", "spirals", "xor"]  # two classes
TwoDName = Literal["moons", "circles", "blobs", "spirals", "xor"]
Task = Literal["classification", "regression"]

CLASSIFICATION_SETS: tuple[str, ...] = get_args(ClassificationName)
REGRESSION_SETS: tuple[str, ...] = get_args(RegressionName)
# Generated classification sets whose inputs are 2-D: their decision boundary can be drawn.
TWO_D_SETS: tuple[str, ...] = get_args(TwoDName)
BINARY_SETS: tuple[str, ...] = get_args(BinaryName)
# The bundled scikit-learn sets: fixed size, no noise parameter.
SKLEARN_SETS: tuple[str, ...] = ("iris", "wine", "breast_cancer", "digits", "diabetes")
# Size of each bundled set (generated sets have n_samples points).
SKLEARN_SIZES: dict[str, int] = {
    "iris": 150, "wine": 178, "breast_cancer": 569, "digits": 1797, "diabetes": 442,
}  # fmt: skip
# Input dimension and number of classes of each set, known before loading (for validation).
N_FEATURES: dict[str, int] = {
    "iris": 4, "wine": 13, "breast_cancer": 30, "digits": 64, "diabetes": 10,
    "moons": 2, "circles": 2, "blobs": 2, "spirals": 2, "xor": 2,
    "linear": 1, "plane": 2, "sine": 1, "poly": 1,
}  # fmt: skip
N_CLASSES: dict[str, int] = {
    "iris": 3, "wine": 3, "breast_cancer": 2, "digits": 10,
    "moons": 2, "circles": 2, "blobs": 3, "spirals": 2, "xor": 2,
}  # fmt: skip

# The true coefficients of the generated regression sets, so a fit can be compared with them.
LINEAR_COEF = (1.5, -0.5)  # linear: y = 1.5·x - 0.5
PLANE_COEF = (2.0, -1.0, 0.5)  # plane: y = 2·x1 - 1·x2 + 0.5
POLY_COEF = (0.5, -1.0, -1.5, 1.0)  # poly: y = 0.5·x³ - x² - 1.5·x + 1


@dataclass
class ToyData:
    """A data set: inputs, targets and what they mean."""

    X: np.ndarray  # (n, d) float64
    y: np.ndarray  # (n,) int64 class ids, or float64 targets
    task: Task
    feature_names: list[str]
    target_names: list[str]  # class names (index = class id), or the target's name
    name: str
    meta: dict[str, float] = field(default_factory=dict)  # e.g. the true coefficients

    @property
    def n_classes(self) -> int:
        return len(self.target_names) if self.task == "classification" else 0


def _bundled(name: str) -> ToyData:
    loaders = {
        "iris": skd.load_iris,
        "wine": skd.load_wine,
        "breast_cancer": skd.load_breast_cancer,
        "digits": skd.load_digits,
        "diabetes": skd.load_diabetes,
    }
    bunch = loaders[name]()
    X = np.asarray(bunch.data, dtype=np.float64)
    if name == "diabetes":
        return ToyData(
            X=X,
            y=np.asarray(bunch.target, dtype=np.float64),
            task="regression",
            feature_names=[str(f) for f in bunch.feature_names],
            target_names=["disease progression"],
            name=name,
        )
    feature_names = (
        [f"pixel_{i // 8}_{i % 8}" for i in range(X.shape[1])]
        if name == "digits"
        else [str(f) for f in bunch.feature_names]
    )
    return ToyData(
        X=X,
        y=np.asarray(bunch.target, dtype=np.int64),
        task="classification",
        feature_names=feature_names,
        target_names=[str(t) for t in bunch.target_names],
        name=name,
    )


def _spirals(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved arms: radius r = t, angle θ = 3π·t (+π for the second arm), t ∈ [0.05, 1]."""
    y = np.arange(n) % 2
    t = rng.uniform(0.05, 1.0, size=n)
    theta = 3.0 * np.pi * t + np.pi * y
    X = np.stack([t * np.cos(theta), t * np.sin(theta)], axis=1)
    return X + rng.normal(0.0, noise, size=X.shape), y


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in [-1, 1]²; class 1 where x1·x2 > 0 (the first and third quadrants)."""
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X + rng.normal(0.0, noise, size=X.shape), y


def _generated_classification(name: str, n: int, noise: float, seed: int) -> ToyData:
    rng = np.random.default_rng(seed)
    names = ["class 0", "class 1"]
    if name == "moons":
        X, y = skd.make_moons(n_samples=n, noise=noise, random_state=seed)
    elif name == "circles":
        X, y = skd.make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)
        names = ["outer", "inner"]
    elif name == "blobs":
        centers = np.array([[-4.0, -2.0], [0.0, 4.0], [4.0, -2.0]])
        X, y = skd.make_blobs(
            n_samples=n, centers=centers, cluster_std=max(10.0 * noise, 1e-3), random_state=seed
        )
        names = ["blob 0", "blob 1", "blob 2"]
    elif name == "spirals":
        X, y = _spirals(n, noise, rng)
        names = ["arm 0", "arm 1"]
    else:
        X, y = _xor(n, noise, rng)
        names = ["opposite signs", "same sign"]
    return ToyData(
        X=np.asarray(X, dtype=np.float64),
        y=np.asarray(y, dtype=np.int64),
        task="classification",
        feature_names=["x1", "x2"],
        target_names=names,
        name=name,
    )


def _generated_regression(name: str, n: int, noise: float, seed: int) -> ToyData:
    rng = np.random.default_rng(seed)
    meta: dict[str, float] = {}
    if name == "linear":
        X = rng.uniform(-3.0, 3.0, size=(n, 1))
        a, b = LINEAR_COEF
        f = a * X[:, 0] + b
        meta = {"a": a, "b": b}
    elif name == "plane":
        X = rng.uniform(-3.0, 3.0, size=(n, 2))
        a1, a2, b = PLANE_COEF
        f = a1 * X[:, 0] + a2 * X[:, 1] + b
        meta = {"a1": a1, "a2": a2, "b": b}
    elif name == "sine":
        X = rng.uniform(-np.pi, np.pi, size=(n, 1))
        f = np.sin(X[:, 0])
    else:
        X = rng.uniform(-2.0, 2.0, size=(n, 1))
        c3, c2, c1, c0 = POLY_COEF
        f = c3 * X[:, 0] ** 3 + c2 * X[:, 0] ** 2 + c1 * X[:, 0] + c0
        meta = {"c3": c3, "c2": c2, "c1": c1, "c0": c0}
    y = f + rng.normal(0.0, noise, size=n)
    return ToyData(
        X=X.astype(np.float64),
        y=y.astype(np.float64),
        task="regression",
        feature_names=["x1", "x2"] if X.shape[1] == 2 else ["x"],
        target_names=["y"],
        name=name,
        meta=meta,
    )


def load_dataset(name: str, *, n_samples: int = 300, noise: float = 0.1, seed: int = 0) -> ToyData:
    """Load a bundled set or generate one. Same (name, n_samples, noise, seed) → same data."""
    if name not in get_args(DatasetName):
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(get_args(DatasetName))}"
        )
    if name in SKLEARN_SETS:
        return _bundled(name)
    if n_samples < 4:
        raise ValueError(f"n_samples must be at least 4, got {n_samples}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if name in CLASSIFICATION_SETS:
        return _generated_classification(name, n_samples, noise, seed)
    return _generated_regression(name, n_samples, noise, seed)
