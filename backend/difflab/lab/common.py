"""What every lab kind shares: data parameters, scaling, the train/validation split, visuals.

Parameters: `DataCommon` (dataset, n_samples, noise, scaling, seed) and `LabCommon` (the same
plus val_fraction) are pydantic mixins; a kind's Params subclass one of them, narrows
`dataset` to the sets that fit it, and keeps `extra="forbid"` so an inapplicable field is a 422.

Visual helpers return what `Sink.artifact` stores, following the artifact conventions:
a PIL image for view "image" (drawn in `difflab.lab.plots`, re-exported here), or a dict for
views "scatter", "heatmap", "confusion", "line". `emit` stores one with the right kind and meta.

Every English title, caption and axis title a learner reads has its Chinese beside it under the
same key with `_zh` (`title_zh`, `captions_zh`, `x_title_zh`), in the dict or in the meta, built
from the same live values; the run page shows it when the UI speaks Chinese.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from difflab.datasets.toy import DatasetName, ToyData, load_dataset
from difflab.lab.plots import PALETTE, curve_fit_png, decision_boundary_png, image_grid
from difflab.runtime import Sink

__all__ = [
    "PALETTE",
    "DataCommon",
    "LabCommon",
    "LabData",
    "Scaling",
    "View",
    "confusion_artifact",
    "curve_fit_png",
    "decision_boundary_png",
    "emit",
    "heatmap_artifact",
    "image_grid",
    "line_artifact",
    "load_all",
    "load_split",
    "one_thread",
    "scale",
    "scatter_artifact",
    "train_val_split",
]

Scaling = Literal["none", "minmax", "standard"]
View = Literal["image", "scatter", "heatmap", "confusion", "line"]
Values = Sequence[float] | np.ndarray  # a series of numbers: a list or a 1-D array


# --------------------------------------------------------------------------- parameters


class DataCommon(BaseModel):
    """Data parameters of every lab kind. Subclasses narrow `dataset` to the sets that fit."""

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetName = Field(
        "moons",
        description="Data set: scikit-learn's bundled sets (iris, wine, breast_cancer, digits, "
        "diabetes) or a generated one (moons, circles, blobs, spirals, xor, linear, plane, "
        "sine, poly).",
    )
    n_samples: int = Field(
        300, ge=20, le=20000, description="Points to generate (generated sets only)."
    )
    noise: float = Field(
        0.1,
        ge=0.0,
        le=2.0,
        description="Standard deviation of the noise on the inputs (classification) or on the "
        "target (regression); generated sets only.",
    )
    scaling: Scaling = Field(
        "standard",
        description="Input scaling fitted on the training split: none, minmax (to [0, 1]) or "
        "standard (zero mean, unit variance).",
    )
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="Seed of the data, the split and the model."
    )


class LabCommon(DataCommon):
    """Data parameters of the supervised kinds: DataCommon plus the validation fraction."""

    val_fraction: float = Field(
        0.25, ge=0.05, le=0.5, description="Share of the data held out for validation."
    )


# --------------------------------------------------------------------------- threads

_P = ParamSpec("_P")
_R = TypeVar("_R")


def one_thread(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run `fn` with BLAS, OpenMP and (if loaded) torch on one thread each, then restore them.

    The lab's models are small: splitting their operations over threads costs more in
    synchronisation than it saves, and on a busy 2-core machine far more (measured: t-SNE on
    500 digits 40 s against 2 s, softmax regression on digits 13 s against 0.5 s).
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        torch = sys.modules.get("torch")  # only when already imported: never import it here
        before = torch.get_num_threads() if torch is not None else 0
        with threadpool_limits(limits=1):
            if torch is not None:
                torch.set_num_threads(1)
            try:
                return fn(*args, **kwargs)
            finally:
                if torch is not None:
                    torch.set_num_threads(before)

    return wrapper


# --------------------------------------------------------------------------- data


def scale(X_train: np.ndarray, *X_other: np.ndarray, scaling: Scaling) -> tuple[np.ndarray, ...]:
    """Scale `X_train` and every other array with statistics of `X_train` alone.

    minmax:   x' = (x - min) / (max - min)        (a constant column keeps range 1)
    standard: x' = (x - mean) / std  (std with ddof=0; a constant column keeps std 1)
    Returns (X_train', *X_other') as float64; fitting on the training split only keeps the
    validation data unseen, as the notes insist.
    """
    if scaling not in ("none", "minmax", "standard"):
        raise ValueError(f"scaling must be 'none', 'minmax' or 'standard', got {scaling!r}")
    X_train = np.asarray(X_train, dtype=np.float64)
    others = [np.asarray(X, dtype=np.float64) for X in X_other]
    if scaling == "none":
        return (X_train.copy(), *(X.copy() for X in others))
    if scaling == "minmax":
        shift = X_train.min(axis=0)
        span = X_train.max(axis=0) - shift
    else:
        shift = X_train.mean(axis=0)
        span = X_train.std(axis=0)
    span = np.where(span == 0.0, 1.0, span)
    return tuple((X - shift) / span for X in (X_train, *others))


def train_val_split(
    X: np.ndarray, y: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into (X_train, X_val, y_train, y_val).

    Integer targets (class ids) are split stratified — each class keeps its share in both
    parts — when every class has at least two members.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    stratify = None
    if np.issubdtype(y.dtype, np.integer):
        _, counts = np.unique(y, return_counts=True)
        n_val = int(np.ceil(val_fraction * len(y)))
        if counts.min() >= 2 and len(counts) <= min(n_val, len(y) - n_val):
            stratify = y
    X_tr, X_val, y_tr, y_val = train_test_split(
        X, y, test_size=val_fraction, random_state=seed, stratify=stratify
    )
    return X_tr, X_val, y_tr, y_val


@dataclass
class LabData:
    """A loaded data set, split and scaled (the scaler fitted on the training part)."""

    data: ToyData
    X_train: np.ndarray
    X_val: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray


def load_split(p: LabCommon) -> LabData:
    """Load `p.dataset`, split it by `p.val_fraction`, scale it by `p.scaling`."""
    data = load_dataset(p.dataset, n_samples=p.n_samples, noise=p.noise, seed=p.seed)
    X_tr, X_val, y_tr, y_val = train_val_split(data.X, data.y, p.val_fraction, p.seed)
    X_tr, X_val = scale(X_tr, X_val, scaling=p.scaling)
    return LabData(data, X_tr, X_val, y_tr, y_val)


def load_all(p: DataCommon) -> tuple[ToyData, np.ndarray]:
    """Load `p.dataset` whole (unsupervised kinds) and return it with its scaled inputs."""
    data = load_dataset(p.dataset, n_samples=p.n_samples, noise=p.noise, seed=p.seed)
    (X,) = scale(data.X, scaling=p.scaling)
    return data, X


# --------------------------------------------------------------------------- artifacts


def _r(v: Any, digits: int = 5) -> Any:
    """Round floats for compact JSON; leave other values alone."""
    if isinstance(v, float | np.floating):
        return round(float(v), digits)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _titled(title: str, title_zh: str | None) -> dict[str, str]:
    """{"title": title} and, when given, {"title_zh": title_zh} beside it."""
    return {"title": title} if title_zh is None else {"title": title, "title_zh": title_zh}


def emit(
    sink: Sink,
    name: str,
    data: Any,
    *,
    view: View,
    step: int | None = None,
    meta: Mapping[str, Any] | None = None,
) -> str:
    """Store an artifact with meta {"view": view, ...}: a PIL image as an image, a dict as json."""
    kind: Literal["image", "json"] = "image" if hasattr(data, "save") else "json"
    return sink.artifact(name, data, kind=kind, step=step, meta={"view": view, **(meta or {})})


def scatter_artifact(
    points: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    label_names: Sequence[str],
    title: str,
    *,
    title_zh: str | None = None,
) -> dict[str, Any]:
    """A "scatter" view: 2-D points, each with a label index into `label_names`."""
    P = np.asarray(points, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != 2:
        raise ValueError(f"scatter points must have shape (n, 2), got {P.shape}")
    lab = np.asarray(labels).astype(np.int64)
    if len(lab) != len(P):
        raise ValueError(f"{len(P)} points but {len(lab)} labels")
    return {
        "points": [[_r(a), _r(b)] for a, b in P],
        "labels": [int(v) for v in lab],
        "label_names": [str(n) for n in label_names],
        **_titled(title, title_zh),
    }


def heatmap_artifact(
    matrix: np.ndarray | Sequence[Sequence[float]],
    x_labels: Sequence[str],
    y_labels: Sequence[str],
    title: str,
    *,
    title_zh: str | None = None,
) -> dict[str, Any]:
    """A "heatmap" view: matrix[i][j] is row y_labels[i], column x_labels[j]."""
    M = np.asarray(matrix, dtype=np.float64)
    if M.shape != (len(y_labels), len(x_labels)):
        raise ValueError(
            f"matrix shape {M.shape} does not match {len(y_labels)} rows × {len(x_labels)} columns"
        )
    return {
        "matrix": [[_r(v) for v in row] for row in M],
        "x_labels": [str(s) for s in x_labels],
        "y_labels": [str(s) for s in y_labels],
        **_titled(title, title_zh),
    }


def confusion_artifact(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: Sequence[str],
    title: str = "confusion matrix",
    *,
    title_zh: str | None = None,
) -> dict[str, Any]:
    """A "confusion" view: rows are true classes, columns predicted; class i is named labels[i].
    The default title comes with its Chinese; a title of the caller's needs its own."""
    if title_zh is None and title == "confusion matrix":
        title_zh = "混淆矩阵"
    M = confusion_matrix(y_true, y_pred, labels=list(range(len(labels))))
    out = heatmap_artifact(M, labels, labels, title, title_zh=title_zh)
    out["matrix"] = [[int(v) for v in row] for row in M]
    out["x_title"], out["y_title"] = "predicted", "true"
    out["x_title_zh"], out["y_title_zh"] = "预测类别", "真实类别"
    return out


def line_artifact(
    series: Mapping[str, tuple[Values, Values]],
    title: str,
    *,
    title_zh: str | None = None,
) -> dict[str, Any]:
    """A "line" view from {name: (x values, y values)}."""
    out = []
    for name, (xs, ys) in series.items():
        if len(xs) != len(ys):
            raise ValueError(f"series {name!r}: {len(xs)} x values but {len(ys)} y values")
        out.append({"name": name, "x": [_r(v) for v in xs], "y": [_r(v) for v in ys]})
    return {"series": out, **_titled(title, title_zh)}
