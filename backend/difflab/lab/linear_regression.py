"""Linear regression: the normal equation beside batch, stochastic and mini-batch gradient descent.

Model: y ≈ θ₀ + wᵀφ(x), with φ(x) = x, or (x, x², …, x^degree) for a 1-D input. Objective

    J(θ) = 1/(2n) ‖Aθ − y‖² + penalty(w)        A = [1, φ(X)] (a column of ones for θ₀)

penalty (the bias θ₀ is never penalized): l2 λ/2‖w‖², l1 λ‖w‖₁, elasticnet
λ(r‖w‖₁ + (1−r)/2‖w‖²) — scikit-learn's ElasticNet objective. The least-squares solution is
the maximum-likelihood estimate under Gaussian noise on y.

- normal equation: ∇J = 0  ⇔  (AᵀA + nλD)θ = Aᵀy, D = diag(0, 1, …, 1). A closed form exists
  without a penalty or with L2 (ridge); L1 has none, so the method is skipped there.
- gradient descent: θ ← θ − lr·∇J on the whole set (batch: one step per epoch), on one example
  at a time (stochastic: n noisy steps per epoch) or on batches (mini-batch: in between).
The updates are plain numpy, so each step reads as the formula. Every epoch reports each
method's MSE and, with at most MAX_LIVE_WEIGHTS weights, its θ as param/<method>/theta_j.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from difflab.datasets.toy import N_FEATURES, RegressionName, load_dataset
from difflab.lab.common import (
    LabCommon,
    curve_fit_png,
    emit,
    heatmap_artifact,
    line_artifact,
    one_thread,
    scale,
    scatter_artifact,
    train_val_split,
)
from difflab.runtime import KindSpec, RunContext, Sink

Method = Literal["normal", "batch", "stochastic", "minibatch"]
ALL_METHODS: tuple[Method, ...] = ("normal", "batch", "stochastic", "minibatch")
GD_METHODS: tuple[Method, ...] = ALL_METHODS[1:]
Penalty = Literal["none", "l1", "l2", "elasticnet"]
MAX_LIVE_WEIGHTS = 10  # θ is reported every epoch (param/<method>/theta_j) up to this many w


class Params(LabCommon):
    dataset: RegressionName = Field(
        "linear",
        description="Regression set: linear (1-D line), plane (2-D inputs), sine, poly (1-D "
        "curves) or diabetes (10 features).",
    )
    degree: int = Field(
        1,
        ge=1,
        le=9,
        description="Degree of the polynomial basis φ(x) = (x, x², …); above 1 for 1-D sets "
        "only (linear, sine, poly).",
    )
    methods: list[Method] = Field(
        default_factory=lambda: list(ALL_METHODS),
        min_length=1,
        max_length=4,
        description="Solvers to compare: normal (closed form), batch, stochastic, minibatch.",
    )
    lr: float = Field(0.05, gt=0.0, le=10.0, description="Gradient-descent step size.")
    epochs: int = Field(50, ge=1, le=2000, description="Passes over the training set.")
    batch_size: int = Field(
        16, ge=1, le=4096, description="Examples per step of mini-batch gradient descent."
    )
    penalty: Penalty = Field(
        "none", description="Weight penalty: none, l1 (lasso), l2 (ridge) or elasticnet."
    )
    penalty_strength: float = Field(
        0.0, ge=0.0, le=10.0, description="λ, the weight of the penalty in the objective."
    )
    l1_ratio: float = Field(
        0.5, ge=0.0, le=1.0, description="Elastic net only: the share r of L1 in the penalty."
    )

    @field_validator("degree")
    @classmethod
    def _degree_for_1d(cls, v: int, info: ValidationInfo) -> int:
        ds = info.data.get("dataset")
        if v > 1 and ds is not None and N_FEATURES[ds] != 1:
            raise ValueError(f"degree > 1 applies to 1-D sets only; {ds} has {N_FEATURES[ds]}")
        return v

    @field_validator("methods")
    @classmethod
    def _distinct(cls, v: list[Method]) -> list[Method]:
        if len(set(v)) != len(v):
            raise ValueError("each method may appear once")
        return v


# --------------------------------------------------------------------------- the math


def design(Phi: np.ndarray) -> np.ndarray:
    """A = [1, φ(X)]: a column of ones so θ₀ is the intercept."""
    return np.column_stack([np.ones(len(Phi)), Phi])


def normal_equation(A: np.ndarray, y: np.ndarray, l2: float = 0.0) -> np.ndarray:
    """Solve (AᵀA + nλD)θ = Aᵀy, D = diag(0, 1, …, 1) (the intercept is not penalized).

    With λ = 0 this is ordinary least squares; `lstsq` takes over when AᵀA is singular.
    """
    n, p = A.shape
    D = np.eye(p)
    D[0, 0] = 0.0
    lhs = A.T @ A + n * l2 * D
    rhs = A.T @ y
    try:
        return np.linalg.solve(lhs, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(lhs, rhs, rcond=None)[0]


def penalty_grad(w: np.ndarray, penalty: Penalty, lam: float, r: float) -> np.ndarray:
    """∂penalty/∂w: l2 λw; l1 λ·sign(w) (a subgradient); elasticnet λ(r·sign(w) + (1−r)w)."""
    if penalty == "none" or lam == 0.0:
        return np.zeros_like(w)
    if penalty == "l2":
        return lam * w
    if penalty == "l1":
        return lam * np.sign(w)
    return lam * (r * np.sign(w) + (1.0 - r) * w)


def gradient(
    theta: np.ndarray, A: np.ndarray, y: np.ndarray, penalty: Penalty, lam: float, r: float
) -> np.ndarray:
    """∇J(θ) on the rows given: (1/m) Aᵀ(Aθ − y), plus the penalty's gradient on w = θ[1:]."""
    g = A.T @ (A @ theta - y) / len(y)
    g[1:] += penalty_grad(theta[1:], penalty, lam, r)
    return g


def gd_epoch(
    method: Method,
    theta: np.ndarray,
    A: np.ndarray,
    y: np.ndarray,
    p: Params,
    rng: np.random.Generator,
) -> np.ndarray:
    """One pass over the training set: θ ← θ − lr·∇J, on all rows, one row, or a batch."""
    if method == "batch":
        return theta - p.lr * gradient(theta, A, y, p.penalty, p.penalty_strength, p.l1_ratio)
    size = 1 if method == "stochastic" else p.batch_size
    order = rng.permutation(len(y))
    for start in range(0, len(y), size):
        idx = order[start : start + size]
        theta = theta - p.lr * gradient(
            theta, A[idx], y[idx], p.penalty, p.penalty_strength, p.l1_ratio
        )
    return theta


def mse(theta: np.ndarray, A: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((A @ theta - y) ** 2))


# --------------------------------------------------------------------------- the run


def polynomial(X: np.ndarray, degree: int) -> np.ndarray:
    """φ(x) = (x, x², …, x^degree) for 1-D x; the inputs unchanged for degree 1."""
    if degree == 1:
        return X
    return np.column_stack([X[:, 0] ** k for k in range(1, degree + 1)])


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    data = load_dataset(p.dataset, n_samples=p.n_samples, noise=p.noise, seed=p.seed)
    X_tr_raw, X_val_raw, y_tr, y_val = train_val_split(data.X, data.y, p.val_fraction, p.seed)

    def features(X: np.ndarray) -> np.ndarray:
        """φ(X), scaled with the training split's statistics (basis first: keeps x⁹ sane)."""
        return scale(polynomial(X_tr_raw, p.degree), polynomial(X, p.degree), scaling=p.scaling)[1]

    Phi_tr, Phi_val = features(X_tr_raw), features(X_val_raw)
    A_tr, A_val = design(Phi_tr), design(Phi_val)
    rng = np.random.default_rng(p.seed)
    thetas: dict[str, np.ndarray] = {}

    has_closed_form = p.penalty in ("none", "l2") or p.penalty_strength == 0.0
    if "normal" in p.methods:
        if has_closed_form:
            lam = p.penalty_strength if p.penalty == "l2" else 0.0
            thetas["normal"] = normal_equation(A_tr, y_tr, l2=lam)
        else:
            sink.log(f"no closed form with a {p.penalty} penalty: the normal equation is skipped")
    gd = [m for m in p.methods if m in GD_METHODS]
    for m in gd:
        thetas[m] = np.zeros(A_tr.shape[1])
    diverged: list[str] = []
    curves: dict[str, list[float]] = {f"train/mse_{m}": [] for m in thetas}
    curves.update({f"val/mse_{m}": [] for m in thetas})
    snapshot_epochs = set(np.linspace(0, p.epochs, 6).round().astype(int).tolist())

    def fit_snapshot(epoch: int) -> None:
        if data.X.shape[1] != 1:
            return
        grid = np.linspace(X_tr_raw.min(), X_tr_raw.max(), 200)[:, None]
        fits = {m: (grid[:, 0], design(features(grid)) @ th) for m, th in thetas.items()}
        emit(
            sink,
            f"fit/epoch_{epoch:05d}.png",
            curve_fit_png(X_tr_raw, y_tr, fits),
            view="image",
            step=epoch,
        )
        if epoch == p.epochs:
            lines = line_artifact(
                fits, f"fitted {data.name}", title_zh=f"数据集 {data.name} 的拟合曲线"
            )
            emit(sink, "fit/lines.json", lines, view="line")

    # θ of every epoch as metrics, while it has few enough entries to read
    live_theta = Phi_tr.shape[1] <= MAX_LIVE_WEIGHTS

    def record(epoch: int) -> None:
        values: dict[str, float] = {}
        for m, th in thetas.items():
            if m in diverged:
                continue
            values[f"train/mse_{m}"] = mse(th, A_tr, y_tr)
            values[f"val/mse_{m}"] = mse(th, A_val, y_val)
            for k, v in values.items():
                if k.endswith(f"_{m}"):
                    curves[k].append(v)
            if live_theta:  # θ₀ (the intercept), θ₁, … of this epoch
                for j, v in enumerate(th):
                    values[f"param/{m}/theta_{j}"] = float(v)
        sink.metric(epoch, values, epoch=epoch)
        if epoch in snapshot_epochs:
            fit_snapshot(epoch)

    record(0)
    for epoch in range(1, p.epochs + 1):
        sink.check()
        for m in gd:
            if m in diverged:
                continue
            theta = gd_epoch(m, thetas[m], A_tr, y_tr, p, rng)
            if not np.all(np.isfinite(theta)) or mse(theta, A_tr, y_tr) > 1e12:
                diverged.append(m)
                sink.log(f"{m} gradient descent diverged at epoch {epoch}: lower lr")
                continue
            thetas[m] = theta
        record(epoch)
        sink.progress(epoch, p.epochs)

    # curves: one series per method (x = epoch), train and validation
    line = {}
    for k, ys in curves.items():
        line[k] = (list(range(len(ys))), ys)
    emit(
        sink,
        "mse/curves.json",
        line_artifact(line, "MSE per epoch", title_zh="每轮的均方误差（MSE）"),
        view="line",
    )
    names = [
        "bias",
        *([f"x^{k}" for k in range(1, p.degree + 1)] if p.degree > 1 else data.feature_names),
    ]
    methods = list(thetas)
    emit(
        sink,
        "coefficients.json",
        heatmap_artifact(
            np.array([thetas[m] for m in methods]),
            names,
            methods,
            "θ per method",
            title_zh="各方法求得的 θ",
        ),
        view="heatmap",
    )
    # predicted against true on the validation split: on the diagonal when the fit is good
    pts = np.concatenate([np.column_stack([y_val, A_val @ thetas[m]]) for m in methods])
    labels = np.repeat(np.arange(len(methods)), len(y_val))
    emit(
        sink,
        "predicted_vs_true.json",
        scatter_artifact(
            pts,
            labels,
            methods,
            "validation: true y (x) vs predicted (y)",
            title_zh="验证集：真实值 y（横轴）与预测值（纵轴）",
        ),
        view="scatter",
    )
    if data.X.shape[1] == 2:  # the fitted plane of the first method over the input square
        g1 = np.linspace(Phi_tr[:, 0].min(), Phi_tr[:, 0].max(), 25)
        g2 = np.linspace(Phi_tr[:, 1].max(), Phi_tr[:, 1].min(), 25)
        G1, G2 = np.meshgrid(g1, g2)
        plane = design(np.column_stack([G1.ravel(), G2.ravel()])) @ thetas[methods[0]]
        emit(
            sink,
            "plane.json",
            heatmap_artifact(
                plane.reshape(25, 25),
                [f"{v:.2f}" for v in g1],
                [f"{v:.2f}" for v in g2],
                f"fitted plane ({methods[0]}) over scaled x1 (columns), x2 (rows)",
                title_zh=f"拟合出的平面（{methods[0]}）：列为缩放后的 x1，行为缩放后的 x2",
            ),
            view="heatmap",
        )

    result: dict[str, Any] = {"diverged": diverged, "theta": {}}
    for name in methods:
        if name in diverged:
            continue
        result[f"train/mse_{name}"] = mse(thetas[name], A_tr, y_tr)
        result[f"val/mse_{name}"] = mse(thetas[name], A_val, y_val)
        result["theta"][name] = [float(v) for v in thetas[name]]
    if "normal" in thetas:  # how far each descent ended from the exact solution
        for g in gd:
            if g not in diverged:
                result[f"gap_to_normal/{g}"] = float(np.max(np.abs(thetas[g] - thetas["normal"])))
    return result


SPEC = KindSpec(
    name="lab.linear_regression",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Linear regression",
    description="The normal equation beside batch, stochastic and mini-batch gradient descent: "
    "MSE per epoch for each, the fitted line or plane, L1/L2/elastic-net penalties.",
)
