"""t-SNE: a 2-D map that keeps each point's neighbours near it (scikit-learn's TSNE).

In the input space each point i spreads a Gaussian over the others, its width set so the
neighbourhood's perplexity 2^H(P_i) matches the parameter — roughly the number of neighbours
that count; symmetrized, these give affinities p_ij. In the map, affinities q_ij come from a
Student-t kernel (1 + ‖y_i − y_j‖²)⁻¹, whose heavy tail lets far-apart clusters drift apart.
Gradient descent moves the map points to minimize KL(P‖Q) = Σ p_ij log(p_ij/q_ij), the
divergence reported here. Distances between clusters in the map mean little; who is near whom
does. Each perplexity in the list gives its own map, so its effect can be seen.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from sklearn.manifold import TSNE, trustworthiness

from difflab.datasets.toy import SKLEARN_SIZES, ClassificationName
from difflab.lab.common import (
    DataCommon,
    emit,
    line_artifact,
    load_all,
    one_thread,
    scatter_artifact,
)
from difflab.runtime import KindSpec, RunContext, Sink


class Params(DataCommon):
    dataset: ClassificationName = Field(
        "digits",
        description="Data set to map (labels only colour the map): iris, wine, breast_cancer, "
        "digits, moons, circles, blobs, spirals, xor.",
    )
    max_points: int = Field(
        500,
        ge=30,
        le=5000,
        description="A random subset of at most this many points is mapped (t-SNE's cost "
        "grows as n log n per iteration).",
    )
    perplexities: list[float] = Field(
        default_factory=lambda: [5.0, 30.0],
        min_length=1,
        max_length=5,
        description="One map per perplexity (each 2 to 100, below the number of points).",
        validate_default=True,
    )
    max_iter: int = Field(
        1000, ge=250, le=5000, description="Gradient-descent iterations of each map."
    )
    init: Literal["pca", "random"] = Field(
        "pca", description="Starting map: the first two principal axes, or random."
    )
    early_exaggeration: float = Field(
        12.0,
        ge=1.0,
        le=100.0,
        description="Factor on p_ij in the first 250 iterations: tight, well-separated "
        "clusters form early.",
    )

    @field_validator("perplexities")
    @classmethod
    def _in_range(cls, v: list[float], info: ValidationInfo) -> list[float]:
        ds, n_samples = info.data.get("dataset"), info.data.get("n_samples")
        cap = info.data.get("max_points")
        n = SKLEARN_SIZES.get(ds or "", n_samples or 0)
        n = min(n, cap) if cap is not None else n
        for perp in v:
            if not 2.0 <= perp <= 100.0:
                raise ValueError(f"perplexity {perp} is outside [2, 100]")
            if n and perp >= n:
                raise ValueError(f"perplexity {perp} must be below the {n} points mapped")
        return v


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    data, X = load_all(p)
    rng = np.random.default_rng(p.seed)
    keep = np.sort(rng.choice(len(X), size=min(p.max_points, len(X)), replace=False))
    X, y = X[keep], data.y[keep]
    kls: list[float] = []
    trust: list[float] = []
    result: dict[str, Any] = {"n_points": len(X), "maps": []}
    for step, perp in enumerate(p.perplexities, start=1):
        sink.check()
        sink.progress(step - 1, len(p.perplexities), f"perplexity {perp:g}")
        tsne = TSNE(
            n_components=2,
            perplexity=perp,
            max_iter=p.max_iter,
            init=p.init,
            early_exaggeration=p.early_exaggeration,
            learning_rate="auto",
            random_state=p.seed,
        )
        Y = tsne.fit_transform(X)
        kl = float(tsne.kl_divergence_)
        # share of each point's 5 map neighbours that are near it in the input space too
        tw = float(trustworthiness(X, Y, n_neighbors=5))
        kls.append(kl)
        trust.append(tw)
        sink.metric(step, {"kl_divergence": kl, "trustworthiness": tw, "perplexity": perp})
        emit(
            sink,
            f"maps/perplexity_{step:02d}.json",
            scatter_artifact(
                Y,
                y,
                data.target_names,
                f"t-SNE, perplexity {perp:g}, KL {kl:.3f}",
                title_zh=f"t-SNE，困惑度 {perp:g}，KL {kl:.3f}",
            ),
            view="scatter",
            step=step,
            meta={"perplexity": perp},
        )
        result["maps"].append(
            {
                "perplexity": perp,
                "kl_divergence": kl,
                "trustworthiness": tw,
                "iterations": int(tsne.n_iter_),
            }
        )
        sink.progress(step, len(p.perplexities))
    if len(kls) > 1:
        emit(
            sink,
            "kl.json",
            line_artifact(
                {
                    "kl_divergence": (p.perplexities, kls),
                    "trustworthiness": (p.perplexities, trust),
                },
                "KL(P‖Q) and trustworthiness per perplexity",
                title_zh="各困惑度下的 KL(P‖Q) 与可信度（trustworthiness）",
            ),
            view="line",
        )
    result["kl_divergence"] = kls[-1]
    result["trustworthiness"] = trust[-1]
    return result


SPEC = KindSpec(
    name="lab.tsne",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="t-SNE",
    description="Neighbour-preserving 2-D maps (scikit-learn) for one or more perplexities, "
    "with the final KL divergence and trustworthiness of each.",
)
