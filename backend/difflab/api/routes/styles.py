"""Saved prompt styles (A1111's), per user: listed, saved, deleted here and at
GET /sdapi/v1/prompt-styles; applied by name (`styles: [...]`) on the A1111 routes and in the
studio.

A style's prompt is merged into a request's prompt as A1111 merges it: where the style holds
`{prompt}` the request's prompt goes there, otherwise the style is appended after a comma; the
negative prompt the same way. Styles apply in the order named.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from difflab.api.deps import CurrentUser, DbRoute, SessionDep
from difflab.api.submit import field_error
from difflab.db.models import PromptStyle

router = APIRouter(tags=["styles"], route_class=DbRoute)

StyleName = Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f/\\]+$")


class StyleBody(BaseModel):
    prompt: str = Field("", max_length=2000, description="May hold {prompt}.")
    negative_prompt: str = Field("", max_length=2000, description="May hold {prompt}.")


class StylePublic(StyleBody):
    name: str


def merge_prompts(style: str, prompt: str) -> str:
    """A1111's rule: the prompt at `{prompt}` in the style, else both joined by ", "."""
    if "{prompt}" in style:
        return style.replace("{prompt}", prompt)
    return ", ".join(part for part in (prompt.strip(), style.strip()) if part)


def styles_of(session: Session, user_id: int) -> list[PromptStyle]:
    rows = session.scalars(
        select(PromptStyle).where(PromptStyle.owner_id == user_id).order_by(PromptStyle.name)
    )
    return list(rows)


def apply_styles(
    session: Session, user_id: int, names: Sequence[str], prompt: str, negative_prompt: str
) -> tuple[str, str]:
    """The prompts with the named styles merged in; 422 at ["body", "styles", i] for a name
    the user has no style of."""
    saved = {s.name: s for s in styles_of(session, user_id)} if names else {}
    for i, name in enumerate(names):
        style = saved.get(name)
        if style is None:
            known = ", ".join(saved) or "none saved"
            raise field_error(("body", "styles", i), f"no style {name!r} (yours: {known})")
        prompt = merge_prompts(style.prompt, prompt)
        negative_prompt = merge_prompts(style.negative_prompt, negative_prompt)
    return prompt, negative_prompt


def _public(style: PromptStyle) -> StylePublic:
    return StylePublic(name=style.name, prompt=style.prompt, negative_prompt=style.negative_prompt)


@router.get("/styles", response_model=list[StylePublic])
def list_styles(session: SessionDep, user: CurrentUser) -> list[StylePublic]:
    """Your saved styles, by name."""
    return [_public(s) for s in styles_of(session, user.id)]


@router.put("/styles/{name}", response_model=StylePublic)
def save_style(
    body: StyleBody, session: SessionDep, user: CurrentUser, name: str = StyleName
) -> StylePublic:
    """Save a style under `name` (replacing yours of that name)."""
    style = session.scalar(
        select(PromptStyle).where(PromptStyle.owner_id == user.id, PromptStyle.name == name)
    )
    if style is None:
        style = PromptStyle(owner_id=user.id, name=name)
        session.add(style)
    style.prompt, style.negative_prompt = body.prompt, body.negative_prompt
    return _public(style)


@router.delete("/styles/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_style(session: SessionDep, user: CurrentUser, name: str = StyleName) -> None:
    style = session.scalar(
        select(PromptStyle).where(PromptStyle.owner_id == user.id, PromptStyle.name == name)
    )
    if style is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="style not found")
    session.delete(style)
