"""Accounts: argon2 password hashes, API keys (stored hashed, shown once), browser sessions."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from difflab.db.models import ApiKey, AuditLog, User, WebSession, utcnow

Role = Literal["admin", "user"]
_hasher = PasswordHasher()
API_KEY_PREFIX = "dl_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create_user(session: Session, username: str, password: str, role: Role = "user") -> User:
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise ValueError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        _hasher.hash(password)  # same work either way: no user enumeration by timing
        return None
    if not user.is_active or not verify_password(user.password_hash, password):
        return None
    return user


def create_api_key(session: Session, user: User, name: str) -> tuple[ApiKey, str]:
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(user_id=user.id, name=name, prefix=key[:12], key_hash=_sha256(key))
    session.add(row)
    session.flush()
    return row, key


def user_for_api_key(session: Session, key: str) -> User | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    digest = _sha256(key)
    for row in session.scalars(select(ApiKey).where(ApiKey.prefix == key[:12])):
        if secrets.compare_digest(row.key_hash, digest):
            row.last_used_at = utcnow()
            user = session.get(User, row.user_id)
            return user if user is not None and user.is_active else None
    return None


def create_web_session(session: Session, user: User, days: int) -> tuple[str, WebSession]:
    token = secrets.token_urlsafe(32)
    row = WebSession(
        user_id=user.id,
        token_hash=_sha256(token),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return token, row


def web_session_for_token(session: Session, token: str) -> WebSession | None:
    row = session.scalar(select(WebSession).where(WebSession.token_hash == _sha256(token)))
    if row is None:
        return None
    expires = (
        row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=utcnow().tzinfo)
    )
    if expires < utcnow():
        session.delete(row)
        return None
    return row


def delete_web_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == _sha256(token)))


def ensure_admin(session: Session, username: str, password: str) -> str | None:
    """Create the first admin when no user exists; returns the password if one was generated."""
    if (session.scalar(select(func.count()).select_from(User)) or 0) > 0:
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    create_user(session, username, password, role="admin")
    return generated


def audit(
    session: Session, user: User | None, action: str, target: str = "", **detail: object
) -> None:
    session.add(
        AuditLog(
            user_id=user.id if user else None,
            username=user.username if user else "",
            action=action,
            target=target,
            detail=dict(detail),
        )
    )
