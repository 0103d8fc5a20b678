"""Logistic regression: a binary classifier p(y=1|x) = σ(wᵀφ(x) + b) trained on cross-entropy.

The maximum-likelihood fit under a Bernoulli model of the label is the minimum of the binary
cross-entropy; there is no closed form, so a torch.optim optimizer descends it. On 2-D sets the
boundary σ = 0.5 (a line, or a curve with polynomial features) is drawn as training goes.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from difflab.datasets.toy import BinaryName
from difflab.lab.linear_classifier import LinearClassifierParams, train_linear_classifier
from difflab.runtime import KindSpec, RunContext, Sink


class Params(LinearClassifierParams):
    dataset: BinaryName = Field(
        "moons",
        description="Two-class set: breast_cancer (30 features) or a 2-D one (moons, circles, "
        "spirals, xor).",
    )


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    return train_linear_classifier(p, sink, mode="binary")


SPEC = KindSpec(
    name="lab.logistic_regression",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Logistic regression",
    description="Binary classification by σ(wᵀx + b) and cross-entropy, trained with a "
    "torch.optim optimizer: loss and accuracy curves, the decision boundary over training, "
    "the confusion matrix.",
)
