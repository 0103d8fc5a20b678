"""`lab.optimizers`: nine optimizers race from the same point over the same 2-D loss surface.

Each optimizer moves its own copy of w = (x, y), starting at w₀ = (x₀, y₀), for `steps` steps
on the same loss. Its path is drawn over the contour plot of the loss and its loss per step is
one line of the loss chart (`loss/<optimizer>`). The surfaces, written in torch so autograd
gives the gradients:

- quadratic:  f = ½(x² + κy²), κ the condition number. Gradient descent is stable only for
  lr < 2/κ, so it zig-zags across the steep direction and crawls along the flat one; the
  per-coordinate methods (AdaGrad, RMSProp, Adam) rescale each axis and do not mind κ.
- rosenbrock: f = (1 − x)² + 100(y − x²)², a curved valley with a flat floor; minimum (1, 1).
- saddle:     f = ½x² + ¼(y² − 1)², a saddle at the origin between the minima (0, ±1). On the
  ridge y = 0 the y-gradient is exactly 0, so no optimizer ever leaves it; just off the ridge
  the adaptive methods, whose step does not shrink with the gradient, leave far sooner.
- noisy:      f = 1/(2N) Σᵢ (x·uᵢ + y − tᵢ)², least squares of a line t ≈ x·u + y through N
  fixed random points. Every step sees the gradient of a seeded minibatch (the same batches for
  every optimizer); the contours and the reported loss are those of the full batch.

The eight torch.optim optimizers come from `difflab.lab.nn.make_optimizer`. FTRL-Proximal
(McMahan et al. 2013, "Ad click prediction: a view from the trenches", Algorithm 1) is not in
torch.optim; `FTRLProximal` below writes out its per-coordinate update. Everything runs in
float64: the floor of Rosenbrock's valley and the last digits of a converging path need it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, overload

import numpy as np
import torch
from PIL import Image, ImageDraw
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from difflab.lab.common import PALETTE, emit, line_artifact, one_thread
from difflab.lab.nn import OptimizerName, make_optimizer
from difflab.runtime import KindSpec, RunContext, Sink

SurfaceName = Literal["quadratic", "rosenbrock", "saddle", "noisy"]
RacerName = Literal[OptimizerName, "ftrl"]
RACERS: tuple[RacerName, ...] = get_args(RacerName)
N_POINTS = 200  # points of the noisy surface's least-squares problem
DIVERGED_AT = 1e6  # |x| or |y| beyond this (or a non-finite loss) ends an optimizer's race

# Learning rates per surface, each set by hand to a value that makes a fair race over a few
# hundred steps (not each optimizer's best). For ftrl the learning rate is its α.
DEFAULT_LR: dict[SurfaceName, dict[RacerName, float]] = {
    "quadratic": {
        "sgd": 0.035,  # just under 2/κ = 0.04 for the default κ = 50
        "momentum": 0.005,
        "nesterov": 0.005,
        "adagrad": 0.5,
        "rmsprop": 0.02,
        "adadelta": 20.0,  # AdaDelta's own step starts near √ε: its lr only scales that
        "adam": 0.1,
        "adamw": 0.1,
        "ftrl": 0.5,
    },
    "rosenbrock": {
        "sgd": 0.002,
        "momentum": 0.0005,
        "nesterov": 0.0005,
        "adagrad": 0.5,
        "rmsprop": 0.01,
        "adadelta": 10.0,
        "adam": 0.1,
        "adamw": 0.1,
        "ftrl": 0.5,
    },
    "saddle": {
        "sgd": 0.1,
        "momentum": 0.02,
        "nesterov": 0.02,
        "adagrad": 0.2,
        "rmsprop": 0.02,
        "adadelta": 10.0,
        "adam": 0.05,
        "adamw": 0.05,
        "ftrl": 0.2,
    },
    "noisy": {
        "sgd": 0.1,
        "momentum": 0.01,
        "nesterov": 0.01,
        "adagrad": 0.5,
        "rmsprop": 0.02,
        "adadelta": 10.0,
        "adam": 0.1,
        "adamw": 0.1,
        "ftrl": 0.5,
    },
}


class Params(BaseModel):
    """Which optimizers race, on which surface, from where, with which step sizes."""

    model_config = ConfigDict(extra="forbid")

    surface: SurfaceName = Field(
        "quadratic",
        description="Loss surface: quadratic (ill-conditioned bowl), rosenbrock (curved "
        "valley), saddle (a saddle between two minima) or noisy (least squares on minibatches).",
    )
    optimizers: list[RacerName] = Field(
        default_factory=lambda: list(RACERS),
        min_length=1,
        max_length=len(RACERS),
        description="Optimizers in the race: sgd, momentum, nesterov, adagrad, rmsprop, "
        "adadelta, adam, adamw (torch.optim) and ftrl (FTRL-Proximal, written out here).",
    )
    steps: int = Field(200, ge=1, le=2000, description="Optimization steps of every optimizer.")
    lr_scale: float = Field(
        1.0,
        gt=0.0,
        le=100.0,
        description="Multiplies every optimizer's default learning rate for the surface "
        "(overrides in lr are taken as they are).",
    )
    lr: dict[RacerName, Annotated[float, Field(gt=0.0, le=100.0)]] = Field(
        default_factory=dict,
        description='Learning rates that replace the defaults, e.g. {"sgd": 0.01, "adam": '
        "0.3}; for ftrl this is its α. Only for optimizers in the race.",
    )
    momentum: float = Field(
        0.9, gt=0.0, lt=1.0, description="Momentum of momentum and nesterov (the velocity's decay)."
    )
    adamw_weight_decay: float = Field(
        0.01,
        ge=0.0,
        le=10.0,
        description="AdamW's decoupled weight decay: w ← w − lr·decay·w besides the Adam step.",
    )
    ftrl_beta: float = Field(
        1.0,
        ge=0.0,
        le=100.0,
        description="FTRL β: the per-coordinate rate is α/(β + √(sum of past g²)).",
    )
    ftrl_l1: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="FTRL λ1: L1 strength; a coordinate is exactly 0 while its accumulated "
        "gradient z is within ±λ1.",
    )
    ftrl_l2: float = Field(0.0, ge=0.0, le=100.0, description="FTRL λ2: L2 strength.")
    x0: float | None = Field(
        None, ge=-10.0, le=10.0, description="Start x; empty for the surface's usual start."
    )
    y0: float | None = Field(
        None, ge=-10.0, le=10.0, description="Start y; empty for the surface's usual start."
    )
    condition: float = Field(
        50.0,
        ge=1.0,
        le=1000.0,
        description="Quadratic only: κ, the ratio of the steepest to the flattest curvature.",
    )
    batch_size: int = Field(
        8,
        ge=1,
        le=N_POINTS,
        description=f"Noisy only: points per minibatch, of {N_POINTS} (all of them: no noise).",
    )
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="Noisy only: seed of the points and the minibatches."
    )
    tolerance: float = Field(
        1e-3,
        gt=0.0,
        le=10.0,
        description="An optimizer has arrived when its loss is within this of the minimum.",
    )
    frame_every: int = Field(
        10, ge=1, le=2000, description="Steps between frames of the path picture."
    )

    @field_validator("optimizers")
    @classmethod
    def _distinct(cls, v: list[RacerName]) -> list[RacerName]:
        if len(set(v)) != len(v):
            raise ValueError("each optimizer may appear once")
        return v

    @field_validator("lr")
    @classmethod
    def _racing(cls, v: dict[RacerName, float], info: ValidationInfo) -> dict[RacerName, float]:
        racing = info.data.get("optimizers")
        if racing is not None:
            extra = sorted(set(v) - set(racing))
            if extra:
                raise ValueError(f"learning rate given for {', '.join(extra)}, not in the race")
        return v


# --------------------------------------------------------------------------- FTRL-Proximal


class FTRLProximal(torch.optim.Optimizer):
    """FTRL-Proximal with per-coordinate learning rates (McMahan et al. 2013, Algorithm 1).

    "Follow the regularized leader": w_{t+1} minimizes the linearized losses seen so far,
    g_{1:t}·w, plus ½Σ_s σ_s‖w − w_s‖² (stay near past iterates) and λ1‖w‖₁ + ½λ2‖w‖². The
    quadratic terms give coordinate i the learning rate η_i = α/(β + √n_i), n_i the sum of its
    past g_i². The minimizer has a closed form in two accumulators per coordinate:

        z_i = Σ_s (g_{s,i} − σ_{s,i} w_{s,i})      n_i = Σ_s g_{s,i}²

        w_i = 0                                               if |z_i| ≤ λ1
        w_i = −(z_i − sgn(z_i)·λ1) / ((β + √n_i)/α + λ2)      otherwise

    With λ1 = λ2 = 0 this unrolls to w_i ← w_i − α·g_i/(β + √n_i), AdaGrad's step with ε = β.
    What FTRL adds is the L1 soft threshold, applied to z, the accumulated gradient, rather
    than to each step: a coordinate sits exactly at 0 while |z_i| ≤ λ1 (from the paper's start
    w = 0 until its gradients add up to more than λ1; on a path, where a step would carry it
    across 0 without carrying z past ±λ1). λ1 is not multiplied by the number of steps, so
    against many steps of one loss its pull fades and the iterates still reach the loss's
    minimum; in the paper's setting each step is a new example and most coordinates stay 0.

    The paper starts at w = 0 with z = n = 0; here z starts at −(β/α + λ2)·w₀ − sgn(w₀)·λ1, the
    value for which the closed form gives back the parameter's starting value w₀. The loss is
    the data loss alone: λ1 and λ2 belong to the optimizer.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        alpha: float = 0.1,
        beta: float = 1.0,
        l1: float = 0.0,
        l2: float = 0.0,
    ) -> None:
        if alpha <= 0.0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if beta < 0.0 or l1 < 0.0 or l2 < 0.0:
            raise ValueError(f"beta, l1 and l2 must be >= 0, got {beta}, {l1}, {l2}")
        super().__init__(params, {"alpha": alpha, "beta": beta, "l1": l1, "l2": l2})

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            alpha, beta, l1, l2 = group["alpha"], group["beta"], group["l1"], group["l2"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                state = self.state[w]
                if not state:
                    state["n"] = torch.zeros_like(w)
                    state["z"] = -(beta / alpha + l2) * w - l1 * torch.sign(w)
                z, n = state["z"], state["n"]
                # σ_i = (√(n_i + g_i²) − √n_i)/α: how much 1/η_i grows with this gradient
                sigma = ((n + g * g).sqrt() - n.sqrt()) / alpha
                # z_i ← z_i + g_i − σ_i·w_i, w_i the iterate the gradient was taken at
                z.add_(g - sigma * w)
                n.add_(g * g)  # n_i ← n_i + g_i²
                # the next iterate, coordinate by coordinate: soft-threshold z_i by λ1, then scale
                shrunk = z - torch.sign(z) * l1
                w.copy_(torch.where(z.abs() <= l1, 0.0, -shrunk / ((beta + n.sqrt()) / alpha + l2)))
        return loss


# --------------------------------------------------------------------------- surfaces

Loss2D = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Surface:
    """A loss over the plane, what is known of its minima, and the window it is drawn in."""

    name: SurfaceName
    loss: Loss2D  # f(x, y), element by element over tensors of one shape
    minima: tuple[tuple[float, float], ...]
    min_loss: float  # f at the minima
    start: tuple[float, float]  # the usual w₀
    box: tuple[float, float, float, float]  # (x_lo, x_hi, y_lo, y_hi) of the contour plot
    # the loss on the points `idx` (noisy only): what a minibatch step sees
    batch_loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None


def noisy_points(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """N_POINTS inputs u ~ N(1.5, 1) and targets t = u − 1 + N(0, 0.5²), float64.

    The mean of u away from 0 couples slope and intercept: the contours are tilted ellipses
    (Hessian [[E u², E u], [E u, 1]], a condition number near 16).
    """
    rng = np.random.default_rng(seed)
    u = 1.5 + rng.standard_normal(N_POINTS)
    t = u - 1.0 + 0.5 * rng.standard_normal(N_POINTS)
    return torch.tensor(u), torch.tensor(t)


def minibatches(p: Params) -> list[torch.Tensor]:
    """The noisy surface's minibatch of each step (indices without repeats), seeded by p.seed.

    Drawn once so that every optimizer sees the same batch at the same step.
    """
    rng = np.random.default_rng([p.seed, 1])  # a stream apart from the points'
    return [
        torch.from_numpy(rng.choice(N_POINTS, size=p.batch_size, replace=False))
        for _ in range(p.steps)
    ]


def build_surface(p: Params) -> Surface:
    if p.surface == "quadratic":
        kappa = p.condition
        return Surface(
            "quadratic",
            lambda x, y: 0.5 * (x**2 + kappa * y**2),
            minima=((0.0, 0.0),),
            min_loss=0.0,
            start=(-2.0, 1.0),
            box=(-2.5, 2.5, -1.5, 1.5),
        )
    if p.surface == "rosenbrock":
        return Surface(
            "rosenbrock",
            lambda x, y: (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2,
            minima=((1.0, 1.0),),
            min_loss=0.0,
            start=(-1.2, 1.0),
            box=(-2.0, 2.0, -1.0, 3.0),
        )
    if p.surface == "saddle":
        return Surface(
            "saddle",
            lambda x, y: 0.5 * x**2 + 0.25 * (y**2 - 1.0) ** 2,
            minima=((0.0, -1.0), (0.0, 1.0)),
            min_loss=0.0,
            start=(1.5, 0.01),
            box=(-2.0, 2.0, -1.6, 1.6),
        )
    u, t = noisy_points(p.seed)

    def on(x: torch.Tensor, y: torch.Tensor, uu: torch.Tensor, tt: torch.Tensor) -> torch.Tensor:
        # ½·mean of squared residuals of the line t ≈ x·u + y; x, y broadcast over the points
        r = x.unsqueeze(-1) * uu + y.unsqueeze(-1) - tt
        return 0.5 * (r**2).mean(dim=-1)

    # the least-squares line: the minimum of the full-batch loss
    A = torch.stack([u, torch.ones_like(u)], dim=1)
    best = torch.linalg.lstsq(A, t.unsqueeze(1)).solution.squeeze(1)
    bx, by = float(best[0]), float(best[1])
    return Surface(
        "noisy",
        lambda x, y: on(x, y, u, t),
        minima=((bx, by),),
        min_loss=float(on(best[0], best[1], u, t)),
        start=(-1.5, 2.0),
        box=(bx - 3.0, bx + 2.0, by - 2.0, by + 3.5),
        batch_loss=lambda x, y, idx: on(x, y, u[idx], t[idx]),
    )


def learning_rates(p: Params) -> dict[RacerName, float]:
    """Each racer's lr: an override from p.lr as it is, else the surface's default × lr_scale."""
    table = DEFAULT_LR[p.surface]
    return {o: p.lr[o] if o in p.lr else table[o] * p.lr_scale for o in p.optimizers}


def build_optimizer(
    name: RacerName, params: list[torch.nn.Parameter], lr: float, p: Params
) -> torch.optim.Optimizer:
    """torch.optim's optimizer for `name` (as `make_optimizer` builds it), or FTRL-Proximal."""
    if name == "ftrl":
        return FTRLProximal(params, alpha=lr, beta=p.ftrl_beta, l1=p.ftrl_l1, l2=p.ftrl_l2)
    decay = p.adamw_weight_decay if name == "adamw" else None
    return make_optimizer(name, params, lr, momentum=p.momentum, weight_decay=decay)


# --------------------------------------------------------------------------- pictures

# viridis at five stops (low loss dark blue, high loss yellow), blended towards white below
LEGEND_W = 104  # pixels of the legend panel right of the plot
_VIRIDIS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)


def racer_colour(name: RacerName) -> tuple[int, int, int]:
    """A racer's colour, fixed by its place among all racers (not among those running)."""
    r, g, b = PALETTE[RACERS.index(name) % len(PALETTE)]
    return int(r), int(g), int(b)


def contour_background(surface: Surface, box: Sequence[float], width: int = 420) -> Image.Image:
    """The loss over `box` as pale colour bands, one per half-decade of f − f*, with the band
    edges (the contour lines) in grey. The picture keeps the plane's aspect ratio."""
    x_lo, x_hi, y_lo, y_hi = box
    height = int(round(width * (y_hi - y_lo) / (x_hi - x_lo)))
    xs = torch.linspace(x_lo, x_hi, width, dtype=torch.float64)
    ys = torch.linspace(y_hi, y_lo, height, dtype=torch.float64)  # row 0 at the top
    with torch.no_grad():  # row by row: the noisy surface broadcasts over its points
        Z = torch.stack([surface.loss(xs, y.expand(width)) for y in ys]).numpy()
    gap = np.clip(Z - surface.min_loss, 0.0, None)
    top = max(float(np.nanmax(gap)), 1e-12)
    level = np.log10(gap + 1e-6 * top)  # 6 decades below the highest point on the picture
    bands = np.floor(level * 2.0)  # half a decade each, every band one flat colour
    frac = (bands - bands.min()) / max(float(bands.max() - bands.min()), 1.0)
    rgb = np.stack(
        [np.interp(frac, np.linspace(0.0, 1.0, len(_VIRIDIS)), _VIRIDIS[:, c]) for c in range(3)],
        axis=-1,
    )
    rgb = 255.0 - 0.45 * (255.0 - rgb)  # pale, so the paths stand out
    edge = np.zeros(bands.shape, dtype=bool)
    edge[:, :-1] |= bands[:, :-1] != bands[:, 1:]
    edge[:-1, :] |= bands[:-1, :] != bands[1:, :]
    rgb[edge] = 0.6 * rgb[edge]
    return Image.fromarray(rgb.round().astype(np.uint8), mode="RGB")


def paths_png(
    background: Image.Image,
    box: Sequence[float],
    paths: Mapping[RacerName, Sequence[tuple[float, float]]],
    minima: Sequence[tuple[float, float]],
    caption: str,
) -> Image.Image:
    """The paths so far over the contour background: the start as a ring, each optimizer's
    path in its colour ending in a dot, the minima as black crosses; on a panel to the right,
    the legend and the caption."""
    plot_w, height = background.size
    img = Image.new("RGB", (plot_w + LEGEND_W, height), (255, 255, 255))
    img.paste(background, (0, 0))
    draw = ImageDraw.Draw(img)
    x_lo, x_hi, y_lo, y_hi = box

    def px(x: float, y: float) -> tuple[float, float]:
        u = (x - x_lo) / (x_hi - x_lo) * (plot_w - 1)
        v = (y_hi - y) / (y_hi - y_lo) * (height - 1)
        return min(max(u, -1e4), 1e4), min(max(v, -1e4), 1e4)  # far off the picture: clamped

    for mx, my in minima:
        u, v = px(mx, my)
        draw.line([(u - 5, v - 5), (u + 5, v + 5)], fill=(0, 0, 0), width=2)
        draw.line([(u - 5, v + 5), (u + 5, v - 5)], fill=(0, 0, 0), width=2)
    first = next(iter(paths.values()))[0]
    u, v = px(*first)
    draw.ellipse([u - 6, v - 6, u + 6, v + 6], outline=(0, 0, 0), width=2)
    for name, path in paths.items():
        colour = racer_colour(name)
        pts = [px(x, y) for x, y in path]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        u, v = pts[-1]
        draw.ellipse([u - 4, v - 4, u + 4, v + 4], fill=colour, outline=(30, 30, 30))
    draw.rectangle([plot_w, 0, plot_w + LEGEND_W - 1, height - 1], fill=(255, 255, 255))
    for i, name in enumerate(paths):
        y = 8 + 14 * i
        draw.line([(plot_w + 8, y + 6), (plot_w + 22, y + 6)], fill=racer_colour(name), width=3)
        draw.text((plot_w + 28, y), name, fill=(30, 30, 30))
    draw.text((plot_w + 8, height - 18), caption, fill=(0, 0, 0))
    return img


# --------------------------------------------------------------------------- the race


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    surface = build_surface(p)
    start = (
        p.x0 if p.x0 is not None else surface.start[0],
        p.y0 if p.y0 is not None else surface.start[1],
    )
    x_lo, x_hi, y_lo, y_hi = surface.box  # widened to show a start outside the usual window
    box = (
        min(x_lo, start[0] - 0.5),
        max(x_hi, start[0] + 0.5),
        min(y_lo, start[1] - 0.5),
        max(y_hi, start[1] + 0.5),
    )
    lrs = learning_rates(p)
    sink.log("learning rates: " + ", ".join(f"{o} {lr:g}" for o, lr in lrs.items()))
    batches = minibatches(p) if surface.batch_loss is not None else None

    def full_loss(w: torch.Tensor) -> float:
        with torch.no_grad():
            return float(surface.loss(w[0], w[1]))

    ws: dict[RacerName, torch.nn.Parameter] = {}
    opts: dict[RacerName, torch.optim.Optimizer] = {}
    for name in p.optimizers:
        ws[name] = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
        opts[name] = build_optimizer(name, [ws[name]], lrs[name], p)
    paths: dict[RacerName, list[tuple[float, float]]] = {o: [start] for o in p.optimizers}
    losses: dict[RacerName, list[float]] = {o: [full_loss(ws[o])] for o in p.optimizers}
    arrived: dict[RacerName, int | None] = {o: None for o in p.optimizers}
    diverged: list[RacerName] = []
    background = contour_background(surface, box)

    def record(step: int) -> None:
        values: dict[str, float] = {}
        for o in p.optimizers:
            if o in diverged:
                continue
            (x, y), f = paths[o][-1], losses[o][-1]
            values.update({f"loss/{o}": f, f"x/{o}": x, f"y/{o}": y})
            if arrived[o] is None and f - surface.min_loss <= p.tolerance:
                arrived[o] = step
        if values:
            sink.metric(step, values)
        if step % p.frame_every == 0 or step == p.steps:
            img = paths_png(background, box, paths, surface.minima, f"step {step}")
            meta = {
                "title": f"paths after {step} steps",
                "title_zh": f"{step} 步之后各优化器的路径",
            }
            emit(sink, f"paths/step_{step:05d}.png", img, view="image", step=step, meta=meta)

    record(0)
    for step in range(1, p.steps + 1):
        sink.check()
        for o in p.optimizers:
            if o in diverged:
                continue
            w, opt = ws[o], opts[o]
            opt.zero_grad(set_to_none=True)
            if batches is not None and surface.batch_loss is not None:
                loss = surface.batch_loss(w[0], w[1], batches[step - 1])
            else:
                loss = surface.loss(w[0], w[1])
            loss.backward()
            opt.step()
            x, y = (float(v) for v in w.detach())
            f = full_loss(w)
            if not math.isfinite(f) or max(abs(x), abs(y)) > DIVERGED_AT:
                diverged.append(o)
                sink.log(f"{o} diverged at step {step}: lower its learning rate")
                continue
            paths[o].append((x, y))
            losses[o].append(f)
        record(step)
        sink.progress(step, p.steps)

    # the loss curves, thinned to at most ~500 points each
    stride = max(1, p.steps // 500)
    curves: dict[str, tuple[list[int], list[float]]] = {
        o: (list(range(0, len(ls), stride)), ls[::stride]) for o, ls in losses.items()
    }
    chart = line_artifact(
        curves, f"loss per step, {p.surface}", title_zh=f"{p.surface} 曲面上每一步的损失"
    )
    emit(sink, "loss/curves.json", chart, view="line")

    result: dict[str, Any] = {
        "surface": p.surface,
        "start": list(start),
        "minima": [list(m) for m in surface.minima],
        "min_loss": surface.min_loss,
        "diverged": diverged,
    }
    finished = [o for o in p.optimizers if arrived[o] is not None]
    result["fastest"] = min(finished, key=lambda o: arrived[o] or 0) if finished else None
    for o in p.optimizers:
        result[f"lr/{o}"] = lrs[o]
        result[f"steps_to_tol/{o}"] = arrived[o]
        if o in diverged:
            continue
        x, y = paths[o][-1]
        result[f"loss/{o}"] = losses[o][-1]
        result[f"distance/{o}"] = min(math.hypot(x - mx, y - my) for mx, my in surface.minima)
    return result


SPEC = KindSpec(
    name="lab.optimizers",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Optimizers race",
    description="SGD, momentum, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam, AdamW and "
    "FTRL-Proximal from the same start on the same 2-D loss (an ill-conditioned bowl, "
    "Rosenbrock's valley, a saddle, a noisy minibatch loss): paths over the contours, loss per "
    "step.",
)
