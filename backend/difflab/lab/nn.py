"""Shared pieces of the gradient-trained lab models: optimizers, penalties, early stopping.

Every neural kind (and any classic kind trained by gradient descent) builds its optimizer with
`make_optimizer`, adds `penalty_term` to its loss, watches its validation metric with
`EarlyStopping` and reports `grad_norms_per_layer`. `NNCommon` holds the parameters these
share, so each kind's Params model reads `class Params(NNCommon): ...`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from difflab.runtime import Sink
from difflab.train_loop import run_loop

OptimizerName = Literal[
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw"
]
Penalty = Literal["none", "l1", "l2", "elasticnet"]


def make_optimizer(
    name: OptimizerName,
    params: Iterable[torch.nn.Parameter] | Iterable[dict[str, object]],
    lr: float,
    momentum: float = 0.9,
    weight_decay: float | None = None,
) -> torch.optim.Optimizer:
    """The torch.optim optimizer the notes call `name`.

    sgd:      w <- w - lr * g
    momentum: v <- momentum * v + g;  w <- w - lr * v
    nesterov: the same velocity, the gradient read at the look-ahead point w - lr * momentum * v
    adagrad:  lr / sqrt(sum of all past g^2) per coordinate (the step shrinks over time)
    rmsprop:  lr / sqrt(moving average of g^2) (forgets old gradients)
    adadelta: step size from the ratio of moving averages of past updates and of g^2
              (its natural lr is 1.0; lr here scales that)
    adam:     moving averages of g and g^2 with bias correction
    adamw:    adam with weight decay applied to the weights directly, not through the gradient

    `weight_decay=None` keeps torch's default for the optimizer (0 for all but AdamW's 0.01).
    """
    wd = weight_decay if weight_decay is not None else (0.01 if name == "adamw" else 0.0)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}")


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the first parameter group (the value reported as metric `lr`)."""
    return float(optimizer.param_groups[0]["lr"])


def weight_parameters(model: nn.Module) -> list[torch.nn.Parameter]:
    """The weight matrices and kernels of a model (ndim >= 2): what a penalty acts on.

    Biases and normalization gains are left alone, as is usual for L1/L2 regularization.
    """
    return [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]


def penalty_term(
    parameters: Iterable[torch.Tensor],
    kind: Penalty,
    strength: float,
    l1_ratio: float = 0.5,
) -> torch.Tensor:
    """The regularization term added to the loss, with λ = strength:

    l1:         λ * Σ|w|                          (drives weights to exactly zero: sparse)
    l2:         λ/2 * Σ w²                        (shrinks all weights; its gradient is λ·w,
                                                   the same step as weight decay λ in SGD)
    elasticnet: λ * (r * Σ|w| + (1 - r)/2 * Σ w²)  with r = l1_ratio (scikit-learn's form)
    none:       0
    """
    params = list(parameters)
    zero = torch.zeros((), device=params[0].device) if params else torch.zeros(())
    if kind == "none" or strength == 0.0 or not params:
        return zero
    l1 = sum((p.abs().sum() for p in params), zero)
    l2 = sum((p.pow(2).sum() for p in params), zero)
    if kind == "l1":
        return strength * l1
    if kind == "l2":
        return 0.5 * strength * l2
    if kind == "elasticnet":
        return strength * (l1_ratio * l1 + 0.5 * (1.0 - l1_ratio) * l2)
    raise ValueError(f"unknown penalty {kind!r}")


class EarlyStopping:
    """Stop when the validation metric has not improved for `patience` checks in a row.

    `update(value, model)` records the metric after an epoch and returns True when training
    should stop; the best weights seen so far are kept (a copy of the state dict) and
    `restore(model)` loads them back. `patience=0` turns stopping off: `update` never returns
    True, though the best value is still recorded.
    """

    def __init__(self, patience: int, mode: Literal["min", "max"] = "min", min_delta: float = 0.0):
        if patience < 0:
            raise ValueError("patience must be >= 0")
        self.patience = patience
        self.mode = mode
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch = -1
        self.bad_checks = 0
        self._checks = 0
        self._best_state: dict[str, torch.Tensor] | None = None

    def _improves(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, model: nn.Module) -> bool:
        if math.isnan(value):
            self.bad_checks += 1
        elif self._improves(value):
            self.best = value
            self.best_epoch = self._checks
            self.bad_checks = 0
            if self.patience > 0:
                self._best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_checks += 1
        self._checks += 1
        return self.patience > 0 and self.bad_checks >= self.patience

    def restore(self, model: nn.Module) -> bool:
        """Load the best weights into `model`; False when none were kept (stopping was off)."""
        if self._best_state is None:
            return False
        model.load_state_dict(self._best_state)
        return True


def grad_norms_per_layer(model: nn.Module) -> dict[str, float]:
    """‖∂L/∂θ‖₂ per layer (a module's weight and bias together), keyed by the module's name.

    Read after `loss.backward()`. In a deep sigmoid or tanh network the first layers' norms are
    much smaller than the last ones' (vanishing gradients); ReLU keeps them closer.
    """
    squares: dict[str, float] = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        layer = name.rsplit(".", 1)[0] if "." in name else name
        squares[layer] = squares.get(layer, 0.0) + float(p.grad.detach().pow(2).sum())
    return {layer: math.sqrt(s) for layer, s in squares.items()}


class NNCommon(BaseModel):
    """Parameters every gradient-trained lab kind shares. Kinds narrow the defaults they need."""

    model_config = ConfigDict(extra="forbid")

    optimizer: OptimizerName = Field(
        "adam",
        description="torch.optim optimizer: sgd, momentum (SGD with momentum 0.9), nesterov, "
        "adagrad, rmsprop, adadelta, adam, adamw.",
    )
    lr: float = Field(1e-2, gt=0.0, le=10.0, description="Learning rate (step size).")
    batch_size: int = Field(32, ge=1, le=4096, description="Examples per gradient step.")
    epochs: int = Field(50, ge=1, le=5000, description="Passes over the training set.")
    penalty: Penalty = Field(
        "none", description="Weight penalty added to the loss: none, l1, l2 or elasticnet."
    )
    penalty_strength: float = Field(
        0.0, ge=0.0, le=10.0, description="λ, the weight of the penalty term in the loss."
    )
    l1_ratio: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Elastic net only: share of L1 in the penalty (0 = L2, 1 = L1).",
    )
    dropout: float = Field(
        0.0, ge=0.0, le=0.9, description="Probability of zeroing a hidden unit during training."
    )
    patience: int = Field(
        0,
        ge=0,
        le=1000,
        description="Early stopping: epochs without a better validation metric before stopping "
        "(the best weights are restored). 0 turns it off.",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Random seed (data split, init, batches).")


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index tensors of one shuffled epoch: a fresh permutation split into batches."""
    yield from torch.randperm(n, generator=generator).split(batch_size)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    common: NNCommon,
) -> float:
    """One gradient step on loss + penalty(weights). Returns the data loss (without the penalty).

    The gradients stay on the parameters afterwards, so `grad_norms_per_layer` can read them.
    """
    total = loss + penalty_term(
        weight_parameters(model), common.penalty, common.penalty_strength, common.l1_ratio
    )
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return float(loss.detach())


# indices of a batch -> its loss, or (loss, extra training metrics such as {"kl": ...})
BatchLoss = Callable[[torch.Tensor], torch.Tensor | tuple[torch.Tensor, dict[str, float]]]


@dataclass
class FitResult:
    """How a `fit` run ended."""

    epochs: int  # epochs run
    steps: int  # gradient steps taken
    stopped_early: bool
    best: float | None  # best value of the monitored metric
    best_epoch: int  # 1-based epoch of that value (its weights are the model's when restored)
    last: dict[str, float] = field(default_factory=dict)  # the last epoch's metrics


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    common: NNCommon,
    n_train: int,
    batch_loss: BatchLoss,
    evaluate: Callable[[], dict[str, float]],
    sink: Sink,
    *,
    monitor: str = "val/loss",
    mode: Literal["min", "max"] = "min",
    on_epoch: Callable[[int, int], None] | None = None,
    device: str | torch.device = "cpu",
) -> FitResult:
    """The epoch loop the supervised and reconstruction kinds share (train_loop.run_loop with an
    epoch as its unit, evaluated every epoch).

    Per epoch: shuffle the n_train training indices into batches (seeded by `common.seed`);
    per batch `batch_loss(indices)` gives the loss (or (loss, {name: value}) for extra training
    metrics such as a VAE's KL term), `train_step` takes the gradient step. Then, in eval mode
    under no_grad, `evaluate()` gives the validation metrics (it must include `monitor`), one
    metric event reports train/*, val/*, lr and the per-layer gradient norms of the epoch's last
    batch, and `on_epoch(epoch, step)` may store artifacts. Early stopping watches `monitor`;
    with `common.patience > 0` the best weights are restored at the end.
    """
    generator = torch.Generator().manual_seed(common.seed)
    stopper = EarlyStopping(common.patience, mode=mode)
    step = 0
    sums: dict[str, float] = {}  # this epoch's training metrics, summed over its batches
    batches = 0
    norms: dict[str, float] = {}  # of the epoch's last batch
    metrics: dict[str, float] = {}

    def train_epoch(epoch: int) -> None:
        nonlocal step, sums, batches, norms
        model.train()
        sums, batches = {}, 0
        for idx in minibatches(n_train, common.batch_size, generator):
            sink.check()
            out = batch_loss(idx.to(device))
            loss, extra = out if isinstance(out, tuple) else (out, {})
            sums["train/loss"] = sums.get("train/loss", 0.0) + train_step(
                model, optimizer, loss, common
            )
            for k, v in extra.items():
                sums[f"train/{k}"] = sums.get(f"train/{k}", 0.0) + v
            batches += 1
            step += 1
        norms = grad_norms_per_layer(model)

    def validate(epoch: int) -> None:
        nonlocal metrics
        model.eval()
        with torch.no_grad():
            val = evaluate()
        if monitor not in val:
            raise KeyError(f"evaluate() did not return the monitored metric {monitor!r}")
        metrics = {k: v / batches for k, v in sums.items()}
        metrics.update(val)
        metrics["lr"] = current_lr(optimizer)
        metrics["grad_norm"] = math.sqrt(sum(v * v for v in norms.values()))
        metrics.update({f"grad_norm/{k}": v for k, v in norms.items()})
        sink.metric(step, metrics, epoch=epoch)

    def end_epoch(epoch: int) -> bool:
        if on_epoch is not None:
            with torch.no_grad():
                on_epoch(epoch, step)
        if not stopper.update(metrics[monitor], model):
            return False
        sink.log(
            f"early stopping at epoch {epoch}: {monitor} has not improved for "
            f"{common.patience} epochs; best {stopper.best:.4g} "
            f"at epoch {stopper.best_epoch + 1}"
        )
        sink.progress(common.epochs, common.epochs, f"stopped early at epoch {epoch}")
        return True

    end = run_loop(
        sink,
        common.epochs,
        train_epoch,
        label=lambda epoch: f"epoch {epoch}/{common.epochs}",
        evaluate=validate,
        end=end_epoch,
    )
    if common.patience > 0:
        stopper.restore(model)
    model.eval()
    return FitResult(
        epochs=end.units,
        steps=step,
        stopped_early=end.stopped,
        best=stopper.best,
        best_epoch=stopper.best_epoch + 1,
        last=metrics,
    )


def epoch_tag(epoch: int | None) -> tuple[str, str]:
    """Artifact name part and title part for an epoch: ("epoch_00010", "epoch 10"), or for the
    final model (None, after the best weights are restored) ("final", "final")."""
    if epoch is None:
        return "final", "final"
    return f"epoch_{epoch:05d}", f"epoch {epoch}"


def epoch_tag_zh(epoch: int | None) -> str:
    """The Chinese title part of `epoch_tag`: "第 10 轮", or "最终模型" for the final model."""
    return "最终模型" if epoch is None else f"第 {epoch} 轮"
