"""AUTOMATIC1111's prompt weights, BREAK and long prompts: its documented parse results, its
chunking rules, and the encoding (weights rescaled to the chunk's mean)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from difflab.diffusion.pipeline import encode_text
from difflab.diffusion.prompts import (
    PromptSyntaxError,
    apply_weights,
    chunks,
    encode_pair,
    encode_weighted,
    is_plain,
    parse_weights,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # the examples in A1111's parse_prompt_attention docstring
        ("normal text", [("normal text", 1.0)]),
        ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
        ("(unbalanced", [("unbalanced", 1.1)]),
        ("\\(literal\\]", [("(literal]", 1.0)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
         [("a ", 1.0), ("house", 1.1 * 1.1 * 1.3), (" ", 1.1), ("on", 1.0), (" a ", 1.1),
          ("hill", 0.55), (", sun, ", 1.1), ("sky", 1.1**4), (".", 1.1)]),
        ("((word))", [("word", 1.1 * 1.1)]),
        ("[word]", [("word", 1 / 1.1)]),
        ("a BREAK b", [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]),
        ("", [("", 1.0)]),
    ],
)  # fmt: skip
def test_parse_weights_as_a1111_documents(text: str, expected: list[tuple[str, float]]) -> None:
    got = parse_weights(text)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected])


def test_a_weight_that_is_not_a_number_is_an_error() -> None:
    with pytest.raises(PromptSyntaxError) as e:
        parse_weights("a (red:1.2.3) circle", "negative_prompt")
    assert e.value.field == "negative_prompt" and "1.2.3" in str(e.value)


def test_chunks_break_and_comma_backtrack(tiny_pipe: Any) -> None:
    tok = tiny_pipe.tokenizer  # context 16: chunks of 14 tokens
    assert [len(c.ids) for c in chunks(tok, "red " * 20)] == [14, 6]
    assert [len(c.ids) for c in chunks(tok, "red BREAK blue")] == [1, 1]
    # a comma within 20 tokens of a full chunk: the words after it move to the next chunk
    text = "red " * 10 + ", " + "blue " * 6
    first, second = chunks(tok, text)
    assert first.ids[-1] == tok.convert_tokens_to_ids(",</w>") and len(first.ids) == 11
    assert len(second.ids) == 6
    weighted = chunks(tok, "(red:1.5) blue")[0]
    assert weighted.weights == [1.5, 1.0]


def test_plain_prompts_take_diffusers_encoding(tiny_pipe: Any) -> None:
    assert is_plain(tiny_pipe.tokenizer, "a red circle")
    assert not is_plain(tiny_pipe.tokenizer, "a (red) circle")
    assert not is_plain(tiny_pipe.tokenizer, "red " * 15)
    # the chunk encoder with every weight 1 is diffusers' encoding too (SD-1.x pads with end)
    unit = encode_weighted(tiny_pipe, "a (red:1) circle")
    assert torch.equal(unit.embeds, encode_text(tiny_pipe, "a red circle", "prompt"))


def test_weights_scale_tokens_and_keep_the_chunk_mean(tiny_pipe: Any) -> None:
    plain = encode_weighted(tiny_pipe, "a red circle").embeds
    heavy = encode_weighted(tiny_pipe, "a (red:1.5) circle")
    assert heavy.tokens == ["a", "red", "circle"] and heavy.weights == [1.0, 1.5, 1.0]
    ratio = heavy.embeds[0, 2].norm() / heavy.embeds[0, 1].norm()
    assert ratio / (plain[0, 2].norm() / plain[0, 1].norm()) == pytest.approx(1.5, rel=1e-4)
    # the tiny encoder's states have mean 0 (layer norm without bias): no rescaling there
    assert abs(plain.mean().item()) < 1e-6
    # a CLIP-like chunk with a real mean is rescaled back to it
    z = torch.randn(1, 16, 8, generator=torch.Generator().manual_seed(0)) - 0.5
    w = torch.ones(16)
    w[3] = 1.4
    out = apply_weights(z, w)
    assert out.mean().item() == pytest.approx(z.mean().item(), rel=1e-5)
    assert (out[0, 3] / out[0, 2]).tolist() == pytest.approx((1.4 * z[0, 3] / z[0, 2]).tolist())


def test_long_prompt_positions_and_padding(tiny_pipe: Any) -> None:
    cond, uncond = encode_pair(tiny_pipe, "red " * 20, "blurry")
    assert cond.embeds.shape[1] == uncond.embeds.shape[1] == 32  # two chunks of 16
    assert cond.positions[:2] == [1, 2] and cond.positions[14] == 17  # second chunk
    empty = encode_text(tiny_pipe, "", "negative_prompt")
    assert torch.equal(uncond.embeds[:, 16:], empty)
