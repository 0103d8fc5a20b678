"""Small PNG renderings of training artifacts (no plotting library needed)."""

from __future__ import annotations

import numpy as np
from PIL import Image

# anchor colors of a viridis-like map, low -> high
_ANCHORS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to RGB uint8 by linear interpolation between the anchors."""
    v = np.clip(values, 0.0, 1.0) * (len(_ANCHORS) - 1)
    lo = np.floor(v).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (v - lo)[..., None]
    rgb = _ANCHORS[lo] * (1 - frac) + _ANCHORS[lo + 1] * frac
    return rgb.round().astype(np.uint8)


def heatmap_image(matrix: np.ndarray, cell: int = 16) -> Image.Image:
    """A matrix as a heatmap PNG, min-max normalized, `cell` pixels per entry."""
    m = np.asarray(matrix, dtype=np.float64)
    span = float(m.max() - m.min()) or 1.0
    rgb = colormap((m - m.min()) / span)
    img = Image.fromarray(rgb, "RGB")
    return img.resize((m.shape[1] * cell, m.shape[0] * cell), Image.Resampling.NEAREST)
