"""Accounts: argon2 password hashes, API keys (stored hashed, shown once), browser sessions.

Nothing that signs someone in is stored in the clear: passwords as argon2id hashes, API keys
as SHA-256 digests (a key is 256 random bits, so a fast digest suffices; the plain key is
shown once, at creation), browser session tokens as HMAC-SHA256 digests keyed by
DIFFLAB_SECRET_KEY, so changing the secret key signs every browser out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from difflab.config import get_settings
from difflab.db.engine import writes_beside
from difflab.db.models import ApiKey, AuditLog, User, WebSession, utcnow

Role = Literal["admin", "learner"]
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


def _session_digest(token: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


MIN_PASSWORD = 10
COMMON_PASSWORDS = frozenset(
    {"password", "password1", "password123", "123456789", "1234567890", "qwertyuiop",
     "difflab", "difflab123", "letmein123", "changeme123", "administrator", "admin12345"}
)  # fmt: skip


def password_problem(password: str, username: str = "") -> str | None:
    """Why a new password is too weak, or None: long enough, not a common one, not the name."""
    if len(password) < MIN_PASSWORD:
        return f"use at least {MIN_PASSWORD} characters"
    if password.lower() in COMMON_PASSWORDS or len(set(password)) < 4:
        return "this password is too easy to guess"
    if username and username.lower() in password.lower():
        return "the password must not contain the username"
    return None


def find_user(session: Session, username: str) -> User | None:
    """The user of that name; names are unique regardless of case ("Alice" is "alice")."""
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def create_user(session: Session, username: str, password: str, role: Role = "learner") -> User:
    existing = find_user(session, username)
    if existing is not None:
        raise ValueError(f"user {existing.username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """A new password ends every browser session and revokes every API key of the user."""
    user.password_hash = hash_password(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.execute(delete(ApiKey).where(ApiKey.user_id == user.id))


_DUMMY_HASH = _hasher.hash("no user has this password")


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The same work whatever the outcome (unknown name, deactivated user, wrong password), so
    the time taken tells nothing about which it was."""
    user = find_user(session, username)
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.is_active:
        return None
    return user


class _VerifiedCredentials:
    """Credentials verified lately, for HTTP Basic: an A1111 script sends its password with
    every request, and argon2 is made to cost ~0.1 s. Holds keyed digests of (user, stored
    hash, password), never a password, for ttl_s (five minutes); a new password changes the stored
    hash, so an old entry never matches again. A wrong password is never held: it does the
    whole work each time."""

    def __init__(self, ttl_s: float = 300.0, size: int = 1024) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._key = secrets.token_bytes(32)  # this process's own
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, user: User, password: str) -> str:
        data = f"{user.id}\0{user.password_hash}\0{password}".encode()
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def holds(self, user: User, password: str) -> bool:
        digest, now = self._digest(user, password), time.monotonic()
        with self._lock:
            at = self._seen.get(digest)
            return at is not None and now - at <= self.ttl_s

    def add(self, user: User, password: str) -> None:
        digest = self._digest(user, password)
        with self._lock:
            self._seen[digest] = time.monotonic()
            self._seen.move_to_end(digest)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)


_verified = _VerifiedCredentials()


def authenticate_repeated(session: Session, username: str, password: str) -> User | None:
    """`authenticate` for credentials sent with every request (HTTP Basic): the argon2 work is
    done once per five minutes for credentials that were right."""
    user = find_user(session, username)
    if user is not None and user.is_active and _verified.holds(user, password):
        return user
    user = authenticate(session, username, password)
    if user is not None:
        _verified.add(user, password)
    return user


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # SQLite drops the zone


LAST_USED_EVERY_S = 60.0  # an API key's last use is written at most this often


def create_api_key(session: Session, user: User, name: str) -> tuple[ApiKey, str]:
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(user_id=user.id, name=name, prefix=key[:12], key_hash=_sha256(key))
    session.add(row)
    session.flush()
    return row, key


# Built once: every authenticated request runs it, and building a statement costs more than
# SQLAlchemy's cached compilation of it. The user and the key's columns come in one query
# (one entity to load, not two).
_KEY_LOOKUP = (
    select(User, ApiKey.id, ApiKey.key_hash, ApiKey.last_used_at)
    .join(User, User.id == ApiKey.user_id)
    .where(ApiKey.prefix == bindparam("prefix"))
)
_SESSION_LOOKUP = select(WebSession).where(WebSession.token_hash == bindparam("digest"))


def user_for_api_key(session: Session, key: str) -> User | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    digest = _sha256(key)
    found = session.execute(_KEY_LOOKUP, {"prefix": key[:12]})
    for user, key_id, key_hash, last in found:
        if secrets.compare_digest(key_hash, digest):
            now = utcnow()
            if last is None or (now - _aware(last)).total_seconds() >= LAST_USED_EVERY_S:
                # coarse; beside the request's session when that one only reads
                with writes_beside(session) as write:
                    write.execute(
                        update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now)
                    )
            return user if user.is_active else None
    return None


def create_web_session(session: Session, user: User, days: int) -> tuple[str, WebSession]:
    token = secrets.token_urlsafe(32)
    row = WebSession(
        user_id=user.id,
        token_hash=_session_digest(token),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return token, row


def web_session_for_token(session: Session, token: str) -> WebSession | None:
    row = session.scalar(_SESSION_LOOKUP, {"digest": _session_digest(token)})
    if row is None:
        return None
    expires = (
        row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=utcnow().tzinfo)
    )
    if expires < utcnow():
        with writes_beside(session) as write:  # the request's session may be read-only
            write.execute(delete(WebSession).where(WebSession.id == row.id))
        return None
    return row


def delete_web_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == _session_digest(token)))


def list_api_keys(session: Session, user: User) -> list[ApiKey]:
    return list(
        session.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id))
    )


def revoke_api_key(session: Session, user: User, key_id: int) -> ApiKey | None:
    """Delete one of the user's keys; None if they have no key with that id."""
    row = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id))
    if row is not None:
        session.delete(row)
        session.flush()
    return row


class LastAdmin(ValueError):
    """The change would leave no active admin."""


def _active_admins(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == "admin", User.is_active.is_(True))
        )
        or 0
    )


def update_user(
    session: Session, user: User, *, role: Role | None = None, is_active: bool | None = None
) -> User:
    """Change a user's role or active flag. Deactivating signs them out of every browser.

    Refuses (LastAdmin) a change that would leave no active admin, so nobody can lock the
    service out of its own administration.
    """
    demoted = role is not None and role != "admin" and user.role == "admin"
    deactivated = is_active is False and user.is_active and user.role == "admin"
    if (demoted or deactivated) and _active_admins(session) <= 1:
        raise LastAdmin(f"{user.username!r} is the last active admin")
    if role is not None:
        user.role = role
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    return user


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
