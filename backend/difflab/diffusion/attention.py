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
        self._sum: torch.Tensor | None = None
        self._layers = 0

    def begin_step(self) -> None:
        self.active, self._sum, self._layers = True, None, 0

    def end_step(self) -> torch.Tensor | None:
        """(B, T, h, w) mean over heads and layers; each pixel's T probabilities sum to 1."""
        self.active = False
        if self._sum is None:
            return None
        return self._sum / self._layers

    def _grid(self, n: int) -> tuple[int, int]:
        """The (h, w) of a layer with n positions: the latent grid halved k times (ceil)."""
        h, w = self.latent_size
        while h * w > n and (h > 1 or w > 1):
            h, w = -(-h // 2), -(-w // 2)
        if h * w != n:
            raise ValueError(f"cannot place {n} attention positions on a {self.latent_size} grid")
        return h, w

    @torch.no_grad()
    def observe(self, attn: Attention, hidden: torch.Tensor, context: torch.Tensor) -> None:
        """Compute A = softmax(Q K^T * scale) for the conditional rows of one layer call."""
        hidden, context = hidden[self.cond], context[self.cond]
        if hidden.ndim == 4:  # (B, C, H, W) -> (B, HW, C), as the processors do
            b, c, hh, ww = hidden.shape
            hidden = hidden.view(b, c, hh * ww).transpose(1, 2)
        if attn.group_norm is not None:
            hidden = attn.group_norm(hidden.transpose(1, 2)).transpose(1, 2)
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        q, k = attn.to_q(hidden), attn.to_k(context)  # (B, N, heads*d), (B, T, heads*d)
        b, n, inner = q.shape
        d = inner // attn.heads
        q = q.view(b, n, attn.heads, d).transpose(1, 2)  # (B, heads, N, d)
        k = k.view(b, -1, attn.heads, d).transpose(1, 2)  # (B, heads, T, d)
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        probs = (q.float() @ k.float().transpose(-1, -2) * attn.scale).softmax(dim=-1)
        amap = probs.mean(dim=1)  # (B, N, T): average over heads
        gh, gw = self._grid(n)
        amap = amap.transpose(1, 2).reshape(b, -1, gh, gw)  # (B, T, gh, gw)
        if (gh, gw) != self.latent_size:
            amap = F.interpolate(amap, size=self.latent_size, mode="bilinear", align_corners=False)
        self._sum = amap if self._sum is None else self._sum + amap
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
        _tapped.add(unet)


@contextmanager
def recording(unet: torch.nn.Module, recorder: AttentionRecorder) -> Iterator[AttentionRecorder]:
    """Within the block, U-Net calls in this thread feed `recorder` on its active steps."""
    install_taps(unet)
    token = _ACTIVE.set(recorder)
    try:
        yield recorder
    finally:
        _ACTIVE.reset(token)


def token_maps(
    step_map: torch.Tensor, positions: list[int], size: tuple[int, int]
) -> list[np.ndarray]:
    """Heat maps for one image: (T, h, w) probabilities -> a uint8 (H, W) map per position.

    Each map is upsampled bilinearly to the image size and divided by its own maximum (as DAAM
    displays them), so every token's map uses the full grey range.
    """
    if not positions:
        return []
    maps = step_map[positions].float().unsqueeze(0)  # (1, n, h, w)
    maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)[0]
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    return list((maps / peak * 255.0).round().clamp(0, 255).to(torch.uint8).cpu().numpy())
