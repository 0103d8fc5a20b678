"""lab.seq2seq: the decoder block against torch's, the padding mask, reversal and translation
end to end, the cross-attention maps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from difflab.lab import seq2seq as s2s
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_decoder_layer_equals_torch_transformer_decoder_layer() -> None:
    torch.manual_seed(0)
    ours = s2s.DecoderLayer(16, 4, 32, 0.0).eval()
    theirs = torch.nn.TransformerDecoderLayer(
        16, 4, 32, 0.0, activation="gelu", batch_first=True, norm_first=True
    ).eval()
    theirs.load_state_dict(ours.state_dict())  # same parameter names and shapes
    x, memory = torch.randn(3, 5, 16), torch.randn(3, 7, 16)
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    tgt_pad = torch.zeros(3, 5, dtype=torch.bool)
    tgt_pad[1, 4:] = True
    mem_pad = torch.zeros(3, 7, dtype=torch.bool)
    mem_pad[0, 5:], mem_pad[2, 2:] = True, True
    with torch.no_grad():
        out, weights = ours(x, memory, causal, tgt_pad, mem_pad)
        expected = theirs(
            x,
            memory,
            tgt_mask=causal,
            tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=mem_pad,
        )
    torch.testing.assert_close(out, expected)
    assert weights.shape == (3, 4, 5, 7)  # one map per head: (B, h, T, S)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 5))
    assert float(weights[0, :, :, 5:].abs().sum() + weights[2, :, :, 2:].abs().sum()) == 0.0


@pytest.mark.parametrize("task", ["reverse", "digits_to_words", "words_to_digits"])
def test_pairs_are_the_task_padded(task: s2s.Task) -> None:
    vocab = s2s.make_vocab(task, 10)
    pairs = s2s.make_pairs(task, vocab, 50, 2, 5, 10, seed=3)
    spelled_src, spelled_tgt = task == "words_to_digits", task == "digits_to_words"
    lengths = set()
    for i in range(len(pairs)):
        src = vocab.text(pairs.src[i].tolist(), spelled_src)
        tgt = vocab.text(pairs.tgt_out[i].tolist(), spelled_tgt)
        digits = tgt if spelled_src else src
        lengths.add(len(digits.split()))
        if task == "reverse":
            assert tgt.split() == src.split()[::-1]
        else:  # the spelled side is the digits' words, in order
            words = " ".join(s2s.WORDS[int(d)] for d in digits.split())
            assert (tgt if spelled_tgt else src) == words
        # the decoder reads BOS y and is scored on y EOS; PAD fills each row after them
        n = int((pairs.tgt_out[i] != s2s.PAD).sum())
        assert pairs.tgt_in[i, 0] == s2s.BOS and pairs.tgt_out[i, n - 1] == s2s.EOS
        torch.testing.assert_close(pairs.tgt_in[i, 1:n], pairs.tgt_out[i, : n - 1])
        assert bool(
            (pairs.tgt_in[i, n:] == s2s.PAD).all() & (pairs.tgt_out[i, n:] == s2s.PAD).all()
        )
        m = int((pairs.src[i] != s2s.PAD).sum())
        assert bool((pairs.src[i, m:] == s2s.PAD).all())
    assert lengths == {2, 3, 4, 5}
    assert pairs.src.shape[1] <= s2s.max_lengths(task, 5, 10)[0]
    assert pairs.tgt_out.shape[1] <= s2s.max_lengths(task, 5, 10)[1] + 1


@pytest.mark.parametrize("grad", [False, True])
def test_padding_leaves_the_real_positions_unchanged(grad: bool) -> None:
    """More PAD columns, or other PAD vectors, change nothing at the real tokens — as long as
    the mask is on (without it the same changes do show)."""
    torch.manual_seed(0)
    vocab = s2s.make_vocab("reverse", 10)
    pairs = s2s.make_pairs("reverse", vocab, 8, 1, 6, 10, seed=0)
    model = s2s.Seq2SeqTransformer(len(vocab.tokens), 12, 8, 16, 2, 2, 0.0).eval()
    real = pairs.tgt_out != s2s.PAD  # the decoder positions whose outputs count
    assert bool((pairs.src == s2s.PAD).any())  # some sources are padded
    more = torch.nn.functional.pad(pairs.src, (0, 4), value=s2s.PAD)
    with torch.set_grad_enabled(grad):
        base, base_maps = model(pairs.src, pairs.tgt_in)
        padded, padded_maps = model(more, pairs.tgt_in)
        torch.testing.assert_close(padded[real], base[real], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(padded_maps[-1][..., : pairs.src.shape[1]], base_maps[-1])
        unmasked, _ = model(more, pairs.tgt_in, src_pad=torch.zeros_like(more, dtype=torch.bool))
        assert float((unmasked[real] - base[real]).detach().abs().max()) > 1e-3
        with torch.no_grad():
            model.src_tok.weight[s2s.PAD] = 5.0 * torch.randn(16)
        other_pad, _ = model(pairs.src, pairs.tgt_in)
        torch.testing.assert_close(other_pad[real], base[real], atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def reversal() -> tuple[s2s.Params, MemorySink, dict[str, Any]]:
    """One small reversal run, its probe a validation pair shorter than the longest source.
    (Adam's last epochs wobble by a few points of sequence accuracy; the best weights don't.)"""
    vocab = s2s.make_vocab("reverse", 6)
    val = s2s.make_pairs("reverse", vocab, 100, 2, 5, 6, seed=1)  # run() draws val from seed+1
    probe = int(torch.nonzero((val.src == s2s.PAD).any(1))[0])
    p = s2s.Params(
        task="reverse",
        min_len=2,
        max_len=5,
        n_symbols=6,
        n_train=1500,
        n_val=100,
        epochs=8,
        attention_every=4,
        patience=8,  # never stops early here, but ends on the weights of the best val/loss
        probe_index=probe,
        seed=0,
    )
    sink = MemorySink()
    return p, sink, s2s.run(p, sink, CTX)


def test_reversal_learns(reversal: tuple[s2s.Params, MemorySink, dict[str, Any]]) -> None:
    _, sink, result = reversal
    seq = [v for _, v in sink.metric_series("val/sequence_accuracy")]
    assert seq[0] < 0.5 and result["val_sequence_accuracy"] > 0.9 and max(seq) > 0.9
    assert result["val_token_accuracy"] > 0.95
    losses = [v for _, v in sink.metric_series("train/loss")]
    assert losses[-1] < 0.3 * losses[0]
    assert len(sink.metric_series("val/loss")) == 8


def test_attention_maps_are_distributions_over_the_real_source(
    reversal: tuple[s2s.Params, MemorySink, dict[str, Any]],
) -> None:
    p, sink, _ = reversal
    expected = {
        f"cross_attention/{tag}/layer{layer}_head{head}.json"
        for tag in ("epoch_00001", "epoch_00004", "epoch_00008", "final")
        for layer in (1, 2)
        for head in (1, 2)
    }
    names = [n for n in sink.artifacts if n.startswith("cross_attention/")]
    assert set(names) == expected
    meta = {a["name"]: a["meta"] for a in sink.of_type("artifact")}
    assert meta["cross_attention/epoch_00004/layer2_head1.json"] == {
        "view": "heatmap",
        "epoch": 4,
        "layer": 2,
        "head": 1,
        "x_title": "source token",
        "y_title": "output token",
    }
    for name in names:
        m = json.loads(sink.artifacts[name])
        A = np.array(m["matrix"])
        pad = np.array([c == "·" for c in m["x_labels"]])
        assert pad.any() and not pad.all()
        np.testing.assert_allclose(A.sum(1), 1.0, atol=1e-4)
        assert float(np.abs(A[:, pad]).sum()) == 0.0
        assert m["y_labels"][-1] == "<eos>" and len(m["y_labels"]) == (~pad).sum() + 1
    # after training the last layer reads the source backwards: output i looks at L-1-i
    heads = [
        json.loads(sink.artifacts[f"cross_attention/final/layer2_head{h}.json"]) for h in (1, 2)
    ]
    A = np.mean([m["matrix"] for m in heads], axis=0)
    L = len(heads[0]["y_labels"]) - 1
    assert A[np.arange(L), L - 1 - np.arange(L)].mean() > 0.5


def test_decoded_examples(reversal: tuple[s2s.Params, MemorySink, dict[str, Any]]) -> None:
    _, sink, _ = reversal
    events = {a["name"]: a for a in sink.of_type("artifact")}
    assert events["examples/final.txt"]["kind"] == "text"
    assert events["examples/epoch_00004.txt"]["meta"] == {"view": "text", "epoch": 4}
    text = sink.artifacts["examples/final.txt"].decode()
    blocks = [b.splitlines() for b in text.split("\n\n")[1:] if b.strip()]
    assert len(blocks) == s2s.EXAMPLES_SHOWN
    for source, target, decoded in blocks:
        assert target.split()[1:] == source.split()[1:][::-1]
        assert decoded.startswith("decoded: ") and decoded[-1] in "✓✗"
    assert sum(b[2].endswith("✓") for b in blocks) >= s2s.EXAMPLES_SHOWN - 2


@pytest.mark.parametrize("task", ["digits_to_words", "words_to_digits"])
def test_translation_learns(task: s2s.Task) -> None:
    p = s2s.Params(
        task=task, min_len=1, max_len=3, n_symbols=5, n_train=800, n_val=60, epochs=5, lr=5e-3
    )
    sink = MemorySink()
    result = s2s.run(p, sink, CTX)
    assert result["val_token_accuracy"] > 0.9
    assert result["val_sequence_accuracy"] > 0.5
    first = json.loads(sink.artifacts["cross_attention/final/layer1_head1.json"])
    spelled = first["y_labels"] if task == "digits_to_words" else first["x_labels"]
    assert "␣" in spelled  # the space between spelled words is shown


def test_greedy_decode_stops_at_eos() -> None:
    torch.manual_seed(0)
    model = s2s.Seq2SeqTransformer(5, 4, 6, 8, 1, 1, 0.0).eval()
    with torch.no_grad():  # a head that always says EOS: one step, then PAD
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]))
    out = s2s.greedy_decode(model, torch.tensor([[3, 4, 0], [4, 0, 0]]), steps=4)
    assert out.tolist() == [[s2s.EOS, 0, 0, 0]] * 2


def test_cancel_stops_at_the_next_batch() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        s2s.run(s2s.Params(n_train=200, n_val=20, epochs=3), sink, CTX)
    assert len(sink.of_type("metric")) == 1


def test_bad_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="n_heads"):
        s2s.Params(d_model=30, n_heads=4)
    with pytest.raises(ValidationError, match="min_len"):
        s2s.Params(min_len=5, max_len=3)
    with pytest.raises(ValidationError, match="task"):
        s2s.Params.model_validate({"task": "sort"})
    with pytest.raises(ValidationError, match="cell"):
        s2s.Params.model_validate({"cell": "gru"})
