"""LoRAs in the models directory (models/loras/): listed with their cards for the studio's
picker and the `lora` kind's results, their validation grids, and deleted by an admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from difflab.api.deps import AdminUser, CurrentUser, DbRoute
from difflab.config import get_settings
from difflab.diffusion import loras
from difflab.runtime import ParamError

router = APIRouter(prefix="/loras", tags=["loras"], route_class=DbRoute)


class LoraPublic(BaseModel):
    name: str = Field(description="Use as <lora:name:weight> or loras: [{name, weight}].")
    base_model: str | None = Field(description="The model it was trained on (from its card).")
    dataset: str | None = None
    steps: int | None = None
    rank: int | None = None
    alpha: float | None = None
    train_text_encoder: bool | None = None
    validation_prompts: list[str] = []
    created_at: datetime | None = None
    job_id: str | None = None
    size_bytes: int
    hash: str = Field(description="First 12 hex digits of the file's SHA-256.")
    preview_url: str | None = Field(description="Its validation grid: a row per step.")


def public(entry: dict[str, Any]) -> LoraPublic:
    card = entry["card"]
    return LoraPublic(
        name=entry["name"], base_model=entry["base_model"], dataset=card.get("dataset"),
        steps=card.get("steps"), rank=card.get("rank"), alpha=card.get("alpha"),
        train_text_encoder=card.get("train_text_encoder"),
        validation_prompts=card.get("validation_prompts") or [],
        created_at=card.get("created_at"), job_id=card.get("job_id"),
        size_bytes=entry["size_bytes"], hash=loras.short_hash(entry["path"]),
        preview_url=f"/api/v1/loras/{entry['name']}/preview.png" if entry["preview"] else None,
    )  # fmt: skip


@router.get("", response_model=list[LoraPublic])
def list_loras(user: CurrentUser) -> list[LoraPublic]:
    """Every LoRA in models/loras/, by name."""
    return [public(e) for e in loras.listing(get_settings().models_dir)]


def _find(name: str) -> loras.LoraFile:
    try:
        return loras.find(get_settings().models_dir, name)
    except ParamError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no LoRA {name!r}") from None


@router.get("/{name}/preview.png", response_class=FileResponse)
def preview(name: str, user: CurrentUser) -> FileResponse:
    """The LoRA's validation grid (one row per validation step, from step 0)."""
    png = _find(name).path.with_suffix(".png")
    if not png.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="this LoRA has no preview")
    return FileResponse(png, media_type="image/png")


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete(name: str, user: AdminUser) -> Response:
    """Remove a LoRA file with its card and preview (admins)."""
    path = _find(name).path
    for suffix in (".json", ".png"):
        path.with_suffix(suffix).unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
