from __future__ import annotations

import inspect
import threading
import types
from typing import Any

import numpy as np
import torch
from diffusers.models.attention_processor import Attention

from difflab.diffusion.attention import (
    STRIP_PAD,
    AttentionRecorder,
    CrossAttentionTap,
    install_taps,
    recording,
    token_strip,
)
from difflab.diffusion.pipeline import StepOutput, generate
from difflab.diffusion.schedulers import make_scheduler


def _generate(pipe: Any, **kw: Any) -> Any:
    args: dict[str, Any] = {"prompt": "a red circle", "steps": 3, "guidance_scale": 5.0,
                            "seeds": [4], "width": 32, "height": 32, **kw}  # fmt: skip
    return generate(pipe, make_scheduler("Euler", pipe.scheduler.config), **args)


def test_maps_are_probabilities_over_tokens_for_each_step(tiny_pipe: Any) -> None:
    steps: list[StepOutput] = []
    _generate(tiny_pipe, seeds=[4, 5], attention=True, on_step=steps.append)
    assert len(steps) == 3
    for s in steps:
        assert s.attention is not None
        # (images, tokens = model_max_length, latent h, latent w)
        assert s.attention.shape == (2, 16, 4, 4)
        torch.testing.assert_close(s.attention.sum(dim=1), torch.ones(2, 4, 4))


def test_recorder_matches_diffusers_attention_scores(tiny_pipe: Any) -> None:
    """softmax(QK^T * scale), averaged over heads, equals the library's attention probs."""
    layer = next(
        m for m in tiny_pipe.unet.modules() if isinstance(m, Attention) and m.is_cross_attention
    )
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(4, 16, layer.to_q.in_features, generator=g)  # 2 CFG halves x 2 images
    context = torch.randn(4, 16, layer.to_k.in_features, generator=g)
    recorder = AttentionRecorder((4, 4), cond=slice(2, 4))
    recorder.begin_step()
    with torch.no_grad():
        recorder.observe(layer, hidden, context)
        q = layer.head_to_batch_dim(layer.to_q(hidden[2:]))
        k = layer.head_to_batch_dim(layer.to_k(context[2:]))
        probs = layer.get_attention_scores(q, k)  # (B * heads, N, T)
    expected = probs.view(2, layer.heads, 16, 16).mean(1).transpose(1, 2).reshape(2, 16, 4, 4)
    got = recorder.end_step()
    assert got is not None
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def _same_as_a_fresh_recorder(
    recorder: AttentionRecorder, layer: Attention, hidden: torch.Tensor, context: torch.Tensor
) -> None:
    """One step of `recorder` on the layer gives the maps a new recorder's first step gives."""
    recorder.begin_step()
    recorder.observe(layer, hidden, context)
    got = recorder.end_step()
    fresh = AttentionRecorder((4, 4), cond=slice(1, 2))
    fresh.begin_step()
    fresh.observe(layer, hidden, context)
    torch.testing.assert_close(got, fresh.end_step())


def test_keys_are_projected_once_per_context(tiny_pipe: Any) -> None:
    """A layer's keys come from its context, so they are computed once while the context is
    the same tensor and again for another one (prompt editing) or after it changed in place;
    every step's maps equal those of a recorder that starts afresh."""
    layer = next(
        m for m in tiny_pipe.unet.modules() if isinstance(m, Attention) and m.is_cross_attention
    )
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(2, 16, layer.to_q.in_features, generator=g)
    contexts = [torch.randn(2, 16, layer.to_k.in_features, generator=g) for _ in range(2)]
    calls: list[int] = []
    hook = layer.to_k.register_forward_hook(lambda *_: calls.append(1))
    recorder = AttentionRecorder((4, 4), cond=slice(1, 2))
    try:
        with torch.no_grad():
            for context in [contexts[0], contexts[0], contexts[1], contexts[1]]:
                _same_as_a_fresh_recorder(recorder, layer, hidden, context)
            assert len(calls) == 2 + 4  # the recorder's two contexts, the fresh ones' four
            contexts[1].mul_(2.0)  # the same tensor, other values
            recorder.begin_step()
            recorder.observe(layer, hidden, contexts[1])
            recorder.end_step()
            assert len(calls) == 7
    finally:
        hook.remove()


def test_keys_of_inference_contexts_are_projected_once_per_context(tiny_pipe: Any) -> None:
    """The img2img pipelines run in inference mode, where the context has no version counter:
    the keys are still computed once per context tensor, again for another one, and the maps
    equal a fresh recorder's."""
    layer = next(
        m for m in tiny_pipe.unet.modules() if isinstance(m, Attention) and m.is_cross_attention
    )
    g = torch.Generator().manual_seed(2)
    calls: list[int] = []
    hook = layer.to_k.register_forward_hook(lambda *_: calls.append(1))
    recorder = AttentionRecorder((4, 4), cond=slice(1, 2))
    try:
        with torch.inference_mode():
            hidden = torch.randn(2, 16, layer.to_q.in_features, generator=g)
            contexts = [torch.randn(2, 16, layer.to_k.in_features, generator=g) for _ in range(2)]
            assert contexts[0].is_inference()
            for context in [contexts[0], contexts[0], contexts[1]]:
                _same_as_a_fresh_recorder(recorder, layer, hidden, context)
        assert len(calls) == 2 + 3  # the recorder's two contexts, the fresh ones' three
    finally:
        hook.remove()


def _fresh_signature(fn: Any) -> inspect.Signature:
    """fn's signature computed from its code, ignoring a stored __signature__."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                              fn.__closure__)  # fmt: skip
    copy.__kwdefaults__, copy.__annotations__ = fn.__kwdefaults__, fn.__annotations__
    return inspect.signature(copy)


def test_processor_signatures_are_stored_as_diffusers_would_compute_them(tiny_pipe: Any) -> None:
    """diffusers asks every attention call for its processor's signature: a loaded pipeline's
    processors (and the recording taps) answer with a stored one, the same as computed."""
    install_taps(tiny_pipe.unet)
    kinds = {type(m.processor) for m in tiny_pipe.unet.modules() if isinstance(m, Attention)}
    assert CrossAttentionTap in kinds and len(kinds) >= 2
    for kind in kinds:
        call = kind.__call__
        assert call.__signature__ == _fresh_signature(call)
        proc = next(m.processor for m in tiny_pipe.unet.modules()
                    if isinstance(m, Attention) and type(m.processor) is kind)  # fmt: skip
        bound = inspect.signature(proc.__call__)
        assert list(bound.parameters) == list(_fresh_signature(call).parameters)[1:]


def test_recording_does_not_change_the_image(tiny_pipe: Any) -> None:
    plain = _generate(tiny_pipe, attention=False)
    recorded = _generate(tiny_pipe, attention=True, on_step=lambda _: None)
    assert np.array_equal(np.asarray(plain.images[0]), np.asarray(recorded.images[0]))
    taps = [
        m for m in tiny_pipe.unet.modules() if isinstance(m, Attention) and m.is_cross_attention
    ]
    assert taps and all(isinstance(m.processor, CrossAttentionTap) for m in taps)
    install_taps(tiny_pipe.unet)  # idempotent: no tap around a tap
    assert not any(isinstance(m.processor.inner, CrossAttentionTap) for m in taps)


def test_a_recorder_sees_only_its_own_threads_generation(tiny_pipe: Any) -> None:
    recorder = AttentionRecorder((4, 4), cond=slice(1, 2))
    with recording(tiny_pipe.unet, recorder):
        recorder.begin_step()
        t = threading.Thread(target=_generate, args=(tiny_pipe,), kwargs={"attention": False})
        t.start()
        t.join()
        assert recorder.end_step() is None  # the other thread's U-Net calls were not recorded


def test_odd_latent_sizes_map_to_the_unet_grids(tiny_pipe: Any) -> None:
    steps: list[StepOutput] = []
    _generate(tiny_pipe, width=72, height=40, attention=True, on_step=steps.append)
    assert steps[0].attention is not None and steps[0].attention.shape == (1, 16, 5, 9)
    assert AttentionRecorder((9, 5), slice(0, 1))._grid(15) == (5, 3)


def test_token_strip_keeps_the_latent_grid_with_each_map_normalised_and_padded() -> None:
    maps = torch.rand(16, 4, 6)
    strip = token_strip(maps, [1, 2, 3])
    p = STRIP_PAD
    tile = 6 + 2 * p
    assert strip is not None and strip.shape == (4, 3 * tile) and strip.dtype == np.uint8
    for k, pos in enumerate([1, 2, 3]):
        expected = (maps[pos] / maps[pos].max() * 255).round().to(torch.uint8).numpy()
        np.testing.assert_array_equal(strip[:, k * tile + p : k * tile + p + 6], expected)
        # the edge columns repeated beside the map: smooth scaling never reaches a neighbour
        np.testing.assert_array_equal(strip[:, k * tile], expected[:, 0])
        np.testing.assert_array_equal(strip[:, (k + 1) * tile - 1], expected[:, -1])
    assert token_strip(maps, []) is None
