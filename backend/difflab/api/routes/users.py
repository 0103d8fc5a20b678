"""Users (admins manage them) and API keys (anyone, for themselves)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import func, select

from difflab.accounts import audit, create_api_key, create_user
from difflab.api.deps import AdminUser, CurrentUser, SessionDep
from difflab.api.schemas import ApiKeyCreate, ApiKeyCreated, ListPublic, UserCreate, UserPublic
from difflab.db.models import User

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=ListPublic[UserPublic])
def list_users(
    session: SessionDep, admin: AdminUser, offset: int = 0, limit: int = 100
) -> ListPublic[UserPublic]:
    count = session.scalar(select(func.count()).select_from(User)) or 0
    rows = session.scalars(
        select(User).order_by(User.id).offset(max(offset, 0)).limit(min(max(limit, 1), 500))
    )
    return ListPublic[UserPublic](data=[UserPublic.model_validate(u) for u in rows], count=count)


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def add_user(body: UserCreate, session: SessionDep, admin: AdminUser) -> UserPublic:
    try:
        user = create_user(session, body.username, body.password, body.role)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    audit(session, admin, "user.create", body.username, role=body.role)
    return UserPublic.model_validate(user)


@router.post("/me/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def add_api_key(body: ApiKeyCreate, session: SessionDep, user: CurrentUser) -> ApiKeyCreated:
    row, key = create_api_key(session, user, body.name)
    audit(session, user, "apikey.create", body.name)
    return ApiKeyCreated(id=row.id, name=row.name, key=key)
