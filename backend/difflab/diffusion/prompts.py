"""Prompt weights and long prompts, with AUTOMATIC1111's syntax and its encoding.

Syntax (A1111's "attention/emphasis"):
  (word)        weight × 1.1            ((word))   × 1.1²       [word]   ÷ 1.1
  (word:1.3)    weight × 1.3            \\( \\) \\[ \\]   literal brackets
  BREAK         start a new chunk (see below)
An unclosed bracket applies to the rest of the prompt, as in A1111; a weight that is not a
number, such as (word:1.2.3), is an error (PromptSyntaxError: the API answers 422).

Encoding (A1111's FrozenCLIPEmbedderWithCustomWords): the prompt's tokens, without start and
end tokens, are cut into chunks of C = context − 2 tokens (75 for SD-1.x); a chunk that would
split a phrase moves the words after its last comma (within 20 tokens) to the next chunk, and
BREAK ends a chunk early. Each chunk gets its start and end tokens, padding with the end token,
and is encoded by CLIP on its own; each token's hidden state is multiplied by its weight and
the chunk is rescaled so its mean is what it was before weighting. The chunks' states are
concatenated, so the U-Net's cross-attention reads them all (a prompt of 150 tokens gives a
(1, 154, D) conditioning). The negative prompt is padded with empty chunks to the same length.

A prompt with no weights, no BREAK and no more tokens than the context is encoded exactly as
diffusers encodes it (pipeline.encode_text), so plain prompts give diffusers' images.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import torch

MAX_CHUNKS = 8  # 600 tokens of an SD-1.x prompt; a longer one is refused
COMMA_BACKTRACK = 20  # A1111's comma_padding_backtrack default
ROUND, SQUARE = 1.1, 1 / 1.1

_TOKEN = re.compile(
    r"""
    \\\( | \\\) | \\\[ | \\\] | \\\\ | \\      # escapes
    | \( | \[                                   # openers
    | :\s*(?P<weight>[+-]?[.\d]+)\s*\)         # (text:weight)
    | \) | \]                                   # closers
    | [^\\()\[\]:]+                             # text
    | :
    """,
    re.X,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


class PromptSyntaxError(ValueError):
    """A prompt the weight syntax cannot read; `field` names the request field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


_TOKENIZE = threading.Lock()


def tokenize(tokenizer: Any, text: str, **kwargs: Any) -> Any:
    """`tokenizer(text, **kwargs)`, one call at a time in this process. A fast (Rust-backed)
    tokenizer sets its padding and truncation on itself for every call, so two generations
    sharing one pipeline in two threads would otherwise get each other's padding."""
    with _TOKENIZE:
        return tokenizer(text, **kwargs)


def parse_weights(text: str, field: str = "prompt") -> list[tuple[str, float]]:
    """(text, weight) runs of a prompt; ("BREAK", -1) where BREAK stands. Adjacent runs of the
    same weight are merged. Follows A1111's parse_prompt_attention rules."""
    runs: list[list[Any]] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def scale(start: int, factor: float) -> None:
        for run in runs[start:]:
            run[1] *= factor

    for m in _TOKEN.finditer(text):
        piece, weight = m.group(0), m.group("weight")
        if piece.startswith("\\"):
            runs.append([piece[1:], 1.0])
        elif piece == "(":
            round_open.append(len(runs))
        elif piece == "[":
            square_open.append(len(runs))
        elif weight is not None and round_open:
            try:
                factor = float(weight)
            except ValueError:
                raise PromptSyntaxError(
                    field, f"{weight!r} in {piece.strip()!r} is not a number (write (word:1.3))"
                ) from None
            scale(round_open.pop(), factor)
        elif piece == ")" and round_open:
            scale(round_open.pop(), ROUND)
        elif piece == "]" and square_open:
            scale(square_open.pop(), SQUARE)
        else:
            for i, part in enumerate(_BREAK.split(piece)):
                if i > 0:
                    runs.append(["BREAK", -1.0])
                runs.append([part, 1.0])
    for start in round_open:
        scale(start, ROUND)
    for start in square_open:
        scale(start, SQUARE)
    if not runs:
        runs = [["", 1.0]]
    merged: list[list[Any]] = [runs[0]]
    for run in runs[1:]:
        if run[1] == merged[-1][1] and run[1] != -1.0:
            merged[-1][0] += run[0]
        else:
            merged.append(run)
    return [(str(t), float(w)) for t, w in merged]


@dataclass
class Chunk:
    ids: list[int] = field(default_factory=list)  # without start/end tokens
    weights: list[float] = field(default_factory=list)


def chunks(tokenizer: Any, text: str, field: str = "prompt") -> list[Chunk]:
    """The prompt's tokens and weights cut into chunks of context − 2 (see the module text)."""
    size = int(tokenizer.model_max_length) - 2
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    if comma == tokenizer.unk_token_id:
        comma = None  # a vocabulary without the word ","
    out: list[Chunk] = []
    current = Chunk()
    last_comma = -1

    def next_chunk() -> None:
        nonlocal current, last_comma
        last_comma = -1
        out.append(current)
        current = Chunk()

    for text_run, weight in parse_weights(text, field):
        if text_run == "BREAK" and weight == -1:
            next_chunk()
            continue
        ids = tokenize(tokenizer, text_run, add_special_tokens=False, truncation=False).input_ids
        for token in ids:
            if token == comma:
                last_comma = len(current.ids)
            elif (
                len(current.ids) == size
                and last_comma != -1
                and len(current.ids) - last_comma <= COMMA_BACKTRACK
            ):  # move the words after the last comma to the next chunk
                cut = last_comma + 1
                moved = Chunk(current.ids[cut:], current.weights[cut:])
                current = Chunk(current.ids[:cut], current.weights[:cut])
                next_chunk()
                current = moved
            if len(current.ids) == size:
                next_chunk()
            current.ids.append(token)
            current.weights.append(weight)
    if current.ids or not out:
        next_chunk()
    if len(out) > MAX_CHUNKS:
        raise PromptSyntaxError(
            field,
            f"{field} needs {len(out)} chunks of {size} tokens; at most {MAX_CHUNKS} are "
            "encoded: shorten it",
        )
    return out


def is_plain(tokenizer: Any, text: str) -> bool:
    """No weights, no BREAK, no escapes, and it fits the context: diffusers' encoding."""
    runs = parse_weights(text)
    if len(runs) != 1 or runs[0][1] != 1.0 or runs[0][0] != text:
        return False
    return len(tokenize(tokenizer, text, truncation=False).input_ids) <= int(
        tokenizer.model_max_length
    )


@dataclass
class EncodedPrompt:
    embeds: torch.Tensor  # (1, L, D), L a multiple of the context length
    ids: list[int]  # the prompt's token ids (start/end/padding left out)
    tokens: list[str]  # the same tokens as text
    positions: list[int]  # where each token sits in `embeds` (attention maps read these)
    weights: list[float]  # each token's weight


def apply_weights(z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A1111's emphasis ("Original"): each token's state times its weight, then the chunk
    rescaled to its unweighted mean. Where that mean is numerically zero (an encoder whose
    final layer norm has no bias, such as a randomly initialised one) the ratio would be noise,
    so the rescaling is left out there."""
    mean = z.mean()
    weighted = z * weights.to(z.dtype)[None, :, None]
    new_mean = weighted.mean()
    scale = z.abs().mean()
    if abs(float(mean)) > 1e-4 * float(scale) and abs(float(new_mean)) > 1e-4 * float(scale):
        weighted = weighted * (mean / new_mean)
    return weighted


@torch.no_grad()
def encode_weighted(
    pipe: Any, text: str, field: str = "prompt", clip_skip: int = 1
) -> EncodedPrompt:
    """The conditioning of `text` as A1111 computes it (see the module text)."""
    from difflab.diffusion.embeddings import convert
    from difflab.diffusion.pipeline import encode_text, text_states

    text = convert(pipe, text)  # a loaded embedding's name -> its vectors' tokens
    tok = pipe.tokenizer
    context = int(tok.model_max_length)
    decode = tok.decode
    if is_plain(tok, text):
        ids = tokenize(tok, text, truncation=False).input_ids[1:-1]
        words = [decode([i]).strip() or "?" for i in ids]
        embeds = encode_text(pipe, text, field, clip_skip)
        return EncodedPrompt(embeds, ids, words, list(range(1, len(ids) + 1)), [1.0] * len(ids))
    parts, all_ids, tokens, positions, weights = [], [], [], [], []
    device = pipe.text_encoder.device
    start, end = tok.bos_token_id, tok.eos_token_id
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else end
    for k, chunk in enumerate(chunks(tok, text, field)):
        pad = context - 2 - len(chunk.ids)
        # one end token, then padding (SD-1.x pads with the end token itself)
        ids = torch.tensor([[start, *chunk.ids, end, *([pad_id] * pad)]], device=device)
        w = torch.tensor([1.0, *chunk.weights, *([1.0] * (pad + 1))], device=device)
        parts.append(apply_weights(text_states(pipe.text_encoder, ids, clip_skip), w))
        for j, (i, wt) in enumerate(zip(chunk.ids, chunk.weights, strict=True)):
            all_ids.append(i)
            tokens.append(decode([i]).strip() or "?")
            positions.append(k * context + 1 + j)
            weights.append(round(wt, 4))
    return EncodedPrompt(torch.cat(parts, dim=1), all_ids, tokens, positions, weights)


def same_length(
    a: torch.Tensor, b: torch.Tensor, empty: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad the shorter of two (1, L, D) conditionings with `empty` chunks (the encoding of an
    empty prompt), as A1111 does, so the guidance batch can be stacked."""
    while a.shape[1] < b.shape[1]:
        a = torch.cat([a, empty], dim=1)
    while b.shape[1] < a.shape[1]:
        b = torch.cat([b, empty], dim=1)
    return a, b


__all__ = [
    "MAX_CHUNKS",
    "apply_weights",
    "EncodedPrompt",
    "PromptSyntaxError",
    "chunks",
    "Conditioning",
    "encode_pair",
    "encode_scheduled",
    "encode_weighted",
    "is_plain",
    "parse_weights",
    "same_length",
]


def encode_pair(
    pipe: Any, prompt: str, negative_prompt: str, clip_skip: int = 1
) -> tuple[EncodedPrompt, EncodedPrompt]:
    """The prompt's and the negative prompt's conditionings, padded to the same length."""
    from difflab.diffusion.pipeline import encode_text

    cond = encode_weighted(pipe, prompt, "prompt", clip_skip)
    uncond = encode_weighted(pipe, negative_prompt, "negative_prompt", clip_skip)
    if cond.embeds.shape[1] != uncond.embeds.shape[1]:
        empty = encode_text(pipe, "", "negative_prompt", clip_skip)
        cond.embeds, uncond.embeds = same_length(cond.embeds, uncond.embeds, empty)
    return cond, uncond


@dataclass
class Conditioning:
    """The prompt's and negative prompt's conditionings over a run: one entry per stretch of
    steps with the same texts (prompt editing and alternation, prompt_schedule.py), every
    entry padded to one length. A prompt that does not change has a single entry."""

    ends: list[int]  # entry k conditions steps up to ends[k] (0-based step <= ends[k])
    texts: list[str]  # the prompt text of each entry
    cond: list[EncodedPrompt]
    uncond: list[EncodedPrompt]

    def at(self, step: int) -> int:
        """The entry that conditions 0-based step `step`."""
        for k, end in enumerate(self.ends):
            if step <= end:
                return k
        return len(self.ends) - 1

    def context(self, k: int, batch: int, cfg: bool) -> torch.Tensor:
        """(2B or B, L, D): [unconditional, conditional] rows of entry k for the U-Net."""
        cond = self.cond[k].embeds.repeat(batch, 1, 1)
        if not cfg:
            return cond
        return torch.cat([self.uncond[k].embeds.repeat(batch, 1, 1), cond])


def encode_scheduled(
    pipe: Any, prompt: str, negative_prompt: str, steps: int, clip_skip: int = 1
) -> Conditioning:
    """Both prompts' schedules over `steps` sampling steps, each distinct text encoded once."""
    from difflab.diffusion.pipeline import encode_text
    from difflab.diffusion.prompt_schedule import active, is_scheduled, schedule

    if not is_scheduled(prompt) and not is_scheduled(negative_prompt):
        plain, negative = encode_pair(pipe, prompt, negative_prompt, clip_skip)
        return Conditioning([steps], [prompt], [plain], [negative])
    pos, neg = schedule(prompt, steps), schedule(negative_prompt, steps)
    ends = sorted({e for e, _ in pos} | {e for e, _ in neg})
    cache: dict[tuple[str, str], EncodedPrompt] = {}

    def encoded(text: str, field: str) -> EncodedPrompt:
        if (text, field) not in cache:
            cache[text, field] = encode_weighted(pipe, text, field, clip_skip)
        return cache[text, field]

    texts = [pos[active(pos, e)][1] for e in ends]
    cond = [encoded(t, "prompt") for t in texts]
    uncond = [encoded(neg[active(neg, e)][1], "negative_prompt") for e in ends]
    longest = max(p.embeds.shape[1] for p in (*cond, *uncond))
    empty = encode_text(pipe, "", "negative_prompt", clip_skip)
    for p in {id(p): p for p in (*cond, *uncond)}.values():
        while p.embeds.shape[1] < longest:
            p.embeds = torch.cat([p.embeds, empty], dim=1)
    return Conditioning(ends, texts, cond, uncond)
