"""lab.svd: Eckart–Young, exact full rank, and scikit-learn's TruncatedSVD."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.decomposition import TruncatedSVD

from difflab.lab import svd
from difflab.lab.convolution import load_image
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.mark.parametrize("color", [False, True])
def test_error_is_the_discarded_singular_values(color: bool) -> None:
    sink = MemorySink()
    p = svd.Params(image="flower", size=64, color=color, ranks=[1, 4, 16])
    r = svd.run(p, sink, CTX)
    A = svd.channels_of(load_image("flower", 64, color))
    norm = np.linalg.norm(A)  # Frobenius over all channels
    for k in (1, 4, 16):
        discarded = sum(
            float((np.linalg.svd(channel, compute_uv=False)[k:] ** 2).sum()) for channel in A
        )
        assert r[f"k{k}/relative_error"] == pytest.approx(np.sqrt(discarded) / norm, rel=1e-9)
        assert r[f"k{k}/eckart_young_error"] == pytest.approx(r[f"k{k}/relative_error"], rel=1e-9)
        assert r[f"k{k}/energy"] == pytest.approx(1.0 - discarded / norm**2, rel=1e-12)
        # PSNR from the same error: MSE = (relative error · ‖A‖)² / pixels
        mse = (r[f"k{k}/relative_error"] * norm) ** 2 / A.size
        assert r[f"k{k}/psnr_db"] == pytest.approx(-10 * np.log10(mse), rel=1e-9)
        assert r[f"k{k}/compression_ratio"] == pytest.approx(k * 129 / 64**2)
    errors = [v for _, v in sink.metric_series("relative_error")]
    assert errors == sorted(errors, reverse=True)
    assert [s for s, _ in sink.metric_series("psnr_db")] == [1, 4, 16]  # one point per rank


def test_full_rank_reconstructs_exactly() -> None:
    A = svd.channels_of(load_image("china", 48, color=True))
    U, sigma, Vt = np.linalg.svd(A, full_matrices=False)
    np.testing.assert_allclose(svd.reconstruct(U, sigma, Vt, 48), A, atol=1e-12)
    r = svd.run(svd.Params(size=48, ranks=[48]), MemorySink(), CTX)
    assert r["k48/relative_error"] < 1e-12 and r["k48/psnr_db"] == 100.0


@pytest.mark.parametrize("k", [1, 3, 10])
def test_agrees_with_sklearn_truncated_svd(k: int) -> None:
    (A,) = svd.channels_of(load_image("china", 64, color=False))
    U, sigma, Vt = np.linalg.svd(A[None], full_matrices=False)
    ref = TruncatedSVD(n_components=k, algorithm="arpack").fit(A)
    np.testing.assert_allclose(ref.singular_values_, sigma[0, :k], rtol=1e-8)
    np.testing.assert_allclose(
        ref.inverse_transform(ref.transform(A)), svd.reconstruct(U, sigma, Vt, k)[0], atol=1e-8
    )


def test_no_other_rank_k_matrix_is_closer() -> None:
    """Eckart–Young: projecting A's rows on any other k directions leaves a larger error."""
    (A,) = svd.channels_of(load_image("flower", 32, color=False))
    U, sigma, Vt = np.linalg.svd(A[None], full_matrices=False)
    best = np.linalg.norm(A - svd.reconstruct(U, sigma, Vt, 5)[0])
    rng = np.random.default_rng(0)
    for _ in range(20):
        Q, _ = np.linalg.qr(Vt[0, :5].T + 0.1 * rng.normal(size=(32, 5)))  # (n, k), near the best
        assert np.linalg.norm(A - A @ Q @ Q.T) > best


def test_the_synthetic_images_have_low_rank() -> None:
    # the zone plate ½ + ½(cos ax²·cos ay² − sin ax²·sin ay²): three separable layers
    r = svd.run(svd.Params(image="zone_plate", size=32, ranks=[2, 3]), MemorySink(), CTX)
    assert r["k2/relative_error"] > 0.1 and r["k3/relative_error"] < 1e-12


def test_a_checkerboard_has_rank_two() -> None:
    sink = MemorySink()
    r = svd.run(svd.Params(image="checkerboard", size=32, ranks=[1, 2]), sink, CTX)
    assert r["k1/relative_error"] == pytest.approx(np.sqrt(0.5))  # two equal singular values
    assert r["k2/relative_error"] < 1e-12
    spectrum = json.loads(sink.artifacts["spectrum.json"])["series"]
    assert len(spectrum) == 1 and spectrum[0]["y"][2] < spectrum[0]["y"][0] - 12  # log10 σ


def test_artifacts() -> None:
    sink = MemorySink()
    svd.run(svd.Params(size=32, color=True, ranks=[8, 2]), sink, CTX)
    assert list(sink.artifacts) == [
        "spectrum.json",
        "energy.json",
        "error.json",
        "layers.png",
        "reconstruction/rank_0002.png",
        "reconstruction/rank_0008.png",
        "reconstructions.png",
    ]
    spectrum = json.loads(sink.artifacts["spectrum.json"])
    assert [s["name"] for s in spectrum["series"]] == [
        f"log10 σ ({c})" for c in ("red", "green", "blue")
    ]
    energy = json.loads(sink.artifacts["energy.json"])["series"][0]["y"]
    assert len(energy) == 32 and energy[-1] == pytest.approx(1.0) and energy == sorted(energy)
    steps = {a["name"]: a.get("step") for a in sink.of_type("artifact")}
    assert steps["reconstruction/rank_0002.png"] == 2 and steps["reconstructions.png"] is None
    meta = {a["name"]: a["meta"] for a in sink.of_type("artifact")}
    assert len(meta["reconstructions.png"]["captions"]) == 3  # the original and two ranks


def test_ranks_are_checked() -> None:
    with pytest.raises(ValidationError, match="rank at most 64"):
        svd.Params(size=64, ranks=[1, 65])
    with pytest.raises(ValidationError, match="distinct"):
        svd.Params(ranks=[5, 5])
    with pytest.raises(ValidationError, match="kernel"):
        svd.Params.model_validate({"kernel": "box"})


def test_cancel_stops_between_ranks() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        svd.run(svd.Params(size=32, ranks=[1, 2, 3]), sink, CTX)
    assert len(sink.of_type("metric")) == 1
