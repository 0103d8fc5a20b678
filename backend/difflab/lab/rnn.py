"""`lab.rnn`: a recurrent network on a small sequence task, with its hidden-state trajectory.

A recurrent cell reads a sequence one step at a time and carries a hidden state:
    plain RNN: h_t = tanh(W_x·x_t + W_h·h_{t-1} + b)
    LSTM:      gates (input, forget, output) decide what the cell state c_t keeps and shows
    GRU:       an update gate mixes h_{t-1} with a candidate state; a reset gate decides how
               much of h_{t-1} the candidate sees
The same weights are used at every step, so the network handles any length; gradients flow
back through all steps (back-propagation through time), and in the plain RNN they tend to
vanish over long spans — which the gates of the LSTM and GRU counter.

Tasks:
- sine: predict the next value of a noisy sine wave (random frequency and phase) from the
  values so far; mean squared error. A "repeat the last value" baseline is reported.
- binary_sum: read a sequence of bits (with optional noise on the inputs) and output, at every
  step, how many ones have been seen; cross-entropy over the counts 0..L.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from difflab.lab.common import emit, heatmap_artifact, line_artifact, scatter_artifact
from difflab.lab.nn import NNCommon, epoch_tag, epoch_tag_zh, fit, make_optimizer
from difflab.runtime import KindSpec, RunContext, Sink

Cell = Literal["rnn", "lstm", "gru"]
Task = Literal["sine", "binary_sum"]


class Params(NNCommon):
    """A recurrent network (RNN, LSTM or GRU cell) on a generated sequence task."""

    model_config = ConfigDict(extra="forbid")

    task: Task = Field(
        "sine",
        description="sine: predict the next value of a noisy sine; binary_sum: count the ones "
        "seen so far in a bit sequence.",
    )
    cell: Cell = Field("gru", description="Recurrent cell: rnn (tanh), lstm or gru.")
    hidden_size: int = Field(32, ge=1, le=512, description="Units in the hidden state h_t.")
    num_layers: int = Field(1, ge=1, le=3, description="Stacked recurrent layers.")
    seq_len: int = Field(20, ge=4, le=200, description="Steps per sequence.")
    n_sequences: int = Field(
        1000, ge=20, le=20_000, description="Sequences generated (training and validation)."
    )
    noise: float = Field(
        0.05, ge=0.0, le=1.0, description="Standard deviation of Gaussian noise on the inputs."
    )
    val_fraction: float = Field(
        0.25, ge=0.05, le=0.5, description="Share of the sequences held out for validation."
    )
    probe_index: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Validation sequence whose predictions and hidden states are drawn (taken "
        "modulo the number of validation sequences).",
    )
    artifact_every: int = Field(
        5, ge=1, le=5000, description="Epochs between prediction and hidden-state artifacts."
    )
    epochs: int = Field(30, ge=1, le=5000, description="Passes over the training set.")


def make_sequences(
    task: Task, n: int, length: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (n, L, 1) float32, targets (n, L) and a group id per sequence (for colouring).

    sine: x_t = sin(ω·t + φ) + noise for t = 0..L, ω ~ U(0.2, 0.6) rad/step, φ ~ U(0, 2π);
          inputs x_0..x_{L-1}, targets x_1..x_L (the next observed value); group = ω tercile.
    binary_sum: bits b_t ~ Bernoulli(½); inputs b_t + noise; targets Σ_{s≤t} b_s (int64);
          group = the final count.
    """
    rng = np.random.default_rng(seed)
    if task == "sine":
        omega = rng.uniform(0.2, 0.6, size=(n, 1))
        phi = rng.uniform(0.0, 2 * np.pi, size=(n, 1))
        t = np.arange(length + 1)[None, :]
        x = np.sin(omega * t + phi) + rng.normal(0.0, noise, size=(n, length + 1))
        group = np.digitize(omega[:, 0], [0.2 + 0.4 / 3, 0.2 + 0.8 / 3])
        return x[:, :-1, None].astype(np.float32), x[:, 1:].astype(np.float32), group
    bits = rng.integers(0, 2, size=(n, length))
    inputs = bits + rng.normal(0.0, noise, size=(n, length))
    counts = np.cumsum(bits, axis=1)
    return inputs[:, :, None].astype(np.float32), counts.astype(np.int64), counts[:, -1]


class SequenceModel(nn.Module):
    """A torch.nn recurrent layer and a linear read-out applied at every step."""

    def __init__(self, cell: Cell, hidden: int, layers: int, dropout: float, n_out: int) -> None:
        super().__init__()
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        # torch applies `dropout` between stacked layers; one more dropout before the read-out
        self.rnn = kind(
            1, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, 1) -> outputs (B, L, n_out) and the top layer's hidden states (B, L, H)."""
        h, _ = self.rnn(x)
        return self.out(self.drop(h)), h


def pca_2d(H: np.ndarray) -> np.ndarray:
    """Project rows of H onto their first two principal directions (centered SVD)."""
    Hc = H - H.mean(axis=0)
    _, _, Vt = np.linalg.svd(Hc, full_matrices=False)
    P = Hc @ Vt[:2].T
    return np.pad(P, ((0, 0), (0, 2 - P.shape[1])))  # one hidden unit: pad the second axis


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    X, Y, group = make_sequences(p.task, p.n_sequences, p.seq_len, p.noise, p.seed)
    n_val = max(1, int(round(p.val_fraction * len(X))))
    order = np.random.default_rng(p.seed).permutation(len(X))
    va, tr = order[:n_val], order[n_val:]
    classify = p.task == "binary_sum"
    Xtr = torch.tensor(X[tr], device=device)
    Xva = torch.tensor(X[va], device=device)
    Ytr = torch.tensor(Y[tr], device=device)
    Yva = torch.tensor(Y[va], device=device)
    n_out = p.seq_len + 1 if classify else 1
    model = SequenceModel(p.cell, p.hidden_size, p.num_layers, p.dropout, n_out).to(device)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)

    def loss_of(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if classify:  # one cross-entropy term per step: (B·L, L+1) against (B·L,)
            return F.cross_entropy(out.reshape(-1, n_out), y.reshape(-1))
        return F.mse_loss(out.squeeze(-1), y)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        return loss_of(model(Xtr[idx])[0], Ytr[idx])

    def evaluate() -> dict[str, float]:
        out, _ = model(Xva)
        metrics = {"val/loss": float(loss_of(out, Yva))}
        if classify:
            pred = out.argmax(-1)
            metrics["val/accuracy"] = float((pred[:, -1] == Yva[:, -1]).float().mean())
            metrics["val/step_accuracy"] = float((pred == Yva).float().mean())
        else:
            metrics["val/mse"] = metrics["val/loss"]
        return metrics

    probe = p.probe_index % len(va)

    def draw(epoch: int | None, step: int) -> None:
        tag, when = epoch_tag(epoch)
        when_zh = epoch_tag_zh(epoch)
        out, h = model(Xva[probe : probe + 1])
        t = list(range(1, p.seq_len + 1))
        if classify:
            series = {
                "bits": (t, X[va[probe], :, 0].tolist()),
                "true count": (t, Y[va[probe]].tolist()),
                "predicted count": (t, out[0].argmax(-1).cpu().tolist()),
            }
        else:
            series = {
                "input x_t": (list(range(p.seq_len)), X[va[probe], :, 0].tolist()),
                "target x_t+1": (t, Y[va[probe]].tolist()),
                "prediction": (t, out[0, :, 0].cpu().tolist()),
            }
        emit(
            sink,
            f"prediction/{tag}.json",
            line_artifact(series, f"probe sequence, {when}", title_zh=f"探针序列，{when_zh}"),
            view="line",
            step=step,
            meta={"epoch": epoch},
        )
        H = h[0].cpu().numpy()  # (L, H)
        units = min(H.shape[1], 32)
        emit(
            sink,
            f"hidden/{tag}.json",
            heatmap_artifact(
                H[:, :units].T,
                [str(s) for s in range(1, p.seq_len + 1)],
                [f"h{j}" for j in range(units)],
                f"hidden state h_t of the probe sequence (units × steps), {when}",
                title_zh=f"探针序列的隐状态 h_t（隐藏单元 × 时间步），{when_zh}",
            ),
            view="heatmap",
            step=step,
            meta={"epoch": epoch},
        )
        P = pca_2d(H)
        emit(
            sink,
            f"trajectory/{tag}.json",
            line_artifact(
                {"h_t (PCA)": (P[:, 0].tolist(), P[:, 1].tolist())},
                f"hidden-state trajectory of the probe in its first two principal "
                f"components, {when}",
                title_zh=f"探针序列的隐状态轨迹（画在前两个主成分上），{when_zh}",
            ),
            view="line",
            step=step,
            meta={
                "epoch": epoch,
                "x_title": "PC1",
                "x_title_zh": "第一主成分 PC1",
                "y_title": "PC2",
                "y_title_zh": "第二主成分 PC2",
            },
        )

    def on_epoch(epoch: int, step: int) -> None:
        if epoch % p.artifact_every == 0 or epoch == 1:
            draw(epoch, step)

    result = fit(
        model, optimizer, p, len(Xtr), batch_loss, evaluate, sink, on_epoch=on_epoch, device=device
    )
    with torch.no_grad():
        final = evaluate()
        draw(None, result.steps)
        # final hidden state of every validation sequence, projected to 2-D
        _, h = model(Xva)
        P = pca_2d(h[:, -1].cpu().numpy())
        g = group[va]
        names = (
            [str(c) for c in range(p.seq_len + 1)] if classify else ["slow ω", "medium ω", "fast ω"]
        )
        emit(
            sink,
            "final_states.json",
            scatter_artifact(
                P,
                g,
                names,
                "final hidden state of each validation sequence "
                "(PCA), coloured by " + ("count" if classify else "frequency"),
                title_zh="每条验证序列的最终隐状态（PCA），按"
                + ("计数" if classify else "频率")
                + "着色",
            ),
            view="scatter",
            step=result.steps,
        )
    out: dict[str, Any] = {
        "epochs": result.epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        **{k.replace("/", "_"): v for k, v in final.items()},
    }
    if not classify:  # the naive forecast x_{t+1} ≈ x_t, for comparison
        out["baseline_mse"] = float(((Xva[:, :, 0] - Yva) ** 2).mean())
    return out


SPEC = KindSpec(
    name="lab.rnn",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Recurrent network",
    description="An RNN, LSTM or GRU on a sequence task (next value of a noisy sine, or the "
    "running count of ones); predictions and hidden-state trajectories.",
)
