"""The audit log: who did what, when — admin actions, readable by admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from difflab.api.deps import AdminUser, DbRoute, SessionDep
from difflab.api.schemas import ListPublic, datetime
from difflab.db.models import AuditLog

router = APIRouter(tags=["audit"], route_class=DbRoute)


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    user_id: int | None
    username: str
    action: str
    target: str
    detail: dict[str, Any]
    created_at: datetime


@router.get("/audit-log", response_model=ListPublic[AuditEntryPublic])
def audit_log(
    session: SessionDep,
    admin: AdminUser,
    action: Annotated[str | None, Query(max_length=64, description="e.g. user.create")] = None,
    username: Annotated[str | None, Query(max_length=64, description="who acted")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ListPublic[AuditEntryPublic]:
    """Entries newest first, optionally of one action or one acting user."""
    q = select(AuditLog)
    if action:
        q = q.where(AuditLog.action == action)
    if username:
        q = q.where(AuditLog.username == username)
    count = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(
        q.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).offset(offset).limit(limit)
    )
    return ListPublic[AuditEntryPublic](
        data=[AuditEntryPublic.model_validate(r) for r in rows], count=count
    )
