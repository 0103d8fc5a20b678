"""`lab.seq2seq`: an encoder–decoder transformer with cross-attention on variable-length digits.

The encoder reads the source sequence (digits, or number words spelled letter by letter) and
turns each token into a vector that has seen the whole source. The decoder writes the target
one token at a time; each of its blocks has three parts (pre-norm, each added to x):

    x + SelfAttention(LN(x), causal mask)       the output so far (no peeking ahead)
    x + CrossAttention(LN(x), memory)           queries from the decoder, keys and values
                                                 from the encoder's output ("memory")
    x + MLP(LN(x))

Cross-attention is A = softmax(Q·Kᵀ/√d_k + M)·V with one row per output token and one column
per source token: row i says where in the source the decoder looks while writing token i. For
reversal the maps become an anti-diagonal; in digits_to_words the letters of each word look at
the digit they spell (near a word's end, some heads already at the next one); in
words_to_digits each digit looks at the letters that tell its word apart.

Sources of different lengths share a batch by padding with a PAD token. The padding mask M is
-∞ at PAD keys, so after the softmax no query gives them weight (each row sums to 1 over the
real source tokens): the output for the real tokens is the same however much padding follows
and whatever the PAD vectors hold. The encoder's self-attention gets the same mask.

Training uses teacher forcing: the decoder reads "BOS y_1 … y_n" and is scored on predicting
"y_1 … y_n EOS", all positions at once (cross-entropy over the real tokens, PAD ignored). The
shown outputs are decoded greedily: start from BOS, append the most likely token, stop at EOS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field, model_validator
from torch import nn
from torch.nn import functional as F

from difflab.lab.common import emit, heatmap_artifact, one_thread
from difflab.lab.nn import NNCommon, epoch_tag, epoch_tag_zh, fit, make_optimizer
from difflab.lab.transformer import causal_mask, sinusoidal_positions
from difflab.runtime import KindSpec, RunContext, Sink

Task = Literal["reverse", "digits_to_words", "words_to_digits"]

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")
EXAMPLES_SHOWN = 12  # validation pairs written to the decoded-examples text


class Params(NNCommon):
    """An encoder–decoder transformer reversing digits or translating them to and from words."""

    model_config = ConfigDict(extra="forbid")

    task: Task = Field(
        "reverse",
        description="reverse: the digits backwards; digits_to_words: '3 1 4' → 'three one "
        "four' spelled letter by letter; words_to_digits: the other way round.",
    )
    min_len: int = Field(2, ge=1, le=12, description="Fewest digits in a sequence.")
    max_len: int = Field(6, ge=1, le=12, description="Most digits in a sequence.")
    n_symbols: int = Field(10, ge=2, le=10, description="Distinct digits: 0..n_symbols-1.")
    d_model: int = Field(
        32, ge=8, le=256, description="Width of the token vectors (divisible by n_heads)."
    )
    n_heads: int = Field(2, ge=1, le=8, description="Attention heads per attention layer.")
    n_layers: int = Field(
        2, ge=1, le=6, description="Blocks in the encoder, and as many in the decoder."
    )
    n_train: int = Field(2000, ge=100, le=100_000, description="Random training pairs.")
    n_val: int = Field(300, ge=20, le=10_000, description="Random validation pairs.")
    probe_index: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Validation pair whose cross-attention maps are drawn (taken modulo n_val).",
    )
    attention_every: int = Field(
        2, ge=1, le=5000, description="Epochs between attention-map and decoded-example artifacts."
    )
    lr: float = Field(3e-3, gt=0.0, le=10.0, description="Learning rate (step size).")
    batch_size: int = Field(64, ge=1, le=4096, description="Pairs per gradient step.")
    epochs: int = Field(8, ge=1, le=5000, description="Passes over the training set.")

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )
        if self.min_len > self.max_len:
            raise ValueError(f"min_len ({self.min_len}) must not exceed max_len ({self.max_len})")
        return self


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Vocab:
    """Token strings by id: PAD, BOS, EOS, then the symbols of the task."""

    tokens: tuple[str, ...]

    def ids(self, symbols: list[str]) -> list[int]:
        index = {t: i for i, t in enumerate(self.tokens)}
        return [index[s] for s in symbols]

    def text(self, ids: list[int], spelled: bool) -> str:
        """Tokens up to the first EOS (PAD and BOS dropped), joined by spaces unless `spelled`."""
        out: list[str] = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.tokens[i])
        return "".join(out) if spelled else " ".join(out)


def make_vocab(task: Task, n_symbols: int) -> Vocab:
    """Digits 0..n_symbols-1, and for the translations the space and the letters they spell."""
    digits = [str(d) for d in range(n_symbols)]
    if task == "reverse":
        return Vocab((*SPECIALS, *digits))
    letters = sorted(set("".join(WORDS[:n_symbols])))
    return Vocab((*SPECIALS, *digits, " ", *letters))


def pair_symbols(task: Task, digits: list[int]) -> tuple[list[str], list[str]]:
    """(source symbols, target symbols) of one digit sequence."""
    as_digits = [str(d) for d in digits]
    spelled = list(" ".join(WORDS[d] for d in digits))
    if task == "reverse":
        return as_digits, as_digits[::-1]
    if task == "digits_to_words":
        return as_digits, spelled
    return spelled, as_digits


@dataclass
class Pairs:
    """Padded token tensors of n pairs: src (n, S), decoder input "BOS y" and target "y EOS"
    (n, T), all filled with PAD after the real tokens."""

    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor

    def __len__(self) -> int:
        return len(self.src)

    def to(self, device: torch.device) -> Pairs:
        return Pairs(self.src.to(device), self.tgt_in.to(device), self.tgt_out.to(device))


def make_pairs(
    task: Task, vocab: Vocab, n: int, min_len: int, max_len: int, n_symbols: int, seed: int
) -> Pairs:
    """n random digit sequences of min_len..max_len digits, as padded (source, target) pairs."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    srcs, tgts = [], []
    for length in lengths:
        src, tgt = pair_symbols(task, rng.integers(0, n_symbols, size=int(length)).tolist())
        srcs.append(vocab.ids(src))
        tgts.append(vocab.ids(tgt))
    S = max(len(s) for s in srcs)
    T = max(len(t) for t in tgts) + 1  # room for BOS (input) or EOS (target)
    src_t = torch.full((n, S), PAD, dtype=torch.long)
    tgt_in = torch.full((n, T), PAD, dtype=torch.long)
    tgt_out = torch.full((n, T), PAD, dtype=torch.long)
    for i, (s, t) in enumerate(zip(srcs, tgts, strict=True)):
        src_t[i, : len(s)] = torch.tensor(s)
        tgt_in[i, : len(t) + 1] = torch.tensor([BOS, *t])
        tgt_out[i, : len(t) + 1] = torch.tensor([*t, EOS])
    return Pairs(src_t, tgt_in, tgt_out)


def max_lengths(task: Task, max_len: int, n_symbols: int) -> tuple[int, int]:
    """The longest source and target (in tokens, before BOS/EOS) the task can produce."""
    longest_word = max(len(w) for w in WORDS[:n_symbols])
    spelled = max_len * longest_word + max_len - 1
    return {
        "reverse": (max_len, max_len),
        "digits_to_words": (max_len, spelled),
        "words_to_digits": (spelled, max_len),
    }[task]


# --------------------------------------------------------------------------- the model


class DecoderLayer(nn.Module):
    """One pre-norm decoder block that also returns its cross-attention weights per head.

    The parameters carry the names of nn.TransformerDecoderLayer(norm_first=True, activation=
    "gelu", batch_first=True), so the two compute the same function from the same state dict;
    torch's layer asks its attention for no weights, this one asks for them per head.
    """

    def __init__(self, d_model: int, n_heads: int, dim_ff: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout, batch_first=True)
        self.multihead_attn = nn.MultiheadAttention(d_model, n_heads, dropout, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_ff)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor,
        tgt_key_padding_mask: torch.Tensor,
        memory_key_padding_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D), memory (B, S, D); masks True where attention is not allowed.
        Returns the new x and the cross-attention weights (B, h, T, S)."""
        h = self.norm1(x)
        a, _ = self.self_attn(
            h,
            h,
            h,
            attn_mask=tgt_mask,
            key_padding_mask=tgt_key_padding_mask,
            need_weights=False,
        )
        x = x + self.dropout1(a)
        h = self.norm2(x)
        a, weights = self.multihead_attn(
            h,  # queries: the decoder's tokens
            memory,  # keys: the encoded source tokens
            memory,  # values: the same
            key_padding_mask=memory_key_padding_mask,
            need_weights=True,
            average_attn_weights=False,  # one map per head
        )
        x = x + self.dropout2(a)
        x = x + self.dropout3(self.linear2(self.dropout(F.gelu(self.linear1(self.norm3(x))))))
        return x, weights


class Seq2SeqTransformer(nn.Module):
    """Embeddings + sinusoidal positions → encoder (torch's layers) → decoder → logits."""

    def __init__(
        self,
        vocab_size: int,
        max_src: int,
        max_tgt: int,
        d_model: int,
        n_heads: int,
        n_layers: int,
        dropout: float,
    ) -> None:
        super().__init__()
        dim_ff = 4 * d_model
        self.src_tok = nn.Embedding(vocab_size, d_model)
        self.tgt_tok = nn.Embedding(vocab_size, d_model)
        pe = sinusoidal_positions(max(max_src, max_tgt), d_model)
        self.register_buffer("pe", pe, persistent=False)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_ff, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, n_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.decoder = nn.ModuleList(
            DecoderLayer(d_model, n_heads, dim_ff, dropout) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def _positions(self, n: int) -> torch.Tensor:
        pe = self.pe
        assert isinstance(pe, torch.Tensor)
        return pe[:n]

    def encode(self, src: torch.Tensor, src_pad: torch.Tensor | None = None) -> torch.Tensor:
        """(B, S) tokens → memory (B, S, D). `src_pad` (B, S) is True at the keys to ignore;
        by default the PAD tokens."""
        if src_pad is None:
            src_pad = src == PAD
        x = self.drop(self.src_tok(src) + self._positions(src.shape[1]))
        return self.encoder(x, src_key_padding_mask=src_pad)

    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, src_pad: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, T) decoder input → logits (B, T, vocab) and each block's cross-attention
        weights (B, h, T, S)."""
        T = tgt_in.shape[1]
        not_allowed = ~causal_mask(T, tgt_in.device)  # torch's convention: True = masked
        x = self.drop(self.tgt_tok(tgt_in) + self._positions(T))
        maps = []
        for layer in self.decoder:
            x, w = layer(x, memory, not_allowed, tgt_in == PAD, src_pad)
            maps.append(w)
        return self.head(self.norm(x)), maps

    def forward(
        self, src: torch.Tensor, tgt_in: torch.Tensor, src_pad: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if src_pad is None:
            src_pad = src == PAD
        return self.decode(tgt_in, self.encode(src, src_pad), src_pad)


@torch.no_grad()
def greedy_decode(model: Seq2SeqTransformer, src: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, steps) tokens: from BOS, append the most likely next token; PAD after each EOS."""
    src_pad = src == PAD
    memory = model.encode(src, src_pad)
    out = torch.full((len(src), 1), BOS, dtype=torch.long, device=src.device)
    done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
    for _ in range(steps):
        logits, _ = model.decode(out, memory, src_pad)
        nxt = logits[:, -1].argmax(-1).masked_fill(done, PAD)
        out = torch.cat([out, nxt[:, None]], dim=1)
        done |= nxt == EOS
        if bool(done.all()):
            break
    return F.pad(out[:, 1:], (0, steps + 1 - out.shape[1]), value=PAD)


# --------------------------------------------------------------------------- the run


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    vocab = make_vocab(p.task, p.n_symbols)
    lengths = (p.min_len, p.max_len, p.n_symbols)
    train = make_pairs(p.task, vocab, p.n_train, *lengths, seed=p.seed).to(device)
    val = make_pairs(p.task, vocab, p.n_val, *lengths, seed=p.seed + 1).to(device)
    max_src, max_tgt = max_lengths(p.task, p.max_len, p.n_symbols)
    model = Seq2SeqTransformer(
        len(vocab.tokens), max_src, max_tgt + 1, p.d_model, p.n_heads, p.n_layers, p.dropout
    ).to(device)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)
    spelled_src = p.task == "words_to_digits"
    spelled_tgt = p.task == "digits_to_words"

    def teacher_forced(pairs: Pairs) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy over the real target tokens (EOS included, PAD ignored), and the share
        of them predicted right when the decoder reads the true prefix."""
        logits, _ = model(pairs.src, pairs.tgt_in)
        loss = F.cross_entropy(logits.transpose(1, 2), pairs.tgt_out, ignore_index=PAD)
        real = pairs.tgt_out != PAD
        hits = (logits.argmax(-1) == pairs.tgt_out) & real
        return loss, hits.sum() / real.sum()

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        return teacher_forced(Pairs(train.src[idx], train.tgt_in[idx], train.tgt_out[idx]))[0]

    def decoded(pairs: Pairs) -> torch.Tensor:
        return greedy_decode(model, pairs.src, pairs.tgt_out.shape[1])

    def evaluate() -> dict[str, float]:
        loss, token_acc = teacher_forced(val)
        exact = (decoded(val) == val.tgt_out).all(1).float().mean()
        return {
            "val/loss": float(loss),
            "val/token_accuracy": float(token_acc),
            "val/sequence_accuracy": float(exact),
        }

    i = p.probe_index % p.n_val
    probe = Pairs(val.src[i : i + 1], val.tgt_in[i : i + 1], val.tgt_out[i : i + 1])
    # columns: every source position of the padded batch, PAD ones included (they get 0)
    src_labels = [vocab.tokens[t] if t != PAD else "·" for t in probe.src[0].tolist()]
    src_labels = ["␣" if s == " " else s for s in src_labels]
    n_out = int((probe.tgt_out[0] != PAD).sum())  # rows: the real output tokens and EOS
    out_labels = [vocab.tokens[t] for t in probe.tgt_out[0, :n_out].tolist()]
    out_labels = ["␣" if s == " " else s for s in out_labels]

    def draw(epoch: int | None, step: int) -> None:
        tag, when = epoch_tag(epoch)
        when_zh = epoch_tag_zh(epoch)
        _, maps = model(probe.src, probe.tgt_in)
        for layer, w in enumerate(maps, start=1):
            for head in range(p.n_heads):
                art = heatmap_artifact(
                    w[0, head, :n_out].cpu().numpy(),
                    src_labels,
                    out_labels,
                    f"decoder layer {layer}, head {head + 1}: cross-attention of each "
                    f"output token (row) over the source tokens (columns; · = PAD), {when}",
                    title_zh=f"解码器第 {layer} 层第 {head + 1} 个头：每个输出词元（行）"
                    f"对源序列词元（列；· 为 PAD）的交叉注意力，{when_zh}",
                )
                # the heatmap reads its axis titles from the body or the meta
                art.update(x_title_zh="源序列词元", y_title_zh="输出词元")
                emit(
                    sink,
                    f"cross_attention/{tag}/layer{layer}_head{head + 1}.json",
                    art,
                    view="heatmap",
                    step=step,
                    meta={
                        "epoch": epoch,
                        "layer": layer,
                        "head": head + 1,
                        "x_title": "source token",
                        "y_title": "output token",
                    },
                )
        shown = Pairs(*(t[:EXAMPLES_SHOWN] for t in (val.src, val.tgt_in, val.tgt_out)))
        outputs = decoded(shown)
        lines = [f"greedy decoding of validation pairs, {when}", ""]
        for k in range(len(shown)):
            target = shown.tgt_out[k].tolist()
            ok = outputs[k].tolist() == target
            lines += [
                f"source:  {vocab.text(shown.src[k].tolist(), spelled_src)}",
                f"target:  {vocab.text(target, spelled_tgt)}",
                f"decoded: {vocab.text(outputs[k].tolist(), spelled_tgt)}  {'✓' if ok else '✗'}",
                "",
            ]
        sink.artifact(
            f"examples/{tag}.txt",
            "\n".join(lines),
            kind="text",
            step=step,
            meta={"view": "text", "epoch": epoch},
        )

    def on_epoch(epoch: int, step: int) -> None:
        if epoch % p.attention_every == 0 or epoch == 1:
            draw(epoch, step)

    result = fit(
        model,
        optimizer,
        p,
        len(train),
        batch_loss,
        evaluate,
        sink,
        on_epoch=on_epoch,
        device=device,
    )
    with torch.no_grad():
        final = evaluate()
        draw(None, result.steps)
    return {
        "epochs": result.epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        "n_parameters": sum(q.numel() for q in model.parameters()),
        "vocab": list(vocab.tokens),
        **{k.replace("/", "_"): v for k, v in final.items()},
    }


SPEC = KindSpec(
    name="lab.seq2seq",
    params=Params,
    run=run,
    queue="gpu",
    admin_only=False,
    category="lab",
    title="Transformer (encoder–decoder)",
    description="Cross-attention from the decoder to the encoded source, with a padding mask "
    "for variable lengths: reversing digits or translating them to and from number words; "
    "per-head cross-attention maps over training and greedily decoded examples.",
)
