"""Learning views bound to real data: the forward process q(x_t | x_0) on a dataset image."""

from __future__ import annotations

import io
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from difflab.api.deps import CurrentUser, DbRoute
from difflab.api.routes.generations import noise_schedule
from difflab.datasets.shapes import ShapesDataset

router = APIRouter(prefix="/learn", tags=["learn"], route_class=DbRoute)


def forward_png(index: int, t: int, model: str, seed: int) -> tuple[bytes, float]:
    """x_t = sqrt(ᾱ_t)·x_0 + sqrt(1 − ᾱ_t)·ε in pixel space, with the model's own ᾱ schedule."""
    from PIL import Image

    abar = noise_schedule(model)["alphas_cumprod"]
    if not 0 <= t < len(abar):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            detail=[
                {
                    "loc": ["query", "t"],
                    "msg": f"t must be in [0, {len(abar) - 1}]",
                    "type": "value_error",
                }
            ],
        )
    sample = ShapesDataset(num_samples=max(index + 1, 1), split="val")[index]
    x0 = np.asarray(sample.image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0  # [-1, 1]
    eps = np.random.default_rng(seed).standard_normal(x0.shape).astype(np.float32)
    a = float(abar[t])
    xt = np.sqrt(a) * x0 + np.sqrt(1.0 - a) * eps
    pixels = ((np.clip(xt, -1, 1) + 1.0) * 127.5).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue(), a


@router.get("/forward", response_class=Response, responses={200: {"content": {"image/png": {}}}})
async def forward(
    user: CurrentUser,
    t: Annotated[int, Query(ge=0, le=10_000)] = 500,
    index: Annotated[int, Query(ge=0, le=10_000)] = 0,
    model: str = "house",
    seed: Annotated[int, Query(ge=0, le=2**31)] = 0,
    dataset: Annotated[str, Query(pattern="^shapes$")] = "shapes",
) -> Response:
    png, abar = await run_in_threadpool(forward_png, index, t, model, seed)
    return Response(
        png,
        media_type="image/png",
        headers={
            "X-Alpha-Bar": f"{abar:.6f}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )
