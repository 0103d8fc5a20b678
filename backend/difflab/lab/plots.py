"""Pictures for the lab's image artifacts, drawn with PIL and numpy alone.

`decision_boundary_png`: class regions over the input plane with the points on top;
`curve_fit_png`: data and fitted curves; `image_grid`: images tiled (digits, filters,
samples). The kinds import them from `difflab.lab.common` along with the JSON artifact helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

# Ten distinct class colours (the "tab10" palette).
PALETTE = np.array(
    [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ],
    dtype=np.float64,
)


def decision_boundary_png(
    predict_fn: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    resolution: int = 200,
    *,
    rings: np.ndarray | None = None,
    margin_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    point_radius: int = 3,
) -> Image.Image:
    """Class regions over the input plane, with the points on top.

    `predict_fn` maps a (m, 2) array of inputs to (m,) class ids, or to (m, k) class
    probabilities — then the region's colour fades where the model is unsure (max prob → 1/k).
    `rings` indexes points to circle in black (support vectors, mistakes). `margin_fn`, a
    binary score f(x) (an SVM's decision function), adds its ±1 level lines in grey.
    The plane spans the points' range plus a 10% margin; the image's top row is the largest x2.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_boundary_png needs 2-D inputs, got shape {X.shape}")
    if not 16 <= resolution <= 2048:
        raise ValueError(f"resolution must be in [16, 2048], got {resolution}")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (hi - lo) + 1e-9
    lo, hi = lo - pad, hi + pad
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(hi[1], lo[1], resolution)  # row 0 at the top
    gx, gy = np.meshgrid(xs, ys)
    out = np.asarray(predict_fn(np.column_stack([gx.ravel(), gy.ravel()])))
    if out.ndim == 2:  # probabilities: class = argmax, strength = how far max prob is above 1/k
        k = out.shape[1]
        Z = out.argmax(axis=1)
        strength = (out.max(axis=1) - 1.0 / k) / (1.0 - 1.0 / k) if k > 1 else np.ones(len(Z))
    else:
        Z = out.astype(np.int64)
        strength = np.ones(len(Z))
    Z = Z.reshape(resolution, resolution)
    alpha = (0.08 + 0.27 * np.clip(strength, 0.0, 1.0)).reshape(resolution, resolution, 1)
    colours = PALETTE[Z % len(PALETTE)]
    rgb = 255.0 + (colours - 255.0) * alpha  # blend the class colour into white
    # the boundary itself: pixels whose right or lower neighbour has another class
    edge = np.zeros_like(Z, dtype=bool)
    edge[:, :-1] |= Z[:, :-1] != Z[:, 1:]
    edge[:-1, :] |= Z[:-1, :] != Z[1:, :]
    rgb[edge] = 90.0
    if margin_fn is not None:  # the margin: where f(x) crosses -1 or +1
        f = np.asarray(margin_fn(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(Z.shape)
        for level in (-1.0, 1.0):
            side = f > level
            rim = np.zeros_like(side)
            rim[:, :-1] |= side[:, :-1] != side[:, 1:]
            rim[:-1, :] |= side[:-1, :] != side[1:, :]
            rgb[rim] = 150.0
    img = Image.fromarray(rgb.round().astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(img)
    px = (X[:, 0] - lo[0]) / (hi[0] - lo[0]) * (resolution - 1)
    py = (hi[1] - X[:, 1]) / (hi[1] - lo[1]) * (resolution - 1)
    r = point_radius
    labels = np.asarray(y).astype(np.int64)
    for i in range(len(X)):
        c = tuple(int(v) for v in PALETTE[labels[i] % len(PALETTE)])
        draw.ellipse([px[i] - r, py[i] - r, px[i] + r, py[i] + r], fill=c, outline=(40, 40, 40))
    if rings is not None:
        for i in np.asarray(rings, dtype=np.int64):
            R = r + 2
            draw.ellipse([px[i] - R, py[i] - R, px[i] + R, py[i] + R], outline=(0, 0, 0), width=1)
    return img


def _to_rgb_array(im: np.ndarray | Image.Image, normalize: bool) -> np.ndarray:
    if isinstance(im, Image.Image):
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    a = np.asarray(im, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):  # (C, H, W) → (H, W, C)
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if normalize:
        a = (a - a.min()) / (a.max() - a.min() + 1e-12)
    elif a.max() > 1.0:  # values in 0..255
        a = a / 255.0
    a = np.clip(a, 0.0, 1.0)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return (a * 255.0).round().astype(np.uint8)


def image_grid(
    images: Sequence[np.ndarray | Image.Image],
    ncols: int,
    *,
    scale: int = 1,
    normalize: bool = False,
    pad: int = 2,
) -> Image.Image:
    """Tile images into a grid, row by row, on a light grey background.

    Arrays may be (H, W), (H, W, C) or (C, H, W); floats are read as [0, 1] (or 0..255 when
    larger), or stretched to [0, 1] each with `normalize`. `scale` enlarges every cell by
    nearest-neighbour (8×8 digits are hard to see at scale 1).
    """
    if not images:
        raise ValueError("image_grid needs at least one image")
    cells = [_to_rgb_array(im, normalize) for im in images]
    h = max(c.shape[0] for c in cells) * scale
    w = max(c.shape[1] for c in cells) * scale
    ncols = max(1, min(ncols, len(cells)))
    nrows = (len(cells) + ncols - 1) // ncols
    grid = Image.new("RGB", (ncols * (w + pad) + pad, nrows * (h + pad) + pad), (220, 220, 220))
    for i, c in enumerate(cells):
        tile = Image.fromarray(c, mode="RGB")
        if scale != 1:
            tile = tile.resize((c.shape[1] * scale, c.shape[0] * scale), Image.Resampling.NEAREST)
        row, col = divmod(i, ncols)
        grid.paste(tile, (pad + col * (w + pad), pad + row * (h + pad)))
    return grid


def curve_fit_png(
    x: np.ndarray,
    y: np.ndarray,
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    width: int = 360,
    height: int = 270,
) -> Image.Image:
    """Data points (grey) and fitted curves {name: (xs, ys)} (class colours, with a legend).

    For 1-D regression: the fitted line of each method over the data it was fitted to.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    all_x = np.concatenate([x, *(np.asarray(c[0], dtype=np.float64) for c in curves.values())])
    all_y = np.concatenate([y, *(np.asarray(c[1], dtype=np.float64) for c in curves.values())])
    all_y = all_y[np.isfinite(all_y)]
    x0, x1 = float(all_x.min()), float(all_x.max())
    y0, y1 = float(all_y.min()), float(all_y.max())
    px_pad, py_pad = 0.05 * (x1 - x0) + 1e-9, 0.08 * (y1 - y0) + 1e-9
    x0, x1, y0, y1 = x0 - px_pad, x1 + px_pad, y0 - py_pad, y1 + py_pad
    m = 8  # frame margin in pixels

    def to_px(xs: np.ndarray, ys: np.ndarray) -> list[tuple[float, float]]:
        u = m + (np.asarray(xs) - x0) / (x1 - x0) * (width - 2 * m)
        v = m + (y1 - np.asarray(ys)) / (y1 - y0) * (height - 2 * m)
        return list(zip(u.tolist(), v.tolist(), strict=True))

    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle([m, m, width - m, height - m], outline=(180, 180, 180))
    for u, v in to_px(x, y):
        draw.ellipse([u - 2, v - 2, u + 2, v + 2], fill=(150, 150, 150))
    for i, (name, (xs, ys)) in enumerate(curves.items()):
        colour = tuple(int(c) for c in PALETTE[i % len(PALETTE)])
        order = np.argsort(np.asarray(xs))
        keep = np.isfinite(np.asarray(ys)[order])
        pts = to_px(np.asarray(xs)[order][keep], np.asarray(ys)[order][keep])
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        draw.text((m + 6, m + 4 + 12 * i), name, fill=colour)
    return img
