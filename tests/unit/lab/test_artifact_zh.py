"""Every title, caption and axis title a lab kind shows comes with its Chinese.

Each lab kind (lab.diffusion_internals on the tiny model included) runs with small parameters
that still reach each of its branches; every artifact's meta and every JSON artifact's body is
searched for English `title`, `caption`, `captions`, `x_title` and `y_title`, and each must
have its `_zh` beside it: non-empty, and in Chinese wherever the English has a word (a symbol
such as "C", "λ" or "‖ε - ε_θ‖²" may stay as it is). A plot reads its axis titles from its body
or its meta, so an axis title's Chinese may stand in either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from difflab.diffusion.tiny import build_tiny_pipeline_dir
from difflab.jobs.registry import all_kinds
from difflab.lab.common import confusion_artifact, heatmap_artifact, line_artifact, scatter_artifact
from difflab.runtime import MemorySink, RunContext

TEXT_KEYS = ("title", "caption", "x_title", "y_title")
AXIS_KEYS = ("x_title", "y_title")
CJK = re.compile(r"[\u3400-\u9fff]")
WORD = re.compile(r"[A-Za-z]{3,}")  # "C", "PC1", "x_t" and "KL" are symbols, "density" is not

# small, fast parameters per kind; several sets where the titles depend on the data or a branch
RUNS: dict[str, list[dict[str, Any]]] = {
    "lab.autoencoder": [{"epochs": 1}],
    "lab.cnn": [{"epochs": 1}],
    "lab.convolution": [{"size": 32}],
    "lab.ddpm": [
        {"epochs": 1, "num_train_timesteps": 50, "channels": 8, "n_blocks": 1, "sample_every": 1}
    ],
    "lab.decision_tree": [{"max_depth": 2}],
    "lab.diffusion_internals": [{"model": "tiny", "steps": 2, "unet_step": 1, "w_values": [0, 2]}],
    "lab.gan": [
        {"n_samples": 200, "epochs": 1},
        {"dataset": "digits", "epochs": 1, "hidden_sizes": [16]},
    ],
    "lab.kmeans": [{"max_iter": 2}, {"dataset": "iris", "max_iter": 2}],
    "lab.lda": [{"dataset": "wine"}, {"dataset": "moons"}],
    "lab.linear_regression": [{"epochs": 2}, {"dataset": "plane", "epochs": 2}],
    "lab.logistic_regression": [{"epochs": 2, "snapshots": 2}],
    "lab.mdn": [{"n_samples": 100, "epochs": 3, "frame_every": 2}],
    "lab.mlp": [{"epochs": 1}, {"dataset": "sine", "epochs": 1}],
    "lab.naive_bayes": [{"chunks": 2}],
    "lab.optimizers": [{"steps": 10, "frame_every": 10}],
    "lab.pca": [{"dataset": "digits"}],
    "lab.perceptron": [{"epochs": 2}],
    "lab.probability": [{"n_flips": 10, "n_observations": 5, "mc_samples": 1000, "max_frames": 3}],
    "lab.rbf_network": [{"epochs": 1}, {"dataset": "sine", "n_centers": 4, "epochs": 1}],
    "lab.regularization": [{"n_lambdas": 4, "epochs": 4, "patience": 1}],
    "lab.rnn": [
        {"n_sequences": 100, "epochs": 1},
        {"task": "binary_sum", "seq_len": 6, "n_sequences": 100, "epochs": 1},
    ],
    "lab.seq2seq": [{"n_train": 200, "n_val": 20, "epochs": 1}],
    "lab.softmax_regression": [{"epochs": 2, "snapshots": 2}],
    "lab.svd": [{"size": 32, "ranks": [1, 2]}],
    "lab.svm": [{"c_sweep": 2}],
    "lab.transformer": [{"n_train": 200, "n_val": 20, "epochs": 1}],
    "lab.tsne": [{"dataset": "iris", "perplexities": [10.0, 20.0], "max_iter": 250}],
    "lab.vae": [{"epochs": 1}],
}

LAB_KINDS = sorted(k for k, spec in all_kinds().items() if spec.category == "lab")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The models are tiny: one thread is fastest and leaves the other core to other tests."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_tiny_pipeline_dir(root / "tiny", seed=0)
    return root


def missing_chinese(where: str, node: Any, beside: Any = None) -> Iterator[str]:
    """What lacks its Chinese in a meta dict or a JSON body, nested dicts and lists included;
    an axis title's Chinese may also stand in `beside` (the body of a meta, the meta of a body)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from missing_chinese(f"{where}[{i}]", item)
        return
    if not isinstance(node, dict):
        return
    other = beside if isinstance(beside, dict) else {}

    def chinese(key: str) -> Any:
        zh = node.get(f"{key}_zh")
        return other.get(f"{key}_zh") if zh is None and key in AXIS_KEYS else zh

    pairs = [(key, node[key], chinese(key)) for key in TEXT_KEYS if key in node]
    if "captions" in node:
        zh_list = node.get("captions_zh")
        if not isinstance(zh_list, list) or len(zh_list) != len(node["captions"]):
            yield f"{where}: captions has no captions_zh of the same length"
        else:
            pairs += [
                (f"captions[{i}]", en, zh)
                for i, (en, zh) in enumerate(zip(node["captions"], zh_list, strict=True))
            ]
    for key, en, zh in pairs:
        if not isinstance(zh, str) or not zh.strip():
            yield f"{where}: {key} {en!r} has no Chinese"
        elif WORD.search(str(en)) and not CJK.search(zh):
            yield f"{where}: {key} {en!r} has {zh!r}, not Chinese"
    for key, value in node.items():
        if key not in TEXT_KEYS and key != "captions" and not key.endswith("_zh"):
            yield from missing_chinese(f"{where}.{key}", value)


def test_the_small_parameters_name_lab_kinds() -> None:
    assert set(RUNS) <= set(LAB_KINDS)  # a kind without an entry runs its defaults


@pytest.mark.parametrize("kind", LAB_KINDS)
def test_titles_captions_and_axes_have_chinese(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    spec = all_kinds()[kind]
    models = request.getfixturevalue("models_dir") if spec.queue == "gpu" else tmp_path
    ctx = RunContext(job_id="test", work_dir=tmp_path, models_dir=models, data_dir=tmp_path)
    problems: list[str] = []
    titled = 0
    for fields in RUNS.get(kind, [{}]):
        sink = MemorySink()
        spec.run(spec.params(**fields), sink, ctx)
        for event in sink.of_type("artifact"):
            name, meta = event["name"], event["meta"]
            body = json.loads(sink.artifacts[name]) if event["kind"] == "json" else None
            problems += missing_chinese(f"{name} meta", meta, body)
            problems += missing_chinese(name, body, meta)
            titled += any(k in meta for k in (*TEXT_KEYS, "captions"))
            titled += isinstance(body, dict) and "title" in body
    assert titled, f"{kind} showed no title at all: the check would pass for nothing"
    assert not problems, "\n".join(problems)


def test_the_helpers_put_the_chinese_beside_the_english() -> None:
    assert line_artifact({"a": ([0], [1])}, "loss", title_zh="损失")["title_zh"] == "损失"
    assert "title_zh" not in heatmap_artifact([[1.0]], ["x"], ["y"], "W")
    y = np.array([0, 1, 1])
    default = confusion_artifact(y, y, ["a", "b"])
    assert (default["title_zh"], default["x_title_zh"], default["y_title_zh"]) == (
        "混淆矩阵", "预测类别", "真实类别",
    )  # fmt: skip
    # a title of the caller's own is not given the default's Chinese
    assert "title_zh" not in confusion_artifact(y, y, ["a", "b"], "validation confusion matrix")
    points = scatter_artifact(np.zeros((1, 2)), [0], ["a"], "codes", title_zh="编码")
    assert (points["title"], points["title_zh"]) == ("codes", "编码")
