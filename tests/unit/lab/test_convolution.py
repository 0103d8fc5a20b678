"""lab.convolution: output-size formulas and the transposed convolution against torch."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch.nn import functional as F

from difflab.lab import convolution as cv
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def test_conv_and_pool_sizes_match_torch_over_a_grid() -> None:
    checked = 0
    for n, k, s, p, d in itertools.product((5, 8, 13), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 3)):
        x = torch.zeros(1, 1, n, n + 1)
        w = torch.zeros(1, 1, k, k)
        want = cv.conv_output_size(n, k, s, p, d)
        if want < 1:  # the kernel does not fit: torch refuses too
            with pytest.raises(RuntimeError):
                F.conv2d(x, w, stride=s, padding=p, dilation=d)
            continue
        y = F.conv2d(x, w, stride=s, padding=p, dilation=d)
        assert y.shape[-2:] == (want, cv.conv_output_size(n + 1, k, s, p, d))
        if p <= k // 2:  # pooling allows padding of at most half the window
            assert F.max_pool2d(x, k, s, p, d).shape[-2] == want
            assert F.avg_pool2d(x, k, s, p).shape[-2] == cv.conv_output_size(n, k, s, p)
        checked += 1
    assert checked > 150


def test_same_padding_keeps_the_size_or_divides_it_by_the_stride() -> None:
    for n, k, d, s in itertools.product((31, 32), (3, 5, 7), (1, 2, 4), (1, 2, 3)):
        assert cv.conv_output_size(n, k, s, cv.same_padding(k, d), d) == -(-n // s)


def test_transposed_and_upsampling_sizes_match_torch() -> None:
    for n, k, s, p, d in itertools.product((1, 4, 7), (1, 2, 3, 4), (1, 2, 3), (0, 1, 2), (1, 2)):
        for op in range(max(s, d)):
            want = cv.transposed_output_size(n, k, s, p, d, op)
            x, w = torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k)
            try:
                y = F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, dilation=d)
            except RuntimeError:  # "output size is too small"
                assert want < 1
                continue
            assert y.shape[-1] == want  # 0 too: some of torch's paths return an empty map
    for n, f, mode in itertools.product((5, 8, 13), (2, 3, 4, 1.5, 2.5), cv.INTERPOLATIONS):
        y = F.interpolate(torch.zeros(1, 1, n, n), scale_factor=f, mode=mode)
        assert y.shape[-1] == cv.upsample_output_size(n, f)


@pytest.mark.parametrize("k, f", [(1, 2), (2, 2), (3, 2), (4, 2), (4, 3), (5, 4), (12, 4)])
def test_transposed_upsampling_gives_exactly_f_times_the_size(k: int, f: int) -> None:
    pad, out_pad = cv.transposed_upsample_geometry(k, f)
    assert pad >= 0 and 0 <= out_pad < f
    for n in (1, 5, 16):
        assert cv.transposed_output_size(n, k, f, pad, 1, out_pad) == f * n
        assert cv.upsample(torch.zeros(2, 1, n, n), f, "transposed", np.ones((k, k))).shape == (
            2,
            1,
            f * n,
            f * n,
        )


def test_transposed_convolution_by_hand_equals_torch() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    cases = 0
    for k, s, p, d in itertools.product((1, 2, 3, 4), (1, 2, 3), (0, 1, 3), (1, 2)):
        for op in range(max(s, d)):
            if cv.transposed_output_size(5, k, s, p, d, op) < 1:
                continue
            w = torch.randn(3, 4, k, k, generator=g, dtype=torch.float64)  # (C_in, C_out, k, k)
            steps = cv.conv_transpose2d_by_hand(x, w, s, p, d, op)
            ref = F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, dilation=d)
            torch.testing.assert_close(steps.output, ref, rtol=0, atol=1e-12)
            z = steps.zeros_inserted
            assert z.shape[-2:] == ((5 - 1) * s + 1, (6 - 1) * s + 1)
            torch.testing.assert_close(z[:, :, ::s, ::s], x)
            assert int((z != 0).sum()) == x.numel()  # everything else is an inserted zero
            cases += 1
    assert cases > 80


@pytest.mark.parametrize("f", [2, 3, 4])
def test_the_bilinear_kernel_is_bilinear_interpolation_away_from_the_border(f: int) -> None:
    low = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(f))
    ours = cv.upsample(low, f, "transposed", cv.bilinear_kernel(f))
    ref = F.interpolate(low, scale_factor=f, mode="bilinear")
    inner = (..., slice(f, -f), slice(f, -f))
    torch.testing.assert_close(ours[inner], ref[inner], rtol=0, atol=1e-6)
    assert not torch.allclose(ours[..., 0, :], ref[..., 0, :])  # zero padding darkens the rim


def test_a_uniform_kernel_not_a_multiple_of_the_stride_paints_a_checkerboard() -> None:
    flat = torch.full((1, 1, 16, 16), 0.5)
    odd = cv.upsample(flat, 2, "transposed", np.full((3, 3), 4 / 9))[0, 0, 4:-4, 4:-4]
    # overlap counts 1 and 2 per axis: 1, 2 and 4 taps, times the tap weight 4/9
    assert sorted({round(float(v), 6) for v in odd.flatten()}) == pytest.approx(
        [0.5 * 4 / 9, 0.5 * 8 / 9, 0.5 * 16 / 9]
    )
    assert float(odd.mean()) == pytest.approx(0.5)  # the mean brightness is kept
    even = cv.upsample(flat, 2, "transposed", np.full((4, 4), 4 / 16))[0, 0, 4:-4, 4:-4]
    torch.testing.assert_close(even, torch.full_like(even, 0.5))


def test_kernels() -> None:
    for name, k in itertools.product(cv.KERNELS, (3, 5, 7)):
        K = cv.make_kernel(name, k)
        assert K.shape == (k, k)
        assert K.sum() == pytest.approx(0.0 if name in cv.SIGNED else 1.0, abs=1e-12)
    np.testing.assert_allclose(
        cv.make_kernel("sobel_x", 3), np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8
    )
    # a ramp rising by 1 per column: sobel_x reads 1, sobel_y 0 (conv2d is a cross-correlation)
    ramp = torch.arange(20, dtype=torch.float64).repeat(20, 1)[None, None]
    for k in (3, 5, 7):
        gx = F.conv2d(ramp, torch.tensor(cv.make_kernel("sobel_x", k))[None, None])
        gy = F.conv2d(ramp, torch.tensor(cv.make_kernel("sobel_y", k))[None, None])
        torch.testing.assert_close(gx, torch.ones_like(gx))
        torch.testing.assert_close(gy, torch.zeros_like(gy))
    np.testing.assert_array_equal(
        cv.dilate_kernel(np.ones((3, 3)), 2), np.kron(np.ones((3, 3)), [[1, 0], [0, 0]])[:5, :5]
    )


@pytest.mark.parametrize("name", ["china", "flower", "checkerboard", "zone_plate"])
def test_images(name: cv.ImageName) -> None:
    grey = cv.load_image(name, 48, color=False)
    colour = cv.load_image(name, 48, color=True)
    assert grey.shape == (48, 48) and colour.shape == (48, 48, 3)
    assert grey.min() >= 0.0 and grey.max() <= 1.0 and grey.std() > 0.1
    if name in ("china", "flower"):  # photographs in colour, synthetic images grey in 3 channels
        assert np.abs(colour[..., 0] - colour[..., 2]).mean() > 0.02
    else:
        np.testing.assert_array_equal(colour[..., 1], grey)
    if name == "checkerboard":
        assert grey[0, 0] == 0.0 and grey[0, 6] == 1.0 and grey[6, 6] == 0.0


def test_run_sizes_artifacts_and_the_upsampling_ranking() -> None:
    sink = MemorySink()
    p = cv.Params(size=64, upsample_factor=3, padding="same", stride=3, dilation=2, kernel_size=5)
    r = cv.run(p, sink, CTX)
    # same padding p = d(k−1)/2 = 4: ⌊(64 + 8 − 8 − 1)/3⌋ + 1 = 22 = ⌈64/3⌉
    assert r["size/conv"] == 22 and r["formulas"]["conv"].endswith("= 22")
    assert r["size/pool"] == 32 and r["size/low_res"] == 21
    assert {r[f"size/{m}"] for m in ("nearest", "bilinear", "bicubic", "transposed")} == {63}
    assert (r["transposed/kernel_size"], r["transposed/taps_min"], r["transposed/taps_max"]) == (
        4,
        1,
        4,
    )
    # smooth interpolation beats repeating pixels; the checkerboard costs the most
    assert r["psnr_db/bicubic"] > r["psnr_db/nearest"]
    assert r["psnr_db/transposed"] < min(r[f"psnr_db/{m}"] for m in cv.INTERPOLATIONS)
    assert list(sink.artifacts) == [
        "input.png",
        "kernels.png",
        "conv.png",
        "kernel.json",
        "conv_settings.png",
        "pool.png",
        "upsampling.png",
        "transposed/steps.png",
        "transposed/overlap.json",
    ]
    meta = {a["name"]: a["meta"] for a in sink.of_type("artifact")}
    assert "= 22" in meta["conv.png"]["title"] and len(meta["kernels.png"]["captions"]) == 6
    assert len(json.loads(sink.artifacts["kernel.json"])["matrix"]) == 9  # 2·(5 − 1) + 1
    assert [e["done"] for e in sink.of_type("progress")] == list(range(1, 8))


def test_an_even_kernel_has_no_checkerboard() -> None:
    r = cv.run(cv.Params(size=32, transposed_kernel_size=4), MemorySink(), CTX)
    assert r["transposed/taps_min"] == r["transposed/taps_max"] == 4
    r = cv.run(cv.Params(size=32, transposed_kernel="bilinear", color=True), MemorySink(), CTX)
    assert r["transposed/kernel_size"] == 4 and r["transposed/taps_min"] == 4


def test_params_are_refused_where_they_do_not_apply() -> None:
    with pytest.raises(ValidationError, match="transposed_kernel_size"):
        cv.Params(transposed_kernel="bilinear", transposed_kernel_size=3)
    with pytest.raises(ValidationError, match="kernel_size"):
        cv.Params.model_validate({"kernel_size": 4})
    with pytest.raises(ValidationError, match="dataset"):
        cv.Params.model_validate({"dataset": "iris"})


def test_cancel_stops_between_stages() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "progress" else None)
    with pytest.raises(JobCancelled):
        cv.run(cv.Params(size=32), sink, CTX)
    assert len(sink.of_type("progress")) == 1
