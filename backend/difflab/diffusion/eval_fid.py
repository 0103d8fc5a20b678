"""Fréchet distance between two feature sets, as in FID (Heusel et al. 2017).

    FID = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))
with mu_i, S_i the mean and covariance of each set's features. The matrix square root is
scipy.linalg.sqrtm; a tiny imaginary part from round-off is dropped, as in the reference code.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between feature sets a (N, D) and b (M, D)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D: {a.shape}, {b.shape}")
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if not np.isfinite(covmean).all():  # singular product: regularize as the reference does
        eps = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def fid_ratio_with_spread(
    generated: np.ndarray, real: np.ndarray, reference: np.ndarray, rounds: int = 20, seed: int = 0
) -> dict[str, float]:
    """FID(generated, reference) over the floor FID(real, reference), where `real` is drawn from
    the same distribution as `reference` with another seed; with a bootstrap spread.

    Each round resamples the generated and the real set with replacement (the reference stays),
    so `ratio_std` says how much the ratio moves with the sample alone."""
    fid = frechet_distance(generated, reference)
    floor = frechet_distance(real, reference)
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(rounds):
        g = generated[rng.integers(0, len(generated), len(generated))]
        r = real[rng.integers(0, len(real), len(real))]
        ratios.append(frechet_distance(g, reference) / max(frechet_distance(r, reference), 1e-12))
    return {
        "generated_vs_reference": fid,
        "real_vs_reference_floor": floor,
        "ratio": fid / max(floor, 1e-12),
        "ratio_std": float(np.std(ratios)),
        "bootstrap_rounds": rounds,
    }
