"""Shared training pieces: optimizers, penalties, early stopping, gradient norms, NNCommon."""

from __future__ import annotations

import importlib
import typing
from collections.abc import Iterator

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from difflab.lab.nn import (
    EarlyStopping,
    NNCommon,
    OptimizerName,
    grad_norms_per_layer,
    make_optimizer,
    penalty_term,
    train_step,
    weight_parameters,
)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("name", typing.get_args(OptimizerName))
def test_each_optimizer_builds_and_lowers_a_quadratic(name: str) -> None:
    torch.manual_seed(0)
    w = nn.Parameter(torch.tensor([2.0, -3.0]))
    lr = 1.0 if name == "adadelta" else 0.05
    opt = make_optimizer(name, [w], lr)
    start = float((w**2).sum().detach())
    for _ in range(50):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert float((w**2).sum().detach()) < start


def test_optimizer_kinds_are_the_torch_ones() -> None:
    w = [nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer("sgd", w, 0.1), torch.optim.SGD)
    nesterov = make_optimizer("nesterov", w, 0.1, momentum=0.8)
    assert nesterov.param_groups[0]["nesterov"] is True
    assert nesterov.param_groups[0]["momentum"] == 0.8
    assert isinstance(make_optimizer("adamw", w, 0.1), torch.optim.AdamW)
    assert make_optimizer("adamw", w, 0.1).param_groups[0]["weight_decay"] == 0.01
    assert make_optimizer("adam", w, 0.1, weight_decay=0.2).param_groups[0]["weight_decay"] == 0.2


def test_penalty_values() -> None:
    w = [torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0]])]
    l1, l2sq = 6.0, 14.0
    assert float(penalty_term(w, "none", 1.0)) == 0.0
    assert float(penalty_term(w, "l1", 0.1)) == pytest.approx(0.1 * l1)
    assert float(penalty_term(w, "l2", 0.1)) == pytest.approx(0.5 * 0.1 * l2sq)
    expected = 0.1 * (0.3 * l1 + 0.5 * 0.7 * l2sq)
    assert float(penalty_term(w, "elasticnet", 0.1, l1_ratio=0.3)) == pytest.approx(expected)
    assert float(penalty_term(w, "elasticnet", 0.1, l1_ratio=1.0)) == pytest.approx(0.1 * l1)


def test_l2_penalty_step_equals_sgd_weight_decay() -> None:
    """λ/2·Σw² has gradient λ·w: one SGD step with the penalty is SGD with weight_decay=λ."""
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2, bias=False), nn.Linear(3, 2, bias=False)
    b.load_state_dict(a.state_dict())
    x = torch.randn(8, 3)
    opt_a = make_optimizer("sgd", a.parameters(), 0.1)
    loss_a = a(x).pow(2).mean() + penalty_term(weight_parameters(a), "l2", 0.3)
    opt_a.zero_grad()
    loss_a.backward()
    opt_a.step()
    opt_b = make_optimizer("sgd", b.parameters(), 0.1, weight_decay=0.3)
    opt_b.zero_grad()
    b(x).pow(2).mean().backward()
    opt_b.step()
    torch.testing.assert_close(a.weight, b.weight)


def test_l1_penalty_makes_weights_sparse() -> None:
    torch.manual_seed(0)
    x = torch.randn(40, 10)
    y = 2.0 * x[:, :1] + 0.5 * torch.randn(40, 1)  # only the first input matters
    dense, sparse = nn.Linear(10, 1), nn.Linear(10, 1)
    sparse.load_state_dict(dense.state_dict())
    for model, penalty in ((dense, "none"), (sparse, "l1")):
        common = NNCommon(penalty=penalty, penalty_strength=0.2)
        opt = make_optimizer("sgd", model.parameters(), 0.05)
        for _ in range(300):
            train_step(model, opt, (model(x) - y).pow(2).mean(), common)
    # the irrelevant weights fit noise without a penalty; L1 pushes them to (about) zero
    dense_rest = float(dense.weight.detach().abs()[0, 1:].sum())
    sparse_rest = float(sparse.weight.detach().abs()[0, 1:].sum())
    assert sparse_rest < 0.3 * dense_rest


def test_early_stopping_stops_and_restores_the_best_weights() -> None:
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2, mode="min")
    values = [1.0, 0.5, 0.7, 0.6, 0.4]
    stops = []
    best_weight = None
    for i, v in enumerate(values[:4]):
        with torch.no_grad():
            model.weight.fill_(float(i))
        if v == 0.5:
            best_weight = model.weight.detach().clone()
        stops.append(stopper.update(v, model))
    assert stops == [False, False, False, True]
    assert stopper.best == 0.5 and stopper.best_epoch == 1
    assert stopper.restore(model)
    assert best_weight is not None
    torch.testing.assert_close(model.weight.detach(), best_weight)


def test_early_stopping_max_mode_and_off() -> None:
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=1, mode="max")
    assert not stopper.update(0.5, model)
    assert not stopper.update(0.8, model)
    assert stopper.update(0.7, model)
    off = EarlyStopping(patience=0)
    assert not any(off.update(v, model) for v in (1.0, 2.0, 3.0, 4.0))
    assert off.best == 1.0
    assert not off.restore(model)


def test_grad_norms_per_layer_groups_weight_and_bias() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    model(torch.ones(4, 2)).sum().backward()
    norms = grad_norms_per_layer(model)
    assert set(norms) == {"0", "2"}
    first = model[0]
    assert isinstance(first, nn.Linear)
    assert first.weight.grad is not None and first.bias.grad is not None
    expected = (first.weight.grad.pow(2).sum() + first.bias.grad.pow(2).sum()).sqrt()
    assert norms["0"] == pytest.approx(float(expected))


def test_nncommon_bounds_and_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="lr"):
        NNCommon(lr=0.0)
    with pytest.raises(ValidationError, match="dropout"):
        NNCommon(dropout=0.95)
    with pytest.raises(ValidationError, match="kernel"):
        NNCommon.model_validate({"kernel": "rbf"})
    for name, info in NNCommon.model_fields.items():
        assert info.description, name


NEURAL_KINDS = [
    "mlp",
    "rbf_network",
    "cnn",
    "rnn",
    "autoencoder",
    "vae",
    "gan",
    "ddpm",
    "transformer",
]


@pytest.mark.parametrize("module", NEURAL_KINDS)
def test_neural_kind_specs_and_params(module: str) -> None:
    """Each kind: a lab SPEC named after its module; every field described, numbers bounded,
    defaults valid, unknown fields refused."""
    mod = importlib.import_module(f"difflab.lab.{module}")
    spec = mod.SPEC
    assert spec.name == f"lab.{module}" and spec.category == "lab" and not spec.admin_only
    assert spec.title and spec.description
    params = spec.params
    assert params.model_config.get("extra") == "forbid"
    params()  # the defaults validate
    for name, info in params.model_fields.items():
        assert info.description, f"{module}.{name} has no description"
        if info.annotation in (int, float):
            bounds = [m for m in info.metadata if hasattr(m, "ge") or hasattr(m, "gt")]
            bounds_hi = [m for m in info.metadata if hasattr(m, "le") or hasattr(m, "lt")]
            assert bounds and bounds_hi, f"{module}.{name} has no bounds"
    with pytest.raises(ValidationError, match="not_a_field"):
        params.model_validate({"not_a_field": 1})
