"""Per-token cross-attention maps, as DAAM (Tang et al. 2023) computes them.

In each cross-attention layer (the U-Net's `attn2`) every latent pixel i attends over the
prompt tokens j with probabilities A[i, j] = softmax_j(q_i . k_j / sqrt(d)) per head. DAAM's
map of token j is A[:, j] reshaped to the layer's feature grid, upsampled to the image, and
aggregated over heads and layers. Only the conditional half of the classifier-free-guidance
batch is read: the unconditional half attends to the negative prompt.

How it is installed: a `CrossAttentionTap` wraps each attn2 layer's own processor once per
U-Net and always returns that processor's output unchanged, so recording never changes an
image. Only while a recorder is active in the current context (a ContextVar, so per thread)
does the tap also compute A from the same q and k projections. A pipeline shared by concurrent
generations therefore records for exactly the generation that asked.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention

_ACTIVE: ContextVar[AttentionRecorder | None] = ContextVar("difflab_attention", default=None)
_install_lock = threading.Lock()
_tapped: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()  # U-Nets already wrapped


class AttentionRecorder:
    """Collects head- and layer-averaged cross-attention probabilities for chosen steps.

    `cond` selects the conditional rows of the U-Net batch; `latent_size` is the latent grid
    (h, w) every layer's map is brought to before averaging (the finest U-Net resolution).
    """

    def __init__(self, latent_size: tuple[int, int], cond: slice) -> None:
        self.latent_size = latent_size
        self.cond = cond
        self.active = False  # True between begin_step() and end_step()
        self._sums: dict[int, torch.Tensor] = {}  # positions N -> (B, N, T) summed over layers
        self._layers = 0
        # per layer: the context its keys came from, that tensor's version and K^T * scale,
        # (B, heads, d, T). The prompt's context is the same tensor every step (another where
        # prompt editing switches it), so a layer projects its keys once per run, not per step.
        self._keys: dict[int, tuple[torch.Tensor, int, torch.Tensor]] = {}

    def begin_step(self) -> None:
        self.active, self._sums, self._layers = True, {}, 0

    def end_step(self) -> torch.Tensor | None:
        """(B, T, h, w) mean over heads and layers; each pixel's T probabilities sum to 1.

        Layers of one resolution are summed first and each sum is brought to the latent grid
        once: bilinear interpolation is linear, so the mean is the same as interpolating every
        layer's map."""
        self.active = False
        total: torch.Tensor | None = None
        for n, summed in self._sums.items():
            gh, gw = self._grid(n)
            amap = summed.transpose(1, 2).reshape(summed.shape[0], -1, gh, gw)  # (B, T, gh, gw)
            if (gh, gw) != self.latent_size:
                amap = F.interpolate(amap, size=self.latent_size, mode="bilinear",
                                     align_corners=False)  # fmt: skip
            total = amap if total is None else total + amap
        if total is None:
            return None
        return total / self._layers

    def _grid(self, n: int) -> tuple[int, int]:
        """The (h, w) of a layer with n positions: the latent grid halved k times (ceil)."""
        h, w = self.latent_size
        while h * w > n and (h > 1 or w > 1):
            h, w = -(-h // 2), -(-w // 2)
        if h * w != n:
            raise ValueError(f"cannot place {n} attention positions on a {self.latent_size} grid")
        return h, w

    def _scaled_keys(self, attn: Attention, context: torch.Tensor) -> torch.Tensor:
        """K^T * scale of the conditional rows, (B, heads, d, T), computed once per context."""
        # an inference tensor (the img2img pipelines build the context in inference mode) has
        # no version counter: the pipelines never write into the context they made, and a
        # new context (prompt editing) is a new tensor
        version = -1 if context.is_inference() else context._version
        cached = self._keys.get(id(attn))
        if cached is not None and cached[0] is context and cached[1] == version:
            return cached[2]
        rows = context[self.cond]
        if attn.norm_cross:
            rows = attn.norm_encoder_hidden_states(rows)
        k = attn.to_k(rows)  # (B, T, heads*d)
        b, t, inner = k.shape
        k = k.view(b, t, attn.heads, inner // attn.heads).transpose(1, 2)  # (B, heads, T, d)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        scaled = (k.float() * attn.scale).transpose(-1, -2)
        self._keys[id(attn)] = (context, version, scaled)  # context kept: ids unique
        return scaled

    @torch.no_grad()
    def observe(self, attn: Attention, hidden: torch.Tensor, context: torch.Tensor) -> None:
        """Compute A = softmax(Q K^T * scale) for the conditional rows of one layer call."""
        keys = self._scaled_keys(attn, context)
        hidden = hidden[self.cond]
        if hidden.ndim == 4:  # (B, C, H, W) -> (B, HW, C), as the processors do
            b, c, hh, ww = hidden.shape
            hidden = hidden.view(b, c, hh * ww).transpose(1, 2)
        if attn.group_norm is not None:
            hidden = attn.group_norm(hidden.transpose(1, 2)).transpose(1, 2)
        q = attn.to_q(hidden)  # (B, N, heads*d)
        b, n, inner = q.shape
        q = q.view(b, n, attn.heads, inner // attn.heads).transpose(1, 2)  # (B, heads, N, d)
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        amap = (q.float() @ keys).softmax(dim=-1).mean(dim=1)  # (B, N, T): mean over heads
        summed = self._sums.get(n)
        self._sums[n] = amap if summed is None else summed + amap
        self._layers += 1


class CrossAttentionTap:
    """An attention processor that returns `inner`'s result and feeds an active recorder."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        recorder = _ACTIVE.get()
        if recorder is not None and recorder.active and encoder_hidden_states is not None:
            recorder.observe(attn, hidden_states, encoder_hidden_states)
        return self.inner(  # type: ignore[no-any-return]
            attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs
        )


def install_taps(unet: torch.nn.Module) -> None:
    """Wrap every cross-attention layer's processor, once per U-Net (idempotent)."""
    if unet in _tapped:
        return
    with _install_lock:
        for module in unet.modules():
            if not isinstance(module, Attention) or not module.is_cross_attention:
                continue
            if not isinstance(module.processor, CrossAttentionTap):
                module.set_processor(CrossAttentionTap(module.processor))  # type: ignore[arg-type]
        keep_processor_signatures(unet)
        _tapped.add(unet)


def keep_processor_signatures(unet: torch.nn.Module) -> None:
    """Store each attention processor's call signature on the function (Python's
    `__signature__`), once per processor class.

    diffusers' Attention.forward calls inspect.signature(processor.__call__) on every call, to
    sort its cross_attention_kwargs; that builds the signature anew for every attention layer
    at every step. With `__signature__` set, inspect returns the stored signature, which is the
    same one."""
    for module in unet.modules():
        if not isinstance(module, Attention):
            continue
        call: Any = type(module.processor).__call__
        if getattr(call, "__signature__", None) is None:
            try:
                call.__signature__ = inspect.signature(call)
            except (AttributeError, TypeError, ValueError):  # not a Python function
                continue


@contextmanager
def recording(unet: torch.nn.Module, recorder: AttentionRecorder) -> Iterator[AttentionRecorder]:
    """Within the block, U-Net calls in this thread feed `recorder` on its active steps."""
    install_taps(unet)
    token = _ACTIVE.set(recorder)
    try:
        yield recorder
    finally:
        _ACTIVE.reset(token)


STRIP_PAD = 1  # columns of edge padding on each side of a map in a token strip


def token_strip(step_map: torch.Tensor, positions: list[int]) -> np.ndarray | None:
    """One image's heat maps as one picture: (T, h, w) probabilities -> a uint8
    (h, n * (w + 2 * STRIP_PAD)) row of the n positions' maps; position k's map is at columns
    [k * (w + 2p) + p, k * (w + 2p) + p + w). None for no positions.

    The maps stay on the latent grid they were measured on (the finest U-Net resolution: an
    eighth of the image's side for SD-1.x); a viewer crops a token's map and scales it over the
    image. Each map's edge columns are repeated beside it (p = STRIP_PAD), so a viewer that
    scales smoothly blends a map's edge with itself, never with the next token's map. Each map
    is divided by its own maximum (as DAAM displays them), so every token's map uses the full
    grey range. One picture per step, not one per token: each stored artifact is a file, an
    event row and an SSE message."""
    if not positions:
        return None
    maps = step_map[positions].float()  # (n, h, w)
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    heat = (maps / peak * 255.0).round().clamp(0, 255)
    heat = F.pad(heat[None], (STRIP_PAD, STRIP_PAD, 0, 0), mode="replicate")[0]  # (n, h, w+2p)
    heat = heat.to(torch.uint8)
    return heat.permute(1, 0, 2).reshape(heat.shape[1], -1).cpu().numpy()  # type: ignore[no-any-return]
