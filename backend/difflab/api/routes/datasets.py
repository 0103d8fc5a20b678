"""Datasets: the captioned image sets the house model trains on, and the lab's tabular sets."""

from __future__ import annotations

import io
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from difflab.api.deps import CurrentUser, DbRoute
from difflab.datasets.registry import list_datasets, sample_grid
from difflab.datasets.toy import CLASSIFICATION_SETS, REGRESSION_SETS

router = APIRouter(prefix="/datasets", tags=["datasets"], route_class=DbRoute)


class DatasetPublic(BaseModel):
    name: str
    kind: Literal["images", "classification", "regression"]
    description: str
    sample_url: str | None


@router.get("", response_model=list[DatasetPublic])
def datasets(user: CurrentUser) -> list[DatasetPublic]:
    out = [
        DatasetPublic(
            name=d["name"],
            kind="images",
            description=d["description"],
            sample_url=f"/api/v1/datasets/{d['name']}/sample.png",
        )
        for d in list_datasets()
    ]
    out += [
        DatasetPublic(
            name=n, kind="classification", description="learning-lab dataset", sample_url=None
        )
        for n in CLASSIFICATION_SETS
    ]
    out += [
        DatasetPublic(
            name=n, kind="regression", description="learning-lab dataset", sample_url=None
        )
        for n in REGRESSION_SETS
    ]
    return out


def _grid_png(name: str, n: int, seed: int) -> bytes:
    try:
        img = sample_grid(name, n=n, seed=seed)
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc.args[0])) from None
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@router.get(
    "/{name}/sample.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
async def sample(
    name: str,
    user: CurrentUser,
    n: int = Query(16, ge=1, le=64),
    seed: int = Query(0, ge=0, le=2**31),
) -> Response:
    png = await run_in_threadpool(_grid_png, name, n, seed)
    return Response(
        png,
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
