"""`lab.convolution`: convolution, pooling and upsampling on one image, every output size computed.

A 2-D convolution (PyTorch's conv2d, strictly a cross-correlation) slides a k×k kernel over the
image. With p zeros of padding on each side, stride s and dilation d (taps d pixels apart, so
the kernel spans d(k−1)+1 pixels) a side of n pixels becomes

    n_out = ⌊(n + 2p − d(k−1) − 1)/s⌋ + 1

"valid" is p = 0; "same" is p = d(k−1)/2 (odd k), which keeps n at stride 1 and gives ⌈n/s⌉ at
stride s. Pooling follows the same formula with a window of k = s: the max or the mean of each
k×k block.

Upsampling by an integer factor f goes the other way. nearest repeats every pixel f×f times;
bilinear and bicubic interpolate between pixel centres (2×2 and 4×4 neighbours); all three give
⌊n·f⌋ pixels. A transposed convolution spreads every input pixel over the output through a
kernel (learned in a network, given here); its side is

    n_out = (n − 1)s − 2p + d(k−1) + op + 1

and it is an ordinary convolution in disguise: insert s−1 zeros between the input pixels, pad
each side with d(k−1) − p zeros (op more at the bottom and right), and convolve at stride 1 with
the kernel flipped in both axes (`conv_transpose2d_by_hand`). When k is not a multiple of s the
footprints of neighbouring input pixels overlap unevenly — some output pixels receive more taps
than others — and a uniform kernel paints that count onto the image as a checkerboard (Odena,
Dumoulin and Olah, "Deconvolution and checkerboard artifacts", 2016). The bilinear kernel
(side 2f − f mod 2, weights 1 − |i − c|/f) overlaps evenly and is bilinear interpolation away
from the border.

The upsampling modes start from the image shrunk f× by average pooling, so each result is
compared with the original (PSNR). Colour images are filtered channel by channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.datasets import load_sample_image
from torch.nn import functional as F

from difflab.lab.common import emit, heatmap_artifact, image_grid, one_thread
from difflab.runtime import KindSpec, RunContext, Sink

ImageName = Literal["china", "flower", "checkerboard", "zone_plate"]
KernelName = Literal["identity", "box", "gaussian", "sharpen", "sobel_x", "sobel_y"]
UpsampleMode = Literal["nearest", "bilinear", "bicubic", "transposed"]

KERNELS: tuple[KernelName, ...] = ("identity", "box", "gaussian", "sharpen", "sobel_x", "sobel_y")
SIGNED: frozenset[str] = frozenset({"sobel_x", "sobel_y"})  # outputs centred on 0, not images
UPSAMPLE_MODES: tuple[UpsampleMode, ...] = ("nearest", "bilinear", "bicubic", "transposed")
INTERPOLATIONS = UPSAMPLE_MODES[:3]  # F.interpolate's modes
# what the titles call them in Chinese
KERNELS_ZH: dict[str, str] = {
    "identity": "恒等",
    "box": "均值滤波",
    "gaussian": "高斯模糊",
    "sharpen": "锐化",
    "sobel_x": "x 方向梯度",
    "sobel_y": "y 方向梯度",
}
UPSAMPLE_ZH: dict[str, str] = {
    "nearest": "最近邻",
    "bilinear": "双线性",
    "bicubic": "双三次",
    "transposed": "转置卷积",
}
POOL_ZH: dict[str, str] = {"max": "最大池化", "avg": "平均池化"}
DISPLAY = 256  # pictures are enlarged (nearest, whole pixels) to about this many pixels a side
IMAGE_HELP = (
    "Image: china or flower (scikit-learn's bundled photographs, centre square), checkerboard "
    "(8×8 squares) or zone_plate (rings whose frequency rises to the pixel limit at the edges: "
    "shows aliasing)."
)


class Params(BaseModel):
    """One image through a convolution, a pooling and four ways of upsampling."""

    model_config = ConfigDict(extra="forbid")

    image: ImageName = Field("china", description=IMAGE_HELP)
    size: int = Field(128, ge=32, le=256, description="Working side in pixels (square image).")
    color: bool = Field(
        False, description="Keep the three colour channels (each filtered alone); off: grey."
    )
    kernel: KernelName = Field(
        "sobel_x",
        description="Kernel of the convolution: identity, box (mean), gaussian (binomial), "
        "sharpen (2·identity − gaussian), sobel_x (horizontal gradient: vertical edges), "
        "sobel_y (vertical gradient).",
    )
    kernel_size: Literal[3, 5, 7] = Field(3, description="Side k of the square kernel (odd).")
    padding: Literal["valid", "same"] = Field(
        "valid",
        description="valid: no padding (p = 0); same: p = d(k−1)/2 zeros on each side, the "
        "size kept at stride 1.",
    )
    stride: int = Field(2, ge=1, le=4, description="Step s of the kernel between outputs.")
    dilation: int = Field(1, ge=1, le=4, description="Spacing d between the kernel's taps.")
    pool: Literal["max", "avg"] = Field(
        "max", description="Pooling: max or avg (mean) of each window."
    )
    pool_size: int = Field(2, ge=2, le=8, description="Side of the pooling window (= its stride).")
    upsample_factor: int = Field(
        2,
        ge=2,
        le=4,
        description="Factor f: the image is shrunk f× by average pooling, then enlarged f× by "
        "nearest, bilinear, bicubic and transposed convolution.",
    )
    transposed_kernel: Literal["uniform", "bilinear"] = Field(
        "uniform",
        description="Kernel of the transposed convolution: uniform (all taps equal: shows the "
        "checkerboard when its size is not a multiple of f) or bilinear (size 2f − f mod 2: "
        "even overlap).",
    )
    transposed_kernel_size: int | None = Field(
        None,
        ge=1,
        le=12,
        description="Side of the uniform transposed kernel; empty: f + 1 (not a multiple of f, "
        "so the checkerboard shows).",
    )

    @model_validator(mode="after")
    def _size_for_uniform(self) -> Params:
        if self.transposed_kernel_size is not None and self.transposed_kernel != "uniform":
            raise ValueError("transposed_kernel_size applies to transposed_kernel 'uniform' only")
        return self


# --------------------------------------------------------------------------- images


def load_image(name: ImageName, size: int, color: bool) -> np.ndarray:
    """A size×size image in [0, 1]: (size, size, 3) in colour, (size, size) in grey.

    The photographs (427×640) are cropped to their central square and shrunk with a box filter;
    grey is the luma 0.299 R + 0.587 G + 0.114 B (PIL's "L"). The synthetic images are drawn at
    the size: checkerboard has 8×8 squares; zone_plate is ½ + ½·cos(π r²/size), r the distance
    to the centre, whose local frequency r/size cycles per pixel rises from 0 to the Nyquist
    limit ½ at the middle of each edge.
    """
    if name in ("china", "flower"):
        im = Image.fromarray(load_sample_image(f"{name}.jpg"))
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
        im = im if color else im.convert("L")
        im = im.resize((size, size), Image.Resampling.BOX)
        return np.asarray(im, dtype=np.float64) / 255.0
    i = np.arange(size)
    if name == "checkerboard":
        cells = i * 8 // size
        grey = ((cells[:, None] + cells[None, :]) % 2).astype(np.float64)
    else:
        c = (size - 1) / 2
        r2 = (i[:, None] - c) ** 2 + (i[None, :] - c) ** 2
        grey = 0.5 + 0.5 * np.cos(np.pi * r2 / size)
    return np.repeat(grey[:, :, None], 3, axis=2) if color else grey


def to_batch(img: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) → (C, 1, H, W) float32: channels as a batch of grey images."""
    a = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    return torch.tensor(a[:, None], dtype=torch.float32)


def to_picture(y: torch.Tensor, signed: bool = False) -> np.ndarray:
    """(C, 1, H, W) → (H, W) or (H, W, C) in [0, 1]. Signed outputs (gradients) map 0 to grey
    and the largest magnitude to black or white; others are clipped to [0, 1]."""
    a = y[:, 0].detach().double().numpy()
    if signed:
        a = 0.5 + a / (2.0 * max(float(np.abs(a).max()), 1e-12))
    a = np.clip(a, 0.0, 1.0)
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


def display_scale(side: int) -> int:
    """Whole-pixel enlargement that brings a side of `side` pixels to about DISPLAY."""
    return max(1, DISPLAY // side)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two images in [0, 1], in dB: 10·log10(1 / MSE); identical
    images (MSE below 1e-10) give 100 dB rather than infinity."""
    mse = float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))
    return 10.0 * math.log10(1.0 / max(mse, 1e-10))


# --------------------------------------------------------------------------- kernels


def binomial(n: int) -> np.ndarray:
    """Row n−1 of Pascal's triangle ([1, 2, 1] for n = 3): a sampled Gaussian, variance (n−1)/4."""
    return np.array([math.comb(n - 1, i) for i in range(n)], dtype=np.float64)


def make_kernel(name: KernelName, k: int) -> np.ndarray:
    """The k×k kernel `name` (k odd), as applied by conv2d (a cross-correlation).

    gaussian: outer product of the normalised binomial row; sharpen: 2δ − gaussian, i.e.
    x + (x − blur(x)) (unsharp masking); sobel_x: the binomial row down the columns times the
    derivative [−1, 0, 1] ∗ binomial(k−2) across them (k = 3: the classic [[−1, 0, 1],
    [−2, 0, 2], [−1, 0, 1]]/8), scaled so a ramp rising 1 per pixel gives 1; sobel_y: its
    transpose.
    """
    if k % 2 == 0 or k < 3:
        raise ValueError(f"kernels have an odd side of at least 3, got {k}")
    delta = np.zeros((k, k))
    delta[k // 2, k // 2] = 1.0
    smooth = binomial(k) / binomial(k).sum()
    derivative = -np.convolve(binomial(k - 2), [1.0, 0.0, -1.0])
    derivative /= 2.0 * binomial(k - 2).sum()
    kernels = {
        "identity": delta,
        "box": np.full((k, k), 1.0 / k**2),
        "gaussian": np.outer(smooth, smooth),
        "sharpen": 2.0 * delta - np.outer(smooth, smooth),
        "sobel_x": np.outer(smooth, derivative),
        "sobel_y": np.outer(derivative, smooth),
    }
    return kernels[name]


def dilate_kernel(kernel: np.ndarray, dilation: int) -> np.ndarray:
    """The kernel as it lies on the image: d−1 zeros between taps, side d(k−1)+1."""
    k = kernel.shape[0]
    out = np.zeros((dilation * (k - 1) + 1,) * 2)
    out[::dilation, ::dilation] = kernel
    return out


def bilinear_kernel(factor: int) -> np.ndarray:
    """The transposed-convolution kernel of bilinear upsampling by `factor`: side
    2f − f mod 2, weights (1 − |i − c|/f)(1 − |j − c|/f) around the centre c = (side − 1)/2."""
    k = 2 * factor - factor % 2
    b = 1.0 - np.abs(np.arange(k) - (k - 1) / 2) / factor
    return np.outer(b, b)


def same_padding(k: int, dilation: int) -> int:
    """p = d(k−1)/2: the output keeps the input's size at stride 1 (k odd)."""
    return dilation * (k - 1) // 2


# --------------------------------------------------------------------------- output sizes


def conv_output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Side after a convolution or pooling: ⌊(n + 2p − d(k−1) − 1)/s⌋ + 1."""
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def transposed_output_size(
    n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1, output_padding: int = 0
) -> int:
    """Side after a transposed convolution: (n − 1)s − 2p + d(k−1) + op + 1."""
    return (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1


def upsample_output_size(n: int, factor: float) -> int:
    """Side after interpolation by a scale factor: ⌊n·f⌋."""
    return math.floor(n * factor)


def conv_formula(n: int, k: int, stride: int, padding: int, dilation: int) -> str:
    out = conv_output_size(n, k, stride, padding, dilation)
    return f"⌊({n} + 2·{padding} − {dilation}·({k} − 1) − 1)/{stride}⌋ + 1 = {out}"


def transposed_formula(
    n: int, k: int, stride: int, padding: int, dilation: int, output_padding: int
) -> str:
    out = transposed_output_size(n, k, stride, padding, dilation, output_padding)
    return f"({n} − 1)·{stride} − 2·{padding} + {dilation}·({k} − 1) + {output_padding} + 1 = {out}"


def transposed_upsample_geometry(k: int, factor: int) -> tuple[int, int]:
    """Padding p and output padding op with which a k×k transposed convolution at stride f
    gives exactly f·n pixels: (n − 1)f − 2p + k − 1 + op + 1 = f·n ⇔ op = f − k + 2p."""
    padding = max(0, math.ceil((k - factor) / 2))
    return padding, factor - k + 2 * padding


# --------------------------------------------------------------------------- transposed conv


@dataclass
class TransposedSteps:
    """The three steps of a transposed convolution written as an ordinary one."""

    zeros_inserted: torch.Tensor  # (B, C_in, (H−1)s+1, (W−1)s+1): s−1 zeros between pixels
    padded: torch.Tensor  # d(k−1)−p zeros each side (negative: cropped), op more bottom/right
    output: torch.Tensor  # (B, C_out, H_out, W_out): conv2d with the flipped kernel, stride 1


def conv_transpose2d_by_hand(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> TransposedSteps:
    """F.conv_transpose2d(x, weight, stride, padding, output_padding, dilation=dilation) as
    zero insertion, padding and a stride-1 convolution with the flipped kernel.

    x is (B, C_in, H, W); weight is laid out as conv_transpose2d's, (C_in, C_out, k, k), so the
    ordinary convolution's weight is it with the two channel axes swapped and both spatial axes
    flipped.
    """
    B, C, H, W = x.shape
    k = weight.shape[-1]
    s = stride
    z = x.new_zeros(B, C, (H - 1) * s + 1, (W - 1) * s + 1)
    z[:, :, ::s, ::s] = x
    q = dilation * (k - 1) - padding
    zp = F.pad(z, (q, q + output_padding, q, q + output_padding))  # a negative pad crops
    w = weight.transpose(0, 1).flip(-2, -1)  # (C_out, C_in, k, k)
    return TransposedSteps(z, zp, F.conv2d(zp, w, dilation=dilation))


def transposed_kernel_of(p: Params) -> np.ndarray:
    """The transposed convolution's kernel; a uniform one sums to f², the output's pixels per
    input pixel, so that the output keeps the input's mean brightness."""
    f = p.upsample_factor
    if p.transposed_kernel == "bilinear":
        return bilinear_kernel(f)
    k = p.transposed_kernel_size or f + 1
    return np.full((k, k), f**2 / k**2)


def upsample(
    low: torch.Tensor, factor: int, mode: UpsampleMode, kernel: np.ndarray
) -> torch.Tensor:
    """(C, 1, n, n) → (C, 1, f·n, f·n); `kernel` is used by mode "transposed" only."""
    if mode != "transposed":
        return F.interpolate(low, scale_factor=factor, mode=mode)
    pad, out_pad = transposed_upsample_geometry(kernel.shape[0], factor)
    w = torch.tensor(kernel, dtype=low.dtype)[None, None]
    return F.conv_transpose2d(low, w, stride=factor, padding=pad, output_padding=out_pad)


# --------------------------------------------------------------------------- the run


def conv(
    x: torch.Tensor, kernel: np.ndarray, stride: int, padding: int, dilation: int
) -> torch.Tensor:
    w = torch.tensor(kernel, dtype=x.dtype)[None, None]  # (1, 1, k, k)
    return F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    total = 7
    n = p.size
    k, s, d = p.kernel_size, p.stride, p.dilation
    x = to_batch(load_image(p.image, n, p.color))  # (C, 1, n, n)
    sizes: dict[str, int] = {"input": n}  # as torch gives them; `formulas` as computed
    formulas: dict[str, str] = {}

    def stage(done: int, message: str) -> None:
        sink.log(message)
        sink.progress(done, total, message)
        sink.check()

    def show(
        name: str,
        pictures: list[np.ndarray],
        title: str,
        title_zh: str,
        captions: list[str],
        captions_zh: list[str] | None = None,
    ) -> None:
        """A grid of pictures; `captions_zh` None: the captions are sizes, the same in both."""
        side = max(a.shape[0] for a in pictures)
        grid = image_grid(pictures, min(len(pictures), 3), scale=display_scale(side))
        meta = {"title": title, "title_zh": title_zh, "captions": captions}
        emit(sink, name, grid, view="image", meta={**meta, "captions_zh": captions_zh or captions})

    sink.check()
    show(
        "input.png",
        [to_picture(x)],
        f"{p.image}, {n}×{n}",
        f"输入图像 {p.image}，{n}×{n}",
        [f"{n}×{n}"],
    )
    stage(1, f"input: {p.image}, {n}×{n}{' colour' if p.color else ' grey'}")

    # every kernel at stride 1 with same padding: what each one does
    same = same_padding(k, 1)
    gallery = [
        to_picture(conv(x, make_kernel(name, k), 1, same, 1), signed=name in SIGNED)
        for name in KERNELS
    ]
    show(
        "kernels.png",
        gallery,
        f"the kernels, {k}×{k}, same padding",
        f"各个卷积核，{k}×{k}，same 填充",
        [*KERNELS],
        [f"{KERNELS_ZH[name]}（{name}）" for name in KERNELS],
    )
    stage(2, "kernel gallery")

    # the chosen convolution, and its output size
    kernel = make_kernel(p.kernel, k)
    pad = same_padding(k, d) if p.padding == "same" else 0
    y = conv(x, kernel, s, pad, d)
    sizes["conv"] = y.shape[-1]
    formulas["conv"] = conv_formula(n, k, s, pad, d)
    show(
        "conv.png",
        [to_picture(y, signed=p.kernel in SIGNED)],
        f"{p.kernel} {k}×{k}, padding {p.padding} (p = {pad}), stride {s}, dilation {d}: "
        f"{n} → {formulas['conv']}",
        f"{p.kernel} {k}×{k}，{p.padding} 填充（p = {pad}），步幅 {s}，空洞 {d}："
        f"{n} → {formulas['conv']}",
        [f"{y.shape[-2]}×{y.shape[-1]}"],
    )
    footprint = dilate_kernel(kernel, d)
    offsets = [str(i - footprint.shape[0] // 2) for i in range(footprint.shape[0])]
    emit(
        sink,
        "kernel.json",
        heatmap_artifact(
            footprint,
            offsets,
            offsets,
            f"{p.kernel} {k}×{k} at dilation {d}, as laid on the image",
            title_zh=f"{p.kernel} {k}×{k} 在空洞 {d} 下铺在图像上的样子",
        ),
        view="heatmap",
    )
    stage(3, f"convolution: {n} → {formulas['conv']} (torch: {y.shape[-1]})")

    # the same kernel over padding × stride × dilation: the sizes side by side
    variants, captions, captions_zh = [], [], []
    for dd in (1, 2):
        for ss in (1, 2):
            for mode in ("valid", "same"):
                pp = same_padding(k, dd) if mode == "same" else 0
                out = conv(x, kernel, ss, pp, dd)
                variants.append(to_picture(out, signed=p.kernel in SIGNED))
                size = conv_output_size(n, k, ss, pp, dd)
                captions.append(f"{mode}, s={ss}, d={dd}: {size} (torch {out.shape[-1]})")
                captions_zh.append(
                    f"{mode} 填充，s={ss}，d={dd}：{size}（torch 为 {out.shape[-1]}）"
                )
    side = max(a.shape[0] for a in variants)
    emit(
        sink,
        "conv_settings.png",
        image_grid(variants, 4, scale=display_scale(side)),
        view="image",
        meta={
            "title": f"{p.kernel} {k}×{k}: padding valid/same × stride 1/2 × dilation 1/2, "
            "drawn at their true sizes",
            "title_zh": f"{p.kernel} {k}×{k}：填充 valid/same × 步幅 1/2 × 空洞 1/2，"
            "按实际尺寸绘制",
            "captions": captions,
            "captions_zh": captions_zh,
        },
    )
    stage(4, "padding, stride and dilation compared")

    # pooling
    q = p.pool_size
    pool_fn = F.max_pool2d if p.pool == "max" else F.avg_pool2d
    pooled = pool_fn(x, q)
    sizes["pool"] = pooled.shape[-1]
    formulas["pool"] = conv_formula(n, q, q, 0, 1)
    show(
        "pool.png",
        [to_picture(pooled)],
        f"{p.pool} pooling {q}×{q}, stride {q}: {n} → {formulas['pool']}",
        f"{POOL_ZH[p.pool]} {q}×{q}，步幅 {q}：{n} → {formulas['pool']}",
        [f"{pooled.shape[-2]}×{pooled.shape[-1]}"],
    )
    stage(5, f"{p.pool} pooling: {n} → {formulas['pool']} (torch: {pooled.shape[-1]})")

    # upsampling: shrink f× by average pooling, enlarge f× four ways, compare with the original
    f = p.upsample_factor
    low = F.avg_pool2d(x, f)
    n_low = low.shape[-1]
    reference = to_picture(x[..., : f * n_low, : f * n_low])
    t_kernel = transposed_kernel_of(p)
    kt = t_kernel.shape[0]
    t_pad, t_out_pad = transposed_upsample_geometry(kt, f)
    sizes["low_res"] = n_low
    formulas["low_res"] = conv_formula(n, f, f, 0, 1)
    pictures, captions = [to_picture(low)], [f"average-pooled {f}×: {n_low}×{n_low}"]
    captions_zh = [f"平均池化缩小 {f} 倍：{n_low}×{n_low}"]
    psnrs: dict[str, float] = {}
    for mode in UPSAMPLE_MODES:
        sink.check()
        up = upsample(low, f, mode, t_kernel)
        pic = to_picture(up)
        psnrs[mode] = psnr(pic, reference)
        if mode == "transposed":
            formulas["transposed"] = transposed_formula(n_low, kt, f, t_pad, 1, t_out_pad)
        else:
            formulas[mode] = f"⌊{n_low}·{f}⌋ = {upsample_output_size(n_low, f)}"
        sizes[mode] = up.shape[-1]
        pictures.append(pic)
        captions.append(f"{mode}: {formulas[mode]}, PSNR {psnrs[mode]:.1f} dB")
        captions_zh.append(f"{UPSAMPLE_ZH[mode]}：{formulas[mode]}，PSNR {psnrs[mode]:.1f} dB")
    emit(
        sink,
        "upsampling.png",
        image_grid(pictures, 5, scale=display_scale(f * n_low)),
        view="image",
        meta={
            "title": f"{n_low} → {f * n_low}: nearest, bilinear, bicubic, transposed convolution "
            f"({p.transposed_kernel} {kt}×{kt}, stride {f}, p = {t_pad}, op = {t_out_pad})",
            "title_zh": f"{n_low} → {f * n_low}：最近邻、双线性、双三次插值与转置卷积"
            f"（{p.transposed_kernel} {kt}×{kt}，步幅 {f}，p = {t_pad}，op = {t_out_pad}）",
            "captions": captions,
            "captions_zh": captions_zh,
        },
    )
    stage(6, "upsampling: " + ", ".join(f"{m} {v:.1f} dB" for m, v in psnrs.items()))

    # the transposed convolution by hand, on a crop, and its overlap pattern
    c = min(16, n_low)
    o = (n_low - c) // 2
    crop = low[..., o : o + c, o : o + c]
    w = torch.tensor(t_kernel, dtype=torch.float32)[None, None]
    steps = conv_transpose2d_by_hand(crop, w, f, t_pad, 1, t_out_pad)
    zs, zp = steps.zeros_inserted, steps.padded
    emit(
        sink,
        "transposed/steps.png",
        image_grid(
            [
                to_picture(crop),
                to_picture(zs),
                to_picture(zp),
                to_picture(steps.output),
            ],
            4,
            scale=display_scale(zp.shape[-1]),
        ),
        view="image",
        meta={
            "title": "transposed convolution as an ordinary one: insert zeros, pad, convolve with "
            "the flipped kernel",
            "title_zh": "把转置卷积写成普通卷积：插入零、填充，再用翻转后的卷积核做卷积",
            "captions": [
                f"input {c}×{c}",
                f"{f - 1} zeros between pixels: ({c} − 1)·{f} + 1 = {zs.shape[-1]}",
                f"padded by d(k−1) − p = {kt - 1 - t_pad} (+{t_out_pad}): {zp.shape[-1]}",
                f"convolved ({kt}×{kt}, flipped): {steps.output.shape[-1]}",
            ],
            "captions_zh": [
                f"输入 {c}×{c}",
                f"像素之间插入 {f - 1} 个零：({c} − 1)·{f} + 1 = {zs.shape[-1]}",
                f"填充 d(k−1) − p = {kt - 1 - t_pad}（+{t_out_pad}）：{zp.shape[-1]}",
                f"卷积（{kt}×{kt}，已翻转）：{steps.output.shape[-1]}",
            ],
        },
    )
    # a constant m×m input of ones and a kernel of ones: the output counts the taps landing on
    # each pixel; m leaves a few periods of f pixels clear of the border's kt pixels
    m = math.ceil(2 * kt / f) + 2
    taps = F.conv_transpose2d(
        torch.ones(1, 1, m, m),
        torch.ones(1, 1, kt, kt),
        stride=f,
        padding=t_pad,
        output_padding=t_out_pad,
    )[0, 0].numpy()
    inner = taps[kt : taps.shape[0] - kt, kt : taps.shape[1] - kt]  # away from the border
    low_taps, high_taps = int(inner.min()), int(inner.max())
    labels = [str(i) for i in range(taps.shape[0])]
    emit(
        sink,
        "transposed/overlap.json",
        heatmap_artifact(
            taps,
            labels,
            labels,
            f"taps landing on each output pixel ({kt}×{kt} kernel, stride {f}): "
            f"{low_taps} to {high_taps} inside"
            + (" — the checkerboard" if low_taps != high_taps else " — even"),
            title_zh=f"每个输出像素上叠加的卷积核权重个数（{kt}×{kt} 卷积核，步幅 {f}）："
            f"内部为 {low_taps} 到 {high_taps}"
            + ("——棋盘格伪影" if low_taps != high_taps else "——均匀"),
        ),
        view="heatmap",
    )
    stage(7, f"transposed convolution: {low_taps} to {high_taps} taps per output pixel")
    return {
        **{f"size/{key}": v for key, v in sizes.items()},
        **{f"psnr_db/{key}": v for key, v in psnrs.items()},
        "transposed/kernel_size": kt,
        "transposed/padding": t_pad,
        "transposed/output_padding": t_out_pad,
        "transposed/taps_min": low_taps,
        "transposed/taps_max": high_taps,
        "formulas": formulas,
    }


SPEC = KindSpec(
    name="lab.convolution",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Convolution and upsampling",
    description="One image through a convolution (padding, stride, dilation), max or average "
    "pooling, and four upsamplings — nearest, bilinear, bicubic, transposed convolution with "
    "its checkerboard — every output size computed by its formula.",
)
