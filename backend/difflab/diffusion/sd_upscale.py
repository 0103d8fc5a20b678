"""A1111's "SD upscale": enlarge a picture, then redraw it tile by tile with img2img.

The init image is upscaled (PIL's Lanczos or Nearest, or not at all), cut into tiles of the
generation's width x height that overlap by `overlap` pixels (spread evenly, the last row and
column flush with the edges), each tile goes through img2img at the request's strength, and
the tiles are put back together with their overlaps blended by a linear ramp, left to right
and top to bottom, as A1111's split_grid / combine_grid do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


@dataclass
class Tiles:
    """Where each tile sits: rows of (y, [x, ...]) over an image of width x height."""

    width: int
    height: int
    tile_w: int
    tile_h: int
    overlap: int
    rows: list[tuple[int, list[int]]] = field(default_factory=list)

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """Each tile's crop box, row by row."""
        return [(x, y, x + self.tile_w, y + self.tile_h) for y, xs in self.rows for x in xs]


def split(width: int, height: int, tile_w: int, tile_h: int, overlap: int) -> Tiles:
    """The tiling of a width x height picture (A1111's split_grid)."""
    cols = max(1, math.ceil((width - overlap) / (tile_w - overlap)))
    rows = max(1, math.ceil((height - overlap) / (tile_h - overlap)))
    dx = (width - tile_w) / (cols - 1) if cols > 1 else 0
    dy = (height - tile_h) / (rows - 1) if rows > 1 else 0
    tiles = Tiles(width, height, tile_w, tile_h, overlap)
    for r in range(rows):
        y = min(int(r * dy), height - tile_h)
        xs = [min(int(c * dx), width - tile_w) for c in range(cols)]
        tiles.rows.append((y, xs))
    return tiles


def _ramp(length: int, across: int, horizontal: bool) -> Image.Image:
    """A linear 0 -> 255 ramp over `length` pixels (the overlap), `across` pixels wide."""
    ramp = (np.arange(length, dtype=np.float32) * 255 / max(length, 1)).astype(np.uint8)
    grid = np.tile(ramp, (across, 1)) if horizontal else np.tile(ramp[:, None], (1, across))
    return Image.fromarray(grid, "L")


def combine(tiles: Tiles, images: list[Image.Image]) -> Image.Image:
    """The tiles put back, overlaps blended (A1111's combine_grid)."""
    out = Image.new("RGB", (tiles.width, tiles.height))
    ov = tiles.overlap
    it = iter(images)
    for y, xs in tiles.rows:
        row = Image.new("RGB", (tiles.width, tiles.tile_h))
        for x in xs:
            tile = next(it)
            if x == 0 or ov == 0:
                row.paste(tile, (x, 0))
                continue
            row.paste(tile.crop((0, 0, ov, tiles.tile_h)), (x, 0), _ramp(ov, tiles.tile_h, True))
            row.paste(tile.crop((ov, 0, tiles.tile_w, tiles.tile_h)), (x + ov, 0))
        if y == 0 or ov == 0:
            out.paste(row, (0, y))
            continue
        out.paste(row.crop((0, 0, tiles.width, ov)), (0, y), _ramp(ov, tiles.width, False))
        out.paste(row.crop((0, ov, tiles.width, tiles.tile_h)), (0, y + ov))
    return out


__all__ = ["Tiles", "combine", "split"]
