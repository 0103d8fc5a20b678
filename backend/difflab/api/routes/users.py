"""Users (admins manage them) and API keys and passwords (anyone, for themselves).

Every change an admin makes lands in the audit log. Users are deactivated, never deleted:
their jobs, generations and the audit trail keep a name to point at.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from difflab.accounts import (
    LastAdmin,
    audit,
    create_api_key,
    create_user,
    list_api_keys,
    password_problem,
    revoke_api_key,
    set_password,
    update_user,
    verify_password,
)
from difflab.api.deps import SESSION_COOKIE, AdminUser, CurrentUser, DbRoute, SessionDep
from difflab.api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ListPublic,
    UserCreate,
    UserPublic,
    datetime,
)
from difflab.db.models import User

router = APIRouter(prefix="/users", tags=["users"], route_class=DbRoute)


class UserAdminPublic(UserPublic):
    """A user as admins see them: with the active flag."""

    is_active: bool


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["admin", "learner"] | None = Field(None, description="new role")
    is_active: bool | None = Field(None, description="false: the user can no longer sign in")
    password: str | None = Field(
        None, min_length=10, max_length=256, description="a new password (signs them out)"
    )


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=10, max_length=256)


class ApiKeyPublic(BaseModel):
    """An API key as listed: its name and first characters, never the key."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


def _get_user(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="user not found")
    return user


@router.get("", response_model=ListPublic[UserAdminPublic])
def list_users(
    session: SessionDep,
    admin: AdminUser,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ListPublic[UserAdminPublic]:
    count = session.scalar(select(func.count()).select_from(User)) or 0
    rows = session.scalars(select(User).order_by(User.id).offset(offset).limit(limit))
    return ListPublic[UserAdminPublic](
        data=[UserAdminPublic.model_validate(u, from_attributes=True) for u in rows], count=count
    )


@router.post("", response_model=UserAdminPublic, status_code=status.HTTP_201_CREATED)
def add_user(body: UserCreate, session: SessionDep, admin: AdminUser) -> UserAdminPublic:
    _check_password(body.password, body.username, "password")
    try:
        user = create_user(session, body.username, body.password, body.role)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    audit(session, admin, "user.create", body.username, role=body.role)
    return UserAdminPublic.model_validate(user, from_attributes=True)


@router.patch("/{user_id}", response_model=UserAdminPublic)
def change_user(
    user_id: int, body: UserUpdate, session: SessionDep, admin: AdminUser
) -> UserAdminPublic:
    """Change a user's role, active flag or password (admins only; audited)."""
    user = _get_user(session, user_id)
    if body.password is not None:
        _check_password(body.password, user.username, "password")
    try:
        update_user(session, user, role=body.role, is_active=body.is_active)
    except LastAdmin as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    if body.password is not None:
        set_password(session, user, body.password)
    changes = body.model_dump(exclude_none=True, exclude={"password"})
    if body.password is not None:
        changes["password"] = "changed"
    audit(session, admin, "user.update", user.username, **changes)
    return UserAdminPublic.model_validate(user, from_attributes=True)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(
    body: PasswordChange, response: Response, session: SessionDep, user: CurrentUser
) -> None:
    """Change your own password; every browser session of yours ends (sign in again)."""
    if not verify_password(user.password_hash, body.current_password):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="current password is wrong")
    _check_password(body.new_password, user.username, "new_password")
    set_password(session, user, body.new_password)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


@router.get("/me/api-keys", response_model=list[ApiKeyPublic])
def my_api_keys(session: SessionDep, user: CurrentUser) -> list[ApiKeyPublic]:
    return [ApiKeyPublic.model_validate(k) for k in list_api_keys(session, user)]


@router.post("/me/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def add_api_key(
    body: ApiKeyCreate, request: Request, session: SessionDep, user: CurrentUser
) -> ApiKeyCreated:
    """Create an API key; the key is in this response only (it is stored as a digest).
    Only a password sign-in may create keys: a leaked key cannot make itself more keys."""
    if getattr(request.state, "via_api_key", False):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="API keys are created from a password sign-in, not with another API key",
        )
    row, key = create_api_key(session, user, body.name)
    audit(session, user, "apikey.create", body.name, key_id=row.id)
    return ApiKeyCreated(id=row.id, name=row.name, key=key)


@router.delete("/me/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_api_key(key_id: int, session: SessionDep, user: CurrentUser) -> None:
    row = revoke_api_key(session, user, key_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="API key not found")
    audit(session, user, "apikey.revoke", row.name, key_id=key_id)


@router.get("/{user_id}/api-keys", response_model=list[ApiKeyPublic])
def user_api_keys(user_id: int, session: SessionDep, admin: AdminUser) -> list[ApiKeyPublic]:
    """Any user's API keys (admins only): names and first characters, never the keys."""
    user = _get_user(session, user_id)
    return [ApiKeyPublic.model_validate(k) for k in list_api_keys(session, user)]


@router.delete("/{user_id}/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_user_api_key(user_id: int, key_id: int, session: SessionDep, admin: AdminUser) -> None:
    """Revoke any user's API key (admins only; audited)."""
    user = _get_user(session, user_id)
    row = revoke_api_key(session, user, key_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="API key not found")
    audit(session, admin, "apikey.revoke", row.name, key_id=key_id, owner=user.username)


def _check_password(password: str, username: str, field: str) -> None:
    problem = password_problem(password, username)
    if problem:
        raise RequestValidationError(
            [{"loc": ("body", field), "msg": problem, "type": "value_error"}]
        )
