"""lab.optimizers: FTRL-Proximal against its closed form, the others against torch.optim."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from difflab.lab import optimizers as race
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")
TORCH_NAMES = [o for o in race.RACERS if o != "ftrl"]

# each name as torch.optim spells it, written out here rather than taken from the kind
TORCH_OPTIM: dict[str, Callable[[list[torch.Tensor], float], torch.optim.Optimizer]] = {
    "sgd": lambda ps, lr: torch.optim.SGD(ps, lr=lr),
    "momentum": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9),
    "nesterov": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
    "adagrad": lambda ps, lr: torch.optim.Adagrad(ps, lr=lr),
    "rmsprop": lambda ps, lr: torch.optim.RMSprop(ps, lr=lr),
    "adadelta": lambda ps, lr: torch.optim.Adadelta(ps, lr=lr),
    "adam": lambda ps, lr: torch.optim.Adam(ps, lr=lr),
    "adamw": lambda ps, lr: torch.optim.AdamW(ps, lr=lr, weight_decay=0.01),
}


def _ftrl_steps(
    w0: list[float], grad: Callable[[torch.Tensor], torch.Tensor], steps: int, **kw: float
) -> list[list[float]]:
    """The FTRL iterates after each of `steps` steps with the gradient `grad(w)`."""
    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    opt = race.FTRLProximal([w], **kw)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        w.grad = grad(w.detach()).clone()
        opt.step()
        out.append(w.detach().tolist())
    return out


def test_ftrl_follows_its_closed_form_per_coordinate() -> None:
    # a linear loss c·w from w = 0: g = c at every step, so while a coordinate is still 0 the
    # σ·w terms vanish and z = t·c, n = t·c² exactly
    a, b, l1, l2 = 0.5, 1.0, 1.0, 0.1
    c = torch.tensor([0.3, -2.0], dtype=torch.float64)
    ws = _ftrl_steps([0.0, 0.0], lambda w: c, 4, alpha=a, beta=b, l1=l1, l2=l2)

    def closed(z: float, n: float) -> float:
        return 0.0 if abs(z) <= l1 else -(z - math.copysign(l1, z)) / ((b + math.sqrt(n)) / a + l2)

    # coordinate 0: |z| = 0.3·t stays within λ1 for three steps (exactly 0), then leaves
    assert [w[0] for w in ws[:3]] == [0.0, 0.0, 0.0]
    assert ws[3][0] == pytest.approx(closed(4 * 0.3, 4 * 0.09), rel=1e-12)
    assert ws[3][0] == pytest.approx(-0.2 / 3.3, rel=1e-12)
    # coordinate 1 leaves 0 at once: z = −2, n = 4
    w1 = closed(-2.0, 4.0)
    assert w1 == pytest.approx(1 / 6.1) and ws[0][1] == pytest.approx(w1, rel=1e-12)
    # its second step was taken at w1: σ = (√8 − √4)/α, z = −2 − 2 − σ·w1, n = 8
    sigma = (math.sqrt(8.0) - 2.0) / a
    assert ws[1][1] == pytest.approx(closed(-4.0 - sigma * w1, 8.0), rel=1e-12)


def test_ftrl_starts_at_the_parameter_and_l1_stops_a_crossing_exactly_at_0() -> None:
    # f = ½(4w₀² + (w₁ − 1.5)²), minimum (0, 1.5); α = 2 makes the first step overshoot w₀ = 0
    a, b, l1, l2 = 2.0, 1.0, 0.7, 0.2
    grad = lambda w: torch.stack([4.0 * w[0], w[1] - 1.5])  # noqa: E731
    # no gradient: the iterate stays where the parameter started, for z₀ = −(β/α + λ2)·w₀ −
    # sgn(w₀)·λ1 gives back w₀ through the closed form
    zero = lambda w: torch.zeros(2, dtype=torch.float64)  # noqa: E731
    still = _ftrl_steps([1.0, -0.5], zero, 3, alpha=a, beta=b, l1=l1, l2=l2)
    assert still[-1] == pytest.approx([1.0, -0.5], rel=1e-12)
    ws = _ftrl_steps([1.0, 1.0], grad, 300, alpha=a, beta=b, l1=l1, l2=l2)
    # the first step by hand: z = z₀ + g − σ·w₀ with σ = (√g² − 0)/α, n = g²
    z = [-(b / a + l2) - l1 + 4.0 - (4.0 / a), -(b / a + l2) - l1 - 0.5 - (0.5 / a)]
    assert z[0] == pytest.approx(0.6) and abs(z[0]) <= l1  # in the dead zone: exactly 0
    assert ws[0][0] == 0.0
    assert ws[0][1] == pytest.approx(-(z[1] + l1) / ((b + 0.5) / a + l2), rel=1e-12)
    # at 0 the coordinate's gradient is 0, z stops moving, and it stays at 0
    assert all(w[0] == 0.0 for w in ws)
    assert ws[-1][1] == pytest.approx(1.5, abs=1e-6)
    # without L1 the same first step crosses to the other side, and 0 is only approached
    free = _ftrl_steps([1.0, 1.0], grad, 300, alpha=a, beta=b, l1=0.0, l2=l2)
    assert free[0][0] == pytest.approx(1.0 - 4.0 / ((b + 4.0) / a + l2)) and free[0][0] < 0
    assert all(w[0] != 0.0 for w in free) and abs(free[-1][0]) < 1e-3


def test_ftrl_without_l1_and_l2_takes_adagrads_steps_with_eps_beta() -> None:
    # with λ1 = λ2 = 0 the closed form unrolls to w ← w − α·g/(β + √n), n counting this g:
    # torch.optim.Adagrad's update with ε = β
    p = race.Params(surface="rosenbrock")
    surface = race.build_surface(p)
    paths = []
    for make in (
        lambda ps: race.FTRLProximal(ps, alpha=0.3, beta=0.5),
        lambda ps: torch.optim.Adagrad(ps, lr=0.3, eps=0.5),
    ):
        w = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
        opt = make([w])
        path = []
        for _ in range(100):
            opt.zero_grad()
            surface.loss(w[0], w[1]).backward()
            opt.step()
            path.append(w.detach().tolist())
        paths.append(path)
    np.testing.assert_allclose(paths[0], paths[1], rtol=1e-9, atol=1e-12)


def _plain_loop(name: str, p: race.Params) -> list[tuple[float, ...]]:
    """The path of a torch.optim loop of p.steps steps on p's surface, written out here."""
    lr = race.DEFAULT_LR[p.surface][name]
    w = torch.tensor(race.build_surface(p).start, dtype=torch.float64, requires_grad=True)
    opt = TORCH_OPTIM[name]([w], lr)
    if p.surface == "noisy":
        u, t = race.noisy_points(p.seed)
        batches = race.minibatches(p)
    path = [tuple(w.detach().tolist())]
    for step in range(p.steps):
        opt.zero_grad()
        x, y = w[0], w[1]
        if p.surface == "quadratic":
            loss = 0.5 * (x**2 + p.condition * y**2)
        elif p.surface == "rosenbrock":
            loss = (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2
        else:
            idx = batches[step]
            loss = 0.5 * ((x * u[idx] + y - t[idx]) ** 2).mean()
        loss.backward()
        opt.step()
        path.append(tuple(w.detach().tolist()))
    return path


@pytest.mark.parametrize("surface", ["quadratic", "rosenbrock", "noisy"])
@pytest.mark.parametrize("name", TORCH_NAMES)
def test_torch_optimizers_take_the_path_of_a_plain_torch_optim_loop(
    name: str, surface: str
) -> None:
    p = race.Params(surface=surface, optimizers=[name], steps=25, frame_every=25)  # type: ignore[arg-type, list-item]
    sink = MemorySink()
    race.run(p, sink, CTX)
    xs = [v for _, v in sink.metric_series(f"x/{name}")]
    ys = [v for _, v in sink.metric_series(f"y/{name}")]
    expected = np.array(_plain_loop(name, p))
    assert len(xs) == 26
    np.testing.assert_allclose(np.column_stack([xs, ys]), expected, rtol=1e-12, atol=1e-12)


def test_adam_arrives_where_gradient_descent_at_its_best_step_crawls() -> None:
    # on ½(x² + κy²) the best fixed step 2/(κ+1) still shrinks the error only by
    # (κ−1)/(κ+1) per step; Adam scales each axis by its own gradient size
    kappa = 200.0
    p = race.Params(
        condition=kappa, optimizers=["sgd", "adam"], lr={"sgd": 2 / (kappa + 1)}, steps=300
    )
    result = race.run(p, MemorySink(), CTX)
    assert result["steps_to_tol/adam"] is not None and result["steps_to_tol/adam"] < 150
    assert result["steps_to_tol/sgd"] is None
    assert result["loss/adam"] < result["loss/sgd"] / 100
    assert result["fastest"] == "adam"


def test_on_the_saddle_ridge_nobody_leaves_and_just_off_it_adaptive_methods_leave_first() -> None:
    # on y = 0 the y-gradient of ½x² + ¼(y² − 1)² is exactly 0: every optimizer stays on the
    # ridge, and gradient descent settles on the saddle (f = ¼) as if it were a minimum
    sink = MemorySink()
    result = race.run(race.Params(surface="saddle", y0=0.0, steps=150), sink, CTX)
    for o in race.RACERS:
        assert {v for _, v in sink.metric_series(f"y/{o}")} == {0.0}
    assert result["loss/sgd"] == pytest.approx(0.25, abs=1e-6)
    assert result["steps_to_tol/sgd"] is None

    # from y = 0.01 the y-gradient is ~0.01: gradient descent's step is as small, the
    # adaptive methods divide it by its own size
    sink = MemorySink()
    result = race.run(race.Params(surface="saddle", steps=150), sink, CTX)

    def left(o: str) -> int:
        return next(s for s, v in sink.metric_series(f"y/{o}") if abs(v) > 0.5)

    for o in ("adagrad", "rmsprop", "adam"):
        assert left(o) < left("sgd") / 2, (o, left(o), left("sgd"))
    assert result["distance/sgd"] < 1e-3  # it does get to a minimum, late


def test_noisy_surface_is_least_squares_and_its_minibatches_make_the_loss_jump() -> None:
    p = race.Params(surface="noisy", optimizers=["sgd"], steps=60, seed=3)
    surface = race.build_surface(p)
    u, t = race.noisy_points(3)
    ref, *_ = np.linalg.lstsq(np.column_stack([u.numpy(), np.ones(len(u))]), t.numpy())
    np.testing.assert_allclose(surface.minima[0], ref, rtol=1e-10)
    assert surface.min_loss == pytest.approx(
        0.5 * np.mean((u.numpy() * ref[0] + ref[1] - t.numpy()) ** 2)
    )

    def curve(batch_size: int) -> np.ndarray:
        sink = MemorySink()
        race.run(p.model_copy(update={"batch_size": batch_size}), sink, CTX)
        return np.array([v for _, v in sink.metric_series("loss/sgd")])

    full, small = curve(race.N_POINTS), curve(4)
    assert np.all(np.diff(full) < 0)  # all points: plain gradient descent, down every step
    assert np.any(np.diff(small) > 0)  # four points: noisy steps, some of them uphill
    assert small[-1] < small[0] / 10


def test_metrics_artifacts_and_result_are_named_per_optimizer() -> None:
    sink = MemorySink()
    result = race.run(race.Params(steps=25), sink, CTX)
    metrics = sink.of_type("metric")
    assert [m["step"] for m in metrics] == list(range(26))
    assert set(metrics[0]["values"]) == {
        f"{k}/{o}" for k in ("loss", "x", "y") for o in race.RACERS
    }
    frames = [f"paths/step_{s:05d}.png" for s in (0, 10, 20, 25)]
    assert set(sink.artifacts) == {*frames, "loss/curves.json"}
    events = {a["name"]: a for a in sink.of_type("artifact")}
    assert events["paths/step_00010.png"]["step"] == 10
    assert events["paths/step_00010.png"]["meta"]["view"] == "image"
    assert events["loss/curves.json"]["meta"]["view"] == "line"
    img = Image.open(io.BytesIO(sink.artifacts[frames[-1]]))
    assert img.size == (420 + race.LEGEND_W, 252)  # the quadratic's 5 × 3 window, to scale
    first, last = (np.asarray(Image.open(io.BytesIO(sink.artifacts[f]))) for f in frames[::3])
    assert np.any(first != last)  # the paths grew
    for o in race.RACERS:
        assert {f"lr/{o}", f"loss/{o}", f"distance/{o}", f"steps_to_tol/{o}"} <= set(result)
        assert result[f"lr/{o}"] == race.DEFAULT_LR["quadratic"][o]
    assert result["minima"] == [[0.0, 0.0]] and result["diverged"] == []


def test_learning_rates_scale_and_override() -> None:
    p = race.Params(surface="rosenbrock", lr_scale=2.0, lr={"adam": 0.3})
    lrs = race.learning_rates(p)
    assert lrs["adam"] == 0.3
    assert lrs["sgd"] == 2.0 * race.DEFAULT_LR["rosenbrock"]["sgd"]
    assert lrs["ftrl"] == 2.0 * race.DEFAULT_LR["rosenbrock"]["ftrl"]


def test_adamw_without_weight_decay_is_adam_and_its_decay_moves_the_end() -> None:
    def end(decay: float) -> dict[str, object]:
        p = race.Params(
            surface="noisy", batch_size=race.N_POINTS, optimizers=["adam", "adamw"], steps=200
        )
        return race.run(p.model_copy(update={"adamw_weight_decay": decay}), MemorySink(), CTX)

    free, decayed = end(0.0), end(0.5)
    assert free["loss/adamw"] == free["loss/adam"]
    # the decay w ← w − lr·decay·w pulls towards the origin, away from the minimum (1, −1)
    assert decayed["distance/adamw"] > 10 * decayed["distance/adam"]


def test_a_too_large_step_is_reported_as_divergence() -> None:
    sink = MemorySink()
    p = race.Params(surface="rosenbrock", optimizers=["sgd", "adam"], lr={"sgd": 0.05}, steps=40)
    result = race.run(p, sink, CTX)
    assert result["diverged"] == ["sgd"] and "loss/sgd" not in result and "loss/adam" in result
    assert any("sgd diverged" in e["message"] for e in sink.of_type("log"))
    for m in sink.of_type("metric"):
        assert all(np.isfinite(v) for v in m["values"].values())


def test_bad_params_are_named() -> None:
    for bad, field in [
        ({"surface": "bowl"}, "surface"),
        ({"optimizers": []}, "optimizers"),
        ({"optimizers": ["adam", "adam"]}, "optimizers"),
        ({"optimizers": ["lbfgs"]}, "optimizers"),
        ({"lr": {"adam": 0.0}}, "lr"),
        ({"lr": {"newton": 0.1}}, "lr"),
        ({"optimizers": ["sgd"], "lr": {"adam": 0.1}}, "lr"),
        ({"steps": 0}, "steps"),
        ({"lr_scale": 0.0}, "lr_scale"),
        ({"momentum": 1.0}, "momentum"),
        ({"ftrl_l1": -1.0}, "ftrl_l1"),
        ({"x0": 100.0}, "x0"),
        ({"batch_size": race.N_POINTS + 1}, "batch_size"),
        ({"frame_every": 0}, "frame_every"),
        ({"dataset": "moons"}, "dataset"),
    ]:
        with pytest.raises(ValidationError) as err:
            race.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"][0] == field, bad


def test_cancel_stops_at_the_next_step() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        race.run(race.Params(), sink, CTX)
    assert len(sink.of_type("metric")) == 1
