"""`lab.regularization`: three ways to keep a model from fitting the noise, side by side.

1. paths — penalized least squares over a log-spaced grid of λ, with the objective

       J(w) = 1/(2n) ‖Xw − y‖² + penalty(w)
       lasso (L1):  λ‖w‖₁           ridge (L2):  λ/2 ‖w‖²
       elastic net: λ(r‖w‖₁ + (1−r)/2 ‖w‖²)     (r = l1_ratio)

   X and y are centered on the training means (the intercept is left unpenalized) and y is
   divided by its standard deviation, so one λ grid fits every data set. Lasso and elastic
   net come from scikit-learn's coordinate descent (`lasso_path`, `enet_path`; their alpha is
   this λ), ridge from `Ridge` with alpha = nλ (scikit-learn's ridge has no 1/(2n)), which is
   the closed form w = (XᵀX + nλI)⁻¹Xᵀy. L1 sets weights to exactly zero one after another as
   λ grows (feature selection); L2 only shrinks them.
2. dropout — the same over-parameterized MLP trained with and without dropout on a few
   training points. In training mode each hidden unit is zeroed with probability p (the rest
   scaled by 1/(1−p)); in eval mode all units work, so the dropout net's training error
   measured in eval mode is lower than the one it is optimized on, and its validation error
   stays closer to its training error than the plain net's.
3. early stopping — the plain net's validation curve: it falls, then rises as the net fits
   the noise. Training stops when it has not improved for `patience` epochs; the best epoch
   (whose weights would be restored) and the stopping epoch are marked on the curve. The run
   goes on to `epochs` to show what stopping avoided.

Both nets train full-batch with Adam on the mean squared error (in units of y's variance).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator, model_validator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge, enet_path, lasso_path
from sklearn.preprocessing import PolynomialFeatures
from torch import nn
from torch.nn import functional as F

from difflab.datasets.toy import N_FEATURES, RegressionName, load_dataset
from difflab.lab.common import LabCommon, emit, line_artifact, one_thread, scale, train_val_split
from difflab.lab.mlp import build_mlp
from difflab.lab.nn import EarlyStopping
from difflab.runtime import KindSpec, RunContext, Sink

Part = Literal["paths", "dropout", "early_stopping"]
ALL_PARTS: tuple[Part, ...] = ("paths", "dropout", "early_stopping")
MAX_ITER = 20_000  # coordinate-descent sweeps per λ: strongly correlated x, x², … need many
TOL = 1e-8  # duality-gap tolerance (scikit-learn's 1e-4 leaves errors near 1e-4 in w)
PENALTY_ZH = {"lasso": "Lasso（L1）", "ridge": "岭回归（L2）", "elasticnet": "弹性网络"}  # titles


class Params(LabCommon):
    """Coefficient paths of L1/L2/elastic net, dropout's train/eval gap, early stopping."""

    dataset: RegressionName = Field(
        "diabetes",
        description="Regression set: diabetes (10 features), plane (2-D inputs), or a 1-D set "
        "(linear, sine, poly) expanded to polynomial features by `degree`.",
    )
    degree: int = Field(
        1,
        ge=1,
        le=12,
        description="Degree of the polynomial basis (x, x², …) for 1-D sets; try poly with 9 "
        "and watch the lasso keep the low powers.",
    )
    parts: list[Part] = Field(
        default_factory=lambda: list(ALL_PARTS),
        min_length=1,
        max_length=3,
        description="What to run: paths (L1/L2/elastic-net λ sweep), dropout (with against "
        "without), early_stopping (the validation curve and its stopping point).",
    )
    n_lambdas: int = Field(30, ge=3, le=200, description="Number of λ values in the sweep.")
    lambda_min: float = Field(1e-3, gt=0.0, le=1e3, description="Smallest λ of the sweep.")
    lambda_max: float = Field(1e2, gt=0.0, le=1e4, description="Largest λ of the sweep.")
    l1_ratio: float = Field(
        0.5, ge=0.05, le=0.95, description="Elastic net: the share r of L1 in the penalty."
    )
    net_points: int = Field(
        60,
        ge=5,
        le=20000,
        description="Training points the networks see (at most the training split): few "
        "points and a wide net overfit.",
    )
    hidden_size: int = Field(
        64, ge=2, le=1024, description="Units in each of the two ReLU hidden layers."
    )
    dropout: float = Field(
        0.5, ge=0.05, le=0.9, description="Probability of zeroing a hidden unit in training."
    )
    epochs: int = Field(300, ge=1, le=5000, description="Full-batch Adam steps of the networks.")
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate of the networks.")
    patience: int = Field(
        20,
        ge=1,
        le=1000,
        description="Early stopping: epochs without a lower validation error before stopping.",
    )

    @field_validator("degree")
    @classmethod
    def _degree_for_1d(cls, v: int, info: ValidationInfo) -> int:
        ds = info.data.get("dataset")
        if v > 1 and ds is not None and N_FEATURES[ds] != 1:
            raise ValueError(f"degree > 1 applies to 1-D sets only; {ds} has {N_FEATURES[ds]}")
        return v

    @field_validator("parts")
    @classmethod
    def _distinct(cls, v: list[Part]) -> list[Part]:
        if len(set(v)) != len(v):
            raise ValueError("each part may appear once")
        return v

    @model_validator(mode="after")
    def _lambda_range(self) -> Params:
        if self.lambda_min >= self.lambda_max:
            raise ValueError(
                f"lambda_min ({self.lambda_min}) must be below lambda_max ({self.lambda_max})"
            )
        return self


# --------------------------------------------------------------------------- data


@dataclass
class Design:
    """Training and validation data with X and y centered on the training means, y scaled."""

    X_train: np.ndarray  # (n, d)
    X_val: np.ndarray
    y_train: np.ndarray  # (n,)
    y_val: np.ndarray
    names: list[str]  # one per column of X


def design(p: Params) -> Design:
    """Load, split, expand (1-D sets), scale by `p.scaling`, then center X and standardize y
    with the training split's statistics."""
    data = load_dataset(p.dataset, n_samples=p.n_samples, noise=p.noise, seed=p.seed)
    X_tr, X_val, y_tr, y_val = train_val_split(data.X, data.y, p.val_fraction, p.seed)
    names = list(data.feature_names)
    if p.degree > 1:
        poly = PolynomialFeatures(p.degree, include_bias=False).fit(X_tr)
        X_tr, X_val = poly.transform(X_tr), poly.transform(X_val)
        names = [f"x^{k}" for k in range(1, p.degree + 1)]
    X_tr, X_val = scale(X_tr, X_val, scaling=p.scaling)
    shift = X_tr.mean(axis=0)
    y_mean, y_std = float(y_tr.mean()), float(y_tr.std() or 1.0)
    return Design(
        X_tr - shift, X_val - shift, (y_tr - y_mean) / y_std, (y_val - y_mean) / y_std, names
    )


# --------------------------------------------------------------------------- paths


def coefficient_paths(
    X: np.ndarray, y: np.ndarray, lambdas: np.ndarray, l1_ratio: float
) -> dict[str, np.ndarray]:
    """{penalty: coefficients (len(lambdas), d)} for lasso, ridge and elastic net, row i at
    lambdas[i] (ascending). X and y must be centered: no intercept is fitted."""
    descending = np.sort(lambdas)[::-1]  # the order coordinate descent warm-starts along
    solver = {"alphas": descending, "max_iter": MAX_ITER, "tol": TOL}
    _, lasso, _ = lasso_path(X, y, **solver)
    _, enet, _ = enet_path(X, y, l1_ratio=l1_ratio, **solver)
    n = len(y)
    ridge = np.array(
        [Ridge(alpha=n * lam, fit_intercept=False).fit(X, y).coef_ for lam in np.sort(lambdas)]
    )
    return {"lasso": lasso.T[::-1], "ridge": ridge, "elasticnet": enet.T[::-1]}


def zero_counts(coefs: np.ndarray) -> np.ndarray:
    """How many weights are exactly zero at each λ (coordinate descent zeroes them exactly)."""
    return np.sum(coefs == 0.0, axis=1)


def log_x_line(
    series: dict[str, tuple[np.ndarray, np.ndarray]], title: str, title_zh: str
) -> dict[str, Any]:
    """A line artifact over λ: `line_artifact` rounds to 5 decimals, too coarse for a log axis
    (λ = 0.00149 would read 0.0015), so λ keeps 6 significant digits."""
    out = line_artifact(series, title, title_zh=title_zh)
    for s, (xs, _) in zip(out["series"], series.values(), strict=True):
        s["x"] = [float(f"{v:.6g}") for v in xs]
    return out


def run_paths(p: Params, d: Design, sink: Sink) -> dict[str, Any]:
    lambdas = np.logspace(np.log10(p.lambda_min), np.log10(p.lambda_max), p.n_lambdas)
    sink.check()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        paths = coefficient_paths(d.X_train, d.y_train, lambdas, p.l1_ratio)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        sink.log(
            f"coordinate descent did not converge within {MAX_ITER} sweeps at some small λ "
            "(strongly correlated features): those coefficients are approximate"
        )
    out: dict[str, Any] = {}
    errors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    zeros: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    log_x = {"log_x": True, "x_title": "λ", "x_title_zh": "λ"}
    for name, W in paths.items():
        sink.check()
        series = {feat: (lambdas, W[:, j]) for j, feat in enumerate(d.names)}
        emit(
            sink,
            f"paths/{name}.json",
            log_x_line(
                series,
                f"{name} coefficients against λ (log scale)",
                f"{PENALTY_ZH[name]}的系数随 λ 的变化（对数坐标）",
            ),
            view="line",
            meta=log_x,
        )
        train = np.mean((d.X_train @ W.T - d.y_train[:, None]) ** 2, axis=0)
        val = np.mean((d.X_val @ W.T - d.y_val[:, None]) ** 2, axis=0)
        errors[f"{name} train"] = (lambdas, train)
        errors[f"{name} val"] = (lambdas, val)
        z = zero_counts(W)
        zeros[name] = (lambdas, z)
        best = int(np.argmin(val))
        out[f"paths/best_lambda_{name}"] = float(lambdas[best])
        out[f"paths/val_mse_{name}"] = float(val[best])
        out[f"paths/zeros_at_best_{name}"] = int(z[best])
    emit(
        sink,
        "paths/zero_weights.json",
        log_x_line(
            zeros,
            f"weights exactly zero (of {len(d.names)}) against λ",
            f"恰为零的权重个数（共 {len(d.names)} 个）随 λ 的变化",
        ),
        view="line",
        meta=log_x,
    )
    emit(
        sink,
        "paths/mse.json",
        log_x_line(
            errors, "MSE (units of var y) against λ", "均方误差（以 y 的方差为单位）随 λ 的变化"
        ),
        view="line",
        meta=log_x,
    )
    out["paths/lambdas"] = [float(v) for v in lambdas]
    return out


# --------------------------------------------------------------------------- networks


def mse(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """The mean squared error in the model's current mode (train: dropout on; eval: off)."""
    with torch.no_grad():
        return float(F.mse_loss(model(X).squeeze(1), y))


def vee(x: float, y: float, half_width: float, height: float) -> tuple[list[float], list[float]]:
    """A small ∨ whose tip sits on (x, y): a point marker a line chart can draw."""
    return [x - half_width, x, x + half_width], [y + height, y, y + height]


def run_nets(p: Params, d: Design, sink: Sink, device: torch.device) -> dict[str, Any]:
    n = min(p.net_points, len(d.y_train))
    if n < p.net_points:
        sink.log(f"net_points is {p.net_points}; the training split has {n}: the nets use {n}")

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float32, device=device)

    Xtr, ytr = tensor(d.X_train[:n]), tensor(d.y_train[:n])
    Xva, yva = tensor(d.X_val), tensor(d.y_val)
    hidden = [p.hidden_size, p.hidden_size]
    nets: dict[str, nn.Module] = {}
    torch.manual_seed(p.seed)
    nets["plain"] = build_mlp(Xtr.shape[1], hidden, 1, "relu", 0.0).to(device)
    if "dropout" in p.parts:
        torch.manual_seed(p.seed)  # the same initial weights: only dropout differs
        nets["dropout"] = build_mlp(Xtr.shape[1], hidden, 1, "relu", p.dropout).to(device)
    optimizers = {k: torch.optim.Adam(net.parameters(), lr=p.lr) for k, net in nets.items()}
    stopper = EarlyStopping(p.patience)
    stop_epoch: int | None = None
    curves: dict[str, list[float]] = {}

    for epoch in range(1, p.epochs + 1):
        sink.check()
        values: dict[str, float] = {}
        for name, net in nets.items():
            net.train()
            loss = F.mse_loss(net(Xtr).squeeze(1), ytr)
            optimizers[name].zero_grad(set_to_none=True)
            loss.backward()
            optimizers[name].step()
            if name == "dropout":  # the error it is optimized on: units dropped
                values["train/mse_dropout_train_mode"] = float(loss.detach())
            net.eval()
            values[f"train/mse_{name}"] = mse(net, Xtr, ytr)
            values[f"val/mse_{name}"] = mse(net, Xva, yva)
        for k, v in values.items():
            curves.setdefault(k, []).append(v)
        sink.metric(epoch, values, epoch=epoch)
        sink.progress(epoch, p.epochs, f"epoch {epoch}/{p.epochs}")
        watching = "early_stopping" in p.parts and stop_epoch is None
        if watching and stopper.update(values["val/mse_plain"], nets["plain"]):
            stop_epoch = epoch
            sink.log(
                f"early stopping would stop at epoch {epoch}: val MSE has not improved for "
                f"{p.patience} epochs; best {stopper.best:.4g} at epoch {stopper.best_epoch + 1}"
            )

    epochs = list(range(1, p.epochs + 1))
    out: dict[str, Any] = {
        "train/mse_plain": curves["train/mse_plain"][-1],
        "val/mse_plain": curves["val/mse_plain"][-1],
        "net_points": n,
    }
    if "dropout" in nets:
        labels = {
            "train/mse_plain": "no dropout: train",
            "val/mse_plain": "no dropout: val",
            "train/mse_dropout_train_mode": "dropout: train, train mode",
            "train/mse_dropout": "dropout: train, eval mode",
            "val/mse_dropout": "dropout: val",
        }
        emit(
            sink,
            "dropout/curves.json",
            line_artifact(
                {label: (epochs, curves[k]) for k, label in labels.items()},
                f"MSE per epoch with and without dropout (p = {p.dropout})",
                title_zh=f"有无 Dropout 时每轮的均方误差（p = {p.dropout}）",
            ),
            view="line",
        )
        for k in ("train/mse_dropout", "train/mse_dropout_train_mode", "val/mse_dropout"):
            out[k] = curves[k][-1]
        out["dropout/gap_plain"] = out["val/mse_plain"] - out["train/mse_plain"]
        out["dropout/gap_dropout"] = out["val/mse_dropout"] - out["train/mse_dropout"]
        out["dropout/train_minus_eval"] = (
            out["train/mse_dropout_train_mode"] - out["train/mse_dropout"]
        )
    if "early_stopping" in p.parts:
        val = curves["val/mse_plain"]
        best_epoch = stopper.best_epoch + 1
        best = val[best_epoch - 1]
        half_width = max(1.0, 0.01 * p.epochs)
        height = 0.05 * (max(val) - min(val) or 1.0)
        series: dict[str, tuple[Sequence[float], Sequence[float]]] = {
            "train": (epochs, curves["train/mse_plain"]),
            "val": (epochs, val),
            f"best: epoch {best_epoch}": vee(best_epoch, best, half_width, height),
        }
        if stop_epoch is not None:
            series[f"stop: epoch {stop_epoch}"] = vee(
                stop_epoch, val[stop_epoch - 1], half_width, height
            )
        else:
            sink.log(f"no early stop within {p.epochs} epochs (patience {p.patience})")
        emit(
            sink,
            "early_stopping/curve.json",
            line_artifact(
                series,
                f"validation MSE without dropout, patience {p.patience}",
                title_zh=f"不加 Dropout 时验证集的均方误差，早停 patience = {p.patience}",
            ),
            view="line",
            meta={"best_epoch": best_epoch, "stop_epoch": stop_epoch},
        )
        out["early_stopping/best_epoch"] = best_epoch
        out["early_stopping/stop_epoch"] = stop_epoch
        out["early_stopping/val_mse_best"] = best
        out["early_stopping/val_mse_last"] = val[-1]
    return out


# --------------------------------------------------------------------------- the run


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    d = design(p)
    result: dict[str, Any] = {"features": d.names}
    if "paths" in p.parts:
        result.update(run_paths(p, d, sink))
    if {"dropout", "early_stopping"} & set(p.parts):
        result.update(run_nets(p, d, sink, torch.device(ctx.device)))  # progress per epoch
    else:
        sink.progress(1, 1, "λ sweep done")
    return result


SPEC = KindSpec(
    name="lab.regularization",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Regularization",
    description="L1, L2 and elastic-net paths over a λ sweep with the count of zero weights; "
    "dropout's train/eval gap; the early-stopping point on the validation curve.",
)
