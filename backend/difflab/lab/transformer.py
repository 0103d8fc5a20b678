"""`lab.transformer`: a small decoder-only transformer on a toy sequence task.

The model reads "x_1 … x_L | y_1 … y_L" one token at a time and learns to predict the next
token; the loss counts only the answer y, which is x copied, reversed or sorted. Nothing in
the model knows the task — attention has to find, for each answer position, the input
position that holds the right digit, and the attention maps show which one it found.

Scaled dot-product attention, per head, with queries Q, keys K and values V (rows = tokens):

    A = softmax(Q·Kᵀ / √d_k + M),   out = A·V

M is the causal mask: 0 where the key is at or before the query, -∞ after it, so after the
softmax a token gives no weight to tokens that come later (row i of A sums to 1 over keys 0..i).
The attention artifacts hold A, and beside it the scores Q·Kᵀ/√d_k (null where masked).
Each head has its own projections of the same input into a d_model/n_heads space; the heads'
outputs are concatenated and projected back to d_model. Attention alone ignores order, so a
fixed sinusoidal code of the position is added to each token's embedding:

    PE[pos, 2i] = sin(pos / 10000^(2i/d)),   PE[pos, 2i+1] = cos(pos / 10000^(2i/d))

Each block is pre-norm: x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field, model_validator
from torch import nn
from torch.nn import functional as F

from difflab.lab.common import emit, heatmap_artifact
from difflab.lab.nn import NNCommon, epoch_tag, epoch_tag_zh, fit, make_optimizer
from difflab.runtime import KindSpec, RunContext, Sink

Task = Literal["copy", "reverse", "sort"]


class Params(NNCommon):
    """A decoder-only transformer learning to copy, reverse or sort a digit sequence."""

    model_config = ConfigDict(extra="forbid")

    task: Task = Field("copy", description="What the answer is: copy, reverse or sort the input.")
    seq_len: int = Field(6, ge=2, le=16, description="Digits in the input (and in the answer).")
    n_symbols: int = Field(10, ge=2, le=10, description="Distinct digits: 0..n_symbols-1.")
    d_model: int = Field(
        32, ge=8, le=256, description="Width of the token vectors (divisible by n_heads)."
    )
    n_heads: int = Field(2, ge=1, le=8, description="Attention heads per layer.")
    n_layers: int = Field(2, ge=1, le=6, description="Transformer blocks.")
    n_train: int = Field(3000, ge=100, le=100_000, description="Random training sequences.")
    n_val: int = Field(300, ge=20, le=10_000, description="Random validation sequences.")
    probe_index: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Validation sequence whose attention maps are drawn (taken modulo n_val).",
    )
    attention_every: int = Field(
        5, ge=1, le=5000, description="Epochs between attention-map artifacts."
    )
    lr: float = Field(3e-3, gt=0.0, le=10.0, description="Learning rate (step size).")
    batch_size: int = Field(64, ge=1, le=4096, description="Sequences per gradient step.")
    epochs: int = Field(10, ge=1, le=5000, description="Passes over the training set.")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> Params:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )
        return self


def make_sequences(task: Task, n: int, length: int, n_symbols: int, seed: int) -> torch.Tensor:
    """(n, 2L+1) int64 token rows "x_1 … x_L SEP y_1 … y_L"; SEP is the token n_symbols."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, n_symbols, size=(n, length))
    y = {"copy": x, "reverse": x[:, ::-1], "sort": np.sort(x, axis=1)}[task]
    sep = np.full((n, 1), n_symbols)
    return torch.tensor(np.concatenate([x, sep, y], axis=1), dtype=torch.long)


def causal_mask(T: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(T, T) bool, True where query i may attend to key j (j ≤ i): the lower triangle."""
    return torch.tril(torch.ones(T, T, dtype=torch.bool, device=device))


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float = 0.0, training: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Causal scaled dot-product attention. q, k, v: (B, h, T, d_k).
    Returns the output (B, h, T, d_k), the weights A (B, h, T, T) and the scores
    Q·Kᵀ/√d_k + M (B, h, T, T) they are the softmax of: -inf on masked (later) keys."""
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (B, h, T, T): query·key similarity
    scores = scores.masked_fill(~causal_mask(q.shape[-2], q.device), float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # each row: a distribution over allowed keys
    return F.dropout(weights, dropout, training) @ v, weights, scores


def sinusoidal_positions(n_positions: int, d: int) -> torch.Tensor:
    """(n_positions, d): PE[pos, 2i] = sin(pos·ω_i), PE[pos, 2i+1] = cos(pos·ω_i),
    ω_i = 10000^(-2i/d). Each pair (sin, cos) turns at its own speed, from fast to slow."""
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    omega = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32) / d)
    pe = torch.zeros(n_positions, d)
    pe[:, 0::2] = torch.sin(pos * omega)
    pe[:, 1::2] = torch.cos(pos * omega)[:, : d // 2]
    return pe


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.h, self.d_k, self.dropout = n_heads, d_model // n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)  # W_Q, W_K, W_V of all heads at once
        self.proj = nn.Linear(d_model, d_model)  # W_O, after concatenating the heads

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, D) -> the output (B, T, D), each head's weights and scores (B, h, T, T)."""
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)  # (B, T, D) each
        # split D into h heads of d_k: (B, T, D) -> (B, h, T, d_k)
        q, k, v = (a.view(B, T, self.h, self.d_k).transpose(1, 2) for a in (q, k, v))
        out, weights, scores = attention(q, k, v, self.dropout, self.training)
        out = out.transpose(1, 2).reshape(B, T, D)  # concatenate the heads
        return self.proj(out), weights, scores


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model),
            nn.GELU(),
            nn.Linear(4 * d_model, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, weights, scores = self.attn(self.ln1(x))
        x = x + a  # residual: the block adds to the token vectors
        return x + self.mlp(self.ln2(x)), weights, scores


class TinyGPT(nn.Module):
    """Token embedding + sinusoidal positions → blocks → LayerNorm → next-token logits."""

    def __init__(
        self, vocab: int, max_len: int, d_model: int, n_heads: int, n_layers: int, dropout: float
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.register_buffer("pe", sinusoidal_positions(max_len, d_model), persistent=False)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(
        self, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """(B, T) -> logits (B, T, vocab) and each layer's attention (weights, scores), each
        (B, h, T, T)."""
        pe = self.pe
        assert isinstance(pe, torch.Tensor)
        x = self.drop(self.tok(tokens) + pe[: tokens.shape[1]])
        maps = []
        for block in self.blocks:
            x, w, s = block(x)
            maps.append((w, s))
        return self.head(self.ln_f(x)), maps


@torch.no_grad()
def generate_answers(model: TinyGPT, seqs: torch.Tensor, length: int) -> torch.Tensor:
    """Greedy decoding: feed "x_1 … x_L SEP", append the most likely token L times."""
    out = seqs[:, : length + 1]
    for _ in range(length):
        logits, _ = model(out)
        out = torch.cat([out, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return out[:, length + 1 :]


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    L, sep = p.seq_len, p.n_symbols
    train = make_sequences(p.task, p.n_train, L, p.n_symbols, p.seed).to(device)
    val = make_sequences(p.task, p.n_val, L, p.n_symbols, p.seed + 1).to(device)
    T = 2 * L  # the model sees all tokens but the last
    model = TinyGPT(p.n_symbols + 1, T, p.d_model, p.n_heads, p.n_layers, p.dropout).to(device)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)

    def answer_loss(seqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy of the answer tokens (targets L+1..2L, read at inputs L..2L-1)."""
        logits, _ = model(seqs[:, :-1])
        answer_logits = logits[:, L:]  # (B, L, vocab): predictions at SEP, y_1, …, y_{L-1}
        targets = seqs[:, L + 1 :]
        loss = F.cross_entropy(answer_logits.reshape(-1, sep + 1), targets.reshape(-1))
        return loss, (answer_logits.argmax(-1) == targets).float().mean()

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        return answer_loss(train[idx])[0]

    def evaluate() -> dict[str, float]:
        loss, acc = answer_loss(val)
        exact = (generate_answers(model, val, L) == val[:, L + 1 :]).all(1).float().mean()
        return {
            "val/loss": float(loss),
            "val/accuracy": float(acc),
            "val/seq_accuracy": float(exact),
        }

    probe = val[p.probe_index % p.n_val : p.probe_index % p.n_val + 1, :-1]
    labels = [("|" if int(t) == sep else str(int(t))) for t in probe[0]]
    pe = sinusoidal_positions(T, p.d_model).numpy()
    emit(
        sink,
        "positional_encoding.json",
        heatmap_artifact(
            pe,
            [f"d{i}" for i in range(p.d_model)],
            [str(i) for i in range(T)],
            "sinusoidal positional encoding (positions × dimensions)",
            title_zh="正弦位置编码（位置 × 维度）",
        ),
        view="heatmap",
    )
    allowed = causal_mask(T).numpy()  # (T, T) bool
    mask = allowed.astype(np.float32)
    emit(
        sink,
        "causal_mask.json",
        heatmap_artifact(
            mask,
            labels,
            labels,
            "causal mask: 1 where a query (row) may attend to a key (column)",
            title_zh="因果掩码：查询（行）可以关注键（列）的位置为 1",
        ),
        view="heatmap",
    )

    def draw(epoch: int | None, step: int) -> None:
        """Each head's weights A of the probe as a heatmap, with its scores Q·Kᵀ/√d_k beside
        (null where masked): A = softmax of each row's scores over the allowed keys."""
        tag, when = epoch_tag(epoch)
        when_zh = epoch_tag_zh(epoch)
        _, maps = model(probe)
        for layer, (w, s) in enumerate(maps, start=1):
            for head in range(p.n_heads):
                art = heatmap_artifact(
                    w[0, head].cpu().numpy(),
                    labels,
                    labels,
                    f"layer {layer}, head {head + 1}: attention of each "
                    f"query (row) over the keys (columns), {when}",
                    title_zh=f"第 {layer} 层第 {head + 1} 个头：每个查询（行）对各个键（列）的"
                    f"注意力，{when_zh}",
                )
                art["scores"] = [
                    [round(float(v), 5) if ok else None for v, ok in zip(row, ok_row, strict=True)]
                    for row, ok_row in zip(s[0, head].cpu().numpy(), allowed, strict=True)
                ]
                emit(
                    sink,
                    f"attention/{tag}/layer{layer}_head{head + 1}.json",
                    art,
                    view="heatmap",
                    step=step,
                    meta={"epoch": epoch, "layer": layer, "head": head + 1},
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
        answers = generate_answers(model, val[:5], L)
    examples = [
        {
            "input": val[i, :L].tolist(),
            "target": val[i, L + 1 :].tolist(),
            "output": answers[i].tolist(),
        }
        for i in range(len(answers))
    ]
    return {
        "epochs": result.epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        "n_parameters": sum(q.numel() for q in model.parameters()),
        "examples": examples,
        **{k.replace("/", "_"): v for k, v in final.items()},
    }


SPEC = KindSpec(
    name="lab.transformer",
    params=Params,
    run=run,
    queue="gpu",
    admin_only=False,
    category="lab",
    title="Transformer (decoder-only)",
    description="Masked multi-head self-attention written out, on copying, reversing or "
    "sorting digits; attention maps per head, the positional encodings, the causal mask.",
)
