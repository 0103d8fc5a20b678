"""`lab.svd`: an image compressed by keeping the largest singular values of its SVD.

An m×n image A (one channel; a colour image is three, each decomposed alone) factors as

    A = U Σ Vᵀ = Σ_i σ_i u_i v_iᵀ,   σ_1 ≥ σ_2 ≥ … ≥ 0

a sum of rank-one layers, the i-th weighted by its singular value σ_i. Keeping the first k,
A_k = U_k Σ_k V_kᵀ, stores k(m + n + 1) numbers instead of mn, and by the Eckart–Young theorem
no matrix of rank k is closer to A in the Frobenius norm:

    ‖A − A_k‖_F = √(σ_{k+1}² + … + σ_r²),   relative error ‖A − A_k‖_F / ‖A‖_F

since ‖A‖_F² = Σ σ_i². The share of that "energy" kept, Σ_{i≤k} σ_i² / Σ σ_i², and the
spectrum itself tell how compressible the image is: a photograph's σ_i fall off steeply (a few
layers carry the broad shapes, the many small ones the texture), a checkerboard has rank 2.
PSNR is 10·log10(1/MSE) of A_k as computed (pixels in [0, 1]); the pictures clip A_k's few
values outside [0, 1].
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from difflab.lab.common import emit, image_grid, line_artifact, one_thread
from difflab.lab.convolution import IMAGE_HELP, ImageName, display_scale, load_image, psnr
from difflab.runtime import KindSpec, RunContext, Sink

LAYERS_SHOWN = 8  # rank-one layers σ_i u_i v_iᵀ drawn
THUMBNAIL = 256  # pictures compared side by side are about this wide: wider ones are subsampled


class Params(BaseModel):
    """One image, its singular values, and its rank-k approximations."""

    model_config = ConfigDict(extra="forbid")

    image: ImageName = Field("china", description=IMAGE_HELP)
    size: int = Field(256, ge=16, le=512, description="Working side in pixels (square image).")
    color: bool = Field(
        False, description="Decompose the three colour channels one by one; off: grey."
    )
    ranks: list[Annotated[int, Field(ge=1, le=512)]] = Field(
        default_factory=lambda: [1, 5, 20, 50],
        min_length=1,
        max_length=8,
        description="Ranks k to reconstruct with (distinct, at most the size).",
    )

    @model_validator(mode="after")
    def _ranks_fit(self) -> Params:
        if len(set(self.ranks)) != len(self.ranks):
            raise ValueError("ranks must be distinct")
        if max(self.ranks) > self.size:
            raise ValueError(f"a {self.size}×{self.size} image has rank at most {self.size}")
        return self


def channels_of(img: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) → (C, H, W): one matrix per channel."""
    return img[None] if img.ndim == 2 else img.transpose(2, 0, 1)


def reconstruct(U: np.ndarray, sigma: np.ndarray, Vt: np.ndarray, k: int) -> np.ndarray:
    """A_k = U_k Σ_k V_kᵀ for every channel: (C, m, n)."""
    return (U[:, :, :k] * sigma[:, None, :k]) @ Vt[:, :k, :]


def eckart_young_error(sigma: np.ndarray, k: int) -> float:
    """‖A − A_k‖_F / ‖A‖_F from the singular values alone: √(Σ_{i>k} σ_i²) / √(Σ σ_i²)."""
    s2 = np.asarray(sigma, dtype=np.float64) ** 2
    return float(np.sqrt(s2[..., k:].sum() / s2.sum()))


def compression_ratio(m: int, n: int, k: int) -> float:
    """Numbers stored by the rank-k factors over the pixels: k(m + n + 1) / (mn)."""
    return k * (m + n + 1) / (m * n)


def as_picture(A: np.ndarray) -> np.ndarray:
    """(C, H, W) → (H, W) or (H, W, C), clipped to [0, 1] for display."""
    a = np.clip(A, 0.0, 1.0)
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    A = channels_of(load_image(p.image, p.size, p.color))  # (C, m, n) in [0, 1]
    C, m, n = A.shape
    ranks = sorted(p.ranks)
    total = len(ranks) + 2
    sink.check()
    # every channel at once: U (C, m, r), σ (C, r) descending, Vᵀ (C, r, n), r = min(m, n)
    U, sigma, Vt = np.linalg.svd(A, full_matrices=False)
    r = sigma.shape[1]
    sink.progress(1, total, f"SVD of {C} {m}×{n} matri{'ces' if C > 1 else 'x'}")
    scale = display_scale(max(m, n))
    labels = ["red", "green", "blue"] if C == 3 else ["grey"]

    # the spectrum, the energy kept and the error for every k (all from σ alone)
    s2 = sigma**2
    energy = np.cumsum(s2.sum(axis=0)) / s2.sum()
    ks = np.arange(1, r + 1)
    emit(
        sink,
        "spectrum.json",
        line_artifact(
            {
                f"log10 σ ({c})": (ks, np.log10(np.maximum(sigma[i], 1e-16)))
                for i, c in enumerate(labels)
            },
            "singular values σ_i, log10 (largest first)",
            title_zh="奇异值 σ_i 的 log10（从大到小）",
        ),
        view="line",
        meta={
            "x_title": "i",
            "x_title_zh": "序号 i",
            "y_title": "log10 σ_i",
            "y_title_zh": "奇异值的 log10 σ_i",
        },
    )
    emit(
        sink,
        "energy.json",
        line_artifact(
            {"energy kept Σ_{i≤k} σ_i² / Σ σ_i²": (ks, energy)},
            "cumulative energy of the first k singular values",
            title_zh="前 k 个奇异值的累计能量",
        ),
        view="line",
        meta={
            "x_title": "k",
            "x_title_zh": "秩 k",
            "y_title": "share of ‖A‖²_F",
            "y_title_zh": "占 ‖A‖²_F 的比例",
        },
    )
    errors = np.sqrt(np.clip(1.0 - energy, 0.0, None))
    emit(
        sink,
        "error.json",
        line_artifact(
            {
                "relative error ‖A − A_k‖_F / ‖A‖_F": (ks, errors),
                "compression ratio k(m + n + 1)/(mn)": (ks, ks * (m + n + 1) / (m * n)),
            },
            "error and storage against the rank k",
            title_zh="误差与存储量随秩 k 的变化",
        ),
        view="line",
        meta={"x_title": "k", "x_title_zh": "秩 k"},
    )
    every = -(-max(m, n) // (THUMBNAIL // 2))  # layers at about half the width
    layers = [  # σ_i u_i v_iᵀ on every `every`-th row and column
        U[:, ::every, i : i + 1] * sigma[:, None, i : i + 1] * Vt[:, i : i + 1, ::every]
        for i in range(min(LAYERS_SHOWN, r))
    ]
    emit(
        sink,
        "layers.png",
        image_grid(
            [L[0] if C == 1 else L.transpose(1, 2, 0) for L in layers],
            4,
            scale=max(1, (THUMBNAIL // 2) // layers[0].shape[-1]),
            normalize=True,
        ),
        view="image",
        meta={
            "title": "the first rank-one layers σ_i u_i v_iᵀ (each stretched to its own range)",
            "title_zh": "前几个秩一分量 σ_i u_i v_iᵀ（各自拉伸到自己的取值范围）",
            "captions": [f"i = {i + 1}, σ = {sigma[:, i].mean():.2f}" for i in range(len(layers))],
            "captions_zh": [
                f"i = {i + 1}，σ = {sigma[:, i].mean():.2f}" for i in range(len(layers))
            ],
        },
    )
    sink.progress(2, total, "spectrum")

    norm = float(np.sqrt((A**2).sum()))
    every = -(-max(m, n) // THUMBNAIL)
    pictures, captions = [as_picture(A)], [f"original, rank {r}"]
    captions_zh = [f"原图，秩 {r}"]
    per_rank: dict[str, float] = {}
    for j, k in enumerate(ranks, start=1):
        sink.check()
        A_k = reconstruct(U, sigma, Vt, k)
        rel = float(np.sqrt(((A - A_k) ** 2).sum())) / norm
        values = {
            "relative_error": rel,
            "eckart_young_error": eckart_young_error(sigma, k),
            "compression_ratio": compression_ratio(m, n, k),
            "psnr_db": psnr(A_k, A),
            "energy": float(energy[k - 1]),
        }
        sink.metric(k, values)
        per_rank.update({f"k{k}/{key}": v for key, v in values.items()})
        caption = (
            f"k = {k}: error {rel:.1%}, {values['compression_ratio']:.1%} of the numbers, "
            f"PSNR {values['psnr_db']:.1f} dB"
        )
        caption_zh = (
            f"k = {k}：误差 {rel:.1%}，存储量为原来的 {values['compression_ratio']:.1%}，"
            f"PSNR {values['psnr_db']:.1f} dB"
        )
        pictures.append(as_picture(A_k))
        captions.append(caption)
        captions_zh.append(caption_zh)
        emit(
            sink,
            f"reconstruction/rank_{k:04d}.png",
            image_grid([as_picture(A_k)], 1, scale=scale),
            view="image",
            step=k,
            meta={"title": caption, "title_zh": caption_zh, "k": k},
        )
        sink.progress(2 + j, total, f"rank {k}")
    emit(
        sink,
        "reconstructions.png",
        image_grid(
            [pic[::every, ::every] for pic in pictures],
            min(len(pictures), 5),
            scale=display_scale(-(-max(m, n) // every)),
        ),
        view="image",
        meta={
            "title": "the original and its rank-k approximations",
            "title_zh": "原图及其秩 k 近似",
            "captions": captions,
            "captions_zh": captions_zh,
        },
    )
    return {
        "rank": r,
        "sigma_1": float(sigma[:, 0].max()),
        **per_rank,
    }


SPEC = KindSpec(
    name="lab.svd",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="SVD image compression",
    description="An image as a sum of rank-one layers σ_i u_i v_iᵀ: its singular-value spectrum, "
    "the energy kept, and the rank-k approximations with their error, storage and PSNR.",
)
