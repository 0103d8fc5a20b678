"""lab.transformer: attention written out against torch's, and the copy task end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch
from pydantic import ValidationError
from torch.nn import functional as F

from difflab.lab import transformer as tr
from difflab.runtime import MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_attention_equals_scaled_dot_product_attention() -> None:
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 8) for _ in range(3))
    out, weights, scores = tr.attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    # the mask: no weight on later keys, each row a distribution
    assert float(weights.triu(diagonal=1).abs().sum()) == 0.0
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 7))
    # the scores: Q·Kᵀ/√d_k on and below the diagonal, -inf above; A is their softmax
    allowed = tr.causal_mask(7)
    torch.testing.assert_close(
        scores[..., allowed], (q @ k.transpose(-2, -1) / 8**0.5)[..., allowed]
    )
    assert bool((scores[..., ~allowed] == float("-inf")).all())
    torch.testing.assert_close(torch.softmax(scores, dim=-1), weights)


def test_multi_head_layer_equals_torch_multihead_attention() -> None:
    torch.manual_seed(0)
    ours = tr.MultiHeadSelfAttention(16, 4, 0.0)
    theirs = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    theirs.in_proj_weight.data.copy_(ours.qkv.weight.data)
    theirs.in_proj_bias.data.copy_(ours.qkv.bias.data)
    theirs.out_proj.weight.data.copy_(ours.proj.weight.data)
    theirs.out_proj.bias.data.copy_(ours.proj.bias.data)
    x = torch.randn(3, 5, 16)
    mask = ~tr.causal_mask(5)  # torch: True = not allowed
    expected, expected_w = theirs(x, x, x, attn_mask=mask, average_attn_weights=False)
    out, w, _ = ours(x)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(w, expected_w)


def test_positional_encoding_shifts_are_rotations() -> None:
    """PE(pos + k) is PE(pos) with each (sin, cos) pair turned by the angle k·ω_i."""
    d, k = 8, 3
    pe = tr.sinusoidal_positions(20, d)
    omega = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(0, d, 2) / d)
    s, c = pe[:10, 0::2], pe[:10, 1::2]
    cos_k, sin_k = torch.cos(k * omega), torch.sin(k * omega)
    torch.testing.assert_close(pe[k : k + 10, 0::2], s * cos_k + c * sin_k)
    torch.testing.assert_close(pe[k : k + 10, 1::2], c * cos_k - s * sin_k)


def test_sequences() -> None:
    seqs = tr.make_sequences("sort", 4, 5, 10, seed=0)
    assert seqs.shape == (4, 11) and bool((seqs[:, 5] == 10).all())
    torch.testing.assert_close(seqs[:, 6:], seqs[:, :5].sort(dim=1).values)


def test_copy_task_accuracy_rises() -> None:
    sink = MemorySink()
    p = tr.Params(
        task="copy",
        seq_len=4,
        n_symbols=6,
        n_train=1500,
        n_val=100,
        epochs=6,
        attention_every=3,
        d_model=32,
        n_heads=2,
        n_layers=2,
    )
    result = tr.run(p, sink, CTX)
    acc = [v for _, v in sink.metric_series("val/accuracy")]
    assert acc[-1] > acc[0] and result["val_accuracy"] > 0.8  # chance is 1/6
    assert result["val_seq_accuracy"] > 0.5
    names = set(sink.artifacts)
    assert {
        "positional_encoding.json",
        "causal_mask.json",
        "attention/epoch_00003/layer1_head2.json",
        "attention/final/layer2_head1.json",
    } <= names
    att = [a for a in sink.of_type("artifact") if a["name"] == "attention/final/layer1_head1.json"]
    assert att[0]["meta"]["view"] == "heatmap"


def test_attention_maps_carry_the_scores_they_are_the_softmax_of() -> None:
    p = tr.Params(
        seq_len=3, n_symbols=4, n_train=100, n_val=20, epochs=1, d_model=8, n_heads=2, n_layers=1
    )
    sink = MemorySink()
    tr.run(p, sink, CTX)
    for name in ("attention/epoch_00001/layer1_head2.json", "attention/final/layer1_head1.json"):
        art = json.loads(sink.artifacts[name])
        A, S = art["matrix"], art["scores"]
        T = 2 * p.seq_len
        assert len(S) == T and all(len(row) == T for row in S)
        for i in range(T):
            # masked keys (after the query) are null; softmax over the rest gives row i of A
            assert [v is None for v in S[i]] == [j > i for j in range(T)]
            row = torch.softmax(torch.tensor(S[i][: i + 1], dtype=torch.float64), dim=0)
            torch.testing.assert_close(
                row, torch.tensor(A[i][: i + 1], dtype=torch.float64), atol=1e-4, rtol=0
            )
            assert A[i][i + 1 :] == [0.0] * (T - i - 1)


def test_bad_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="n_heads"):
        tr.Params(d_model=30, n_heads=4)
    with pytest.raises(ValidationError, match="cell"):
        tr.Params.model_validate({"cell": "gru"})
