"""lab.lda: the supervised projection separates classes better than PCA's."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from difflab.lab import lda
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def test_wine_lda_beats_pca_on_fisher_ratio_and_nearest_mean() -> None:
    sink = MemorySink()
    result = lda.run(lda.Params(dataset="wine"), sink, CTX)
    assert result["lda/fisher_ratio_train"] > result["pca/fisher_ratio_train"]
    assert result["lda/val_accuracy_nearest_mean"] >= result["pca/val_accuracy_nearest_mean"]
    assert result["lda/val_accuracy_classifier"] >= 0.9
    assert {"pca/projection.json", "lda/projection.json", "pca/axes.json", "lda/axes.json"} <= set(
        sink.artifacts
    )


def test_fisher_ratio_matches_the_generalized_eigenvalues() -> None:
    # the LDA axes are the eigenvectors of S_W⁻¹S_B; on them the ratio is the eigenvalue sum
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(m, 1.0, size=(60, 3)) for m in ([0, 0, 0], [3, 1, 0], [0, 4, 1])])
    y = np.repeat([0, 1, 2], 60)
    Z = LinearDiscriminantAnalysis(n_components=2).fit(X, y).transform(X)
    Sw = sum(
        ((X[y == c] - X[y == c].mean(0)).T @ (X[y == c] - X[y == c].mean(0))) for c in range(3)
    )
    Sb = sum(
        60 * np.outer(X[y == c].mean(0) - X.mean(0), X[y == c].mean(0) - X.mean(0))
        for c in range(3)
    )
    eig = np.sort(np.linalg.eigvals(np.linalg.solve(Sw, Sb)).real)[::-1]
    assert lda.fisher_ratio(Z, y) == pytest.approx(eig[:2].sum(), rel=1e-6)


def test_two_classes_give_one_jittered_axis() -> None:
    sink = MemorySink()
    result = lda.run(lda.Params(dataset="moons"), sink, CTX)
    assert result["n_components"] == 1


def test_too_many_axes_is_named() -> None:
    for bad, field in [
        ({"dataset": "moons", "n_components": 2}, "n_components"),
        ({"dataset": "iris", "n_components": 3}, "n_components"),
        ({"perplexity": 5}, "perplexity"),
    ]:
        with pytest.raises(ValidationError) as err:
            lda.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"] == (field,)


def test_cancel() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        lda.run(lda.Params(), sink, CTX)
