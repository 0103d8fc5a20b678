"""lab.rnn: the sequence tasks, each cell, end to end."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from difflab.lab import rnn
from difflab.runtime import MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_binary_sum_targets_are_running_counts() -> None:
    X, Y, group = rnn.make_sequences("binary_sum", 5, 6, 0.0, seed=1)
    np.testing.assert_array_equal(Y, np.cumsum(X[:, :, 0].round().astype(np.int64), axis=1))
    np.testing.assert_array_equal(group, Y[:, -1])


def test_sine_targets_are_the_next_inputs() -> None:
    X, Y, _ = rnn.make_sequences("sine", 4, 10, 0.1, seed=1)
    np.testing.assert_allclose(X[:, 1:, 0], Y[:, :-1])


def test_binary_sum_learns_to_count() -> None:
    sink = MemorySink()
    p = rnn.Params(task="binary_sum", seq_len=8, n_sequences=600, epochs=15, lr=0.02)
    result = rnn.run(p, sink, CTX)
    assert result["val_accuracy"] >= 0.8  # chance is about 1/4 for the final count of 8 bits
    assert {
        "prediction/final.json",
        "hidden/final.json",
        "trajectory/epoch_00005.json",
        "final_states.json",
    } <= set(sink.artifacts)


def test_sine_beats_the_repeat_last_value_baseline() -> None:
    sink = MemorySink()
    result = rnn.run(rnn.Params(task="sine", cell="lstm", n_sequences=300, epochs=10), sink, CTX)
    assert result["val_mse"] < 0.5 * result["baseline_mse"]
    losses = [v for _, v in sink.metric_series("train/loss")]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_each_cell_gives_outputs_and_states(cell: rnn.Cell) -> None:
    model = rnn.SequenceModel(cell, hidden=6, layers=2, dropout=0.1, n_out=3)
    out, h = model(torch.zeros(4, 7, 1))
    assert out.shape == (4, 7, 3) and h.shape == (4, 7, 6)


def test_inapplicable_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="dataset"):
        rnn.Params.model_validate({"dataset": "moons"})
    with pytest.raises(ValidationError, match="cell"):
        rnn.Params.model_validate({"cell": "transformer"})
