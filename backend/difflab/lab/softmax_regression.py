"""Softmax regression: p(y=j|x) = softmax(Wφ(x) + b)_j, multi-class logistic regression.

One weight vector per class; softmax turns the k scores into a distribution (positive, summing
to one, the largest score pushed towards 1), and the loss is the categorical cross-entropy
−log p(y|x). On 2-D sets the class regions are drawn as training goes; on digits each class's
weights are shown as an 8×8 image (what the class "looks for").
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from difflab.datasets.toy import ClassificationName
from difflab.lab.linear_classifier import LinearClassifierParams, train_linear_classifier
from difflab.runtime import KindSpec, RunContext, Sink


class Params(LinearClassifierParams):
    dataset: ClassificationName = Field(
        "blobs",
        description="Classification set: iris, wine, breast_cancer, digits, or a 2-D one "
        "(moons, circles, blobs, spirals, xor).",
    )


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    return train_linear_classifier(p, sink, mode="softmax")


SPEC = KindSpec(
    name="lab.softmax_regression",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Softmax regression",
    description="Multi-class classification by softmax(Wx + b) and cross-entropy, trained with "
    "a torch.optim optimizer: curves, class regions over training, confusion matrix, weights.",
)
