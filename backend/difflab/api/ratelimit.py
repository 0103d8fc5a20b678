"""Per-user and per-address rate limits: sliding windows over rows of `rate_events`.

A limit allows `limit` counted requests per key in any window of `window_s` seconds. With
the counted times t_1 <= ... <= t_n inside the window (now - window_s, now], a new request is
refused while n >= limit; it may come back once enough of them have left the window, that
is after t_(n - limit + 1) + window_s - now seconds (the Retry-After of the 429).

Rows live in the database, so the limits hold across API processes and restarts. Check and
record run in one transaction; on PostgreSQL an advisory lock per (bucket, key) makes two
concurrent requests for the same key take turns (SQLite's BEGIN IMMEDIATE already does).

Work is not rate-limited: a script that sends one request after another never sees a 429.
The server is protected by the work queued instead (api/submit.py: per-user and global queue
caps). `GenerationLimit` / `BasicGenerationLimit` only refuse an over-long prompt before
anything tokenizes it. Failed sign-ins are limited per client address and per (username,
address), and a username failing from many addresses backs off for a bounded time
(`login_wait`, `record_login_failure`): nobody can lock an account out for long.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from difflab.api.deps import BasicUser, CurrentUser, SessionDep
from difflab.config import Settings, get_settings
from difflab.db.engine import advisory_lock
from difflab.db.models import RateEvent, User, utcnow
from difflab.jobs.lifecycle import as_utc

PROMPT_FIELDS = ("prompt", "negative_prompt")


@dataclass(frozen=True)
class Limit:
    """At most `limit` counted requests per key in any `window_s` seconds."""

    bucket: str
    limit: int
    window_s: float


class RateLimited(Exception):
    def __init__(self, retry_after_s: int, detail: str) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
        self.detail = detail


def too_many(retry_after_s: int, detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=detail,
        headers={"Retry-After": str(max(1, retry_after_s))},
    )


def wait_seconds(session: Session, limit: Limit, key: str) -> int:
    """0 when one more request fits the window; else whole seconds until one does."""
    now = utcnow()
    start = now - timedelta(seconds=limit.window_s)
    where = (RateEvent.bucket == limit.bucket, RateEvent.key == key, RateEvent.created_at > start)
    n = session.scalar(select(func.count()).select_from(RateEvent).where(*where)) or 0
    if n < limit.limit:
        return 0
    # the (n - limit + 1)-th oldest event must leave the window before one more fits
    t = session.scalar(
        select(RateEvent.created_at)
        .where(*where)
        .order_by(RateEvent.created_at)
        .offset(n - limit.limit)
        .limit(1)
    )
    left = (as_utc(t) or now) + timedelta(seconds=limit.window_s) - now
    return max(1, math.ceil(left.total_seconds()))


def record(session: Session, limit: Limit, key: str) -> None:
    """Count one request for `key`, dropping this bucket's rows that left the window."""
    now = utcnow()
    session.execute(
        delete(RateEvent).where(
            RateEvent.bucket == limit.bucket,
            RateEvent.created_at <= now - timedelta(seconds=limit.window_s),
        )
    )
    session.add(RateEvent(bucket=limit.bucket, key=key, created_at=now))
    session.flush()


def hit(session: Session, limit: Limit, key: str) -> None:
    """Check and count one request in the caller's transaction; RateLimited when over."""
    advisory_lock(session, limit.bucket, key)  # check and record take turns per key
    wait = wait_seconds(session, limit, key)
    if wait:
        raise RateLimited(wait, f"rate limit: {limit.limit} requests per {limit.window_s:g} s")
    record(session, limit, key)


# --- generation ------------------------------------------------------------------------


def check_prompts(values: dict[str, Any], loc: tuple[str, ...], max_chars: int) -> None:
    """422 naming the field when a prompt is longer than DIFFLAB_MAX_PROMPT_CHARS."""
    errors = [
        {
            "loc": (*loc, name),
            "msg": f"at most {max_chars} characters (got {len(value)})",
            "type": "string_too_long",
            "input": value[:50] + "...",
        }
        for name in PROMPT_FIELDS
        if isinstance(value := values.get(name), str) and len(value) > max_chars
    ]
    if errors:
        raise RequestValidationError(errors)


async def _generation_limits(request: Request, session: Session, user: User) -> None:
    settings = get_settings()
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None  # the route's own validation answers malformed JSON
    if isinstance(body, dict):
        check_prompts(body, ("body",), settings.max_prompt_chars)


async def generation_limits(request: Request, session: SessionDep, user: CurrentUser) -> None:
    """Dependency of generation routes: the prompt length, before anything tokenizes it."""
    await _generation_limits(request, session, user)


async def basic_generation_limits(request: Request, session: SessionDep, user: BasicUser) -> None:
    """The same for the AUTOMATIC1111-compatible routes (HTTP Basic accepted)."""
    await _generation_limits(request, session, user)


GenerationLimit = Annotated[None, Depends(generation_limits)]
BasicGenerationLimit = Annotated[None, Depends(basic_generation_limits)]


# --- sign-in ---------------------------------------------------------------------------


def login_limit(settings: Settings) -> Limit:
    return Limit("login", settings.login_max_failures, settings.login_window_s)


def client_address(request: Request) -> str:
    """The client's address; behind a trusted proxy, the last address X-Forwarded-For names
    that is not itself a trusted proxy."""
    direct = request.client.host if request.client else "unknown"
    proxies = set(get_settings().trusted_proxies)
    if direct not in proxies:
        return direct
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in proxies:
            return hop
    return direct


def _name(username: str) -> str:
    return username.strip().lower()[:200]


def login_wait(session: Session, username: str, address: str) -> int:
    """Seconds before this client may try this username again (0: now).

    - per client address and per (username, address): LOGIN_MAX_FAILURES in LOGIN_WINDOW_S,
      then that client waits until the oldest counted failure leaves the window;
    - per username across addresses (a spread-out attack on one account): past
      LOGIN_MAX_FAILURES failures in the window, each new try waits 2^(n - max) s after the
      latest failure, at most LOGIN_BACKOFF_MAX_S. The account's owner therefore waits at most
      that long, from anywhere: the attacker cannot lock them out.
    """
    settings = get_settings()
    limit = login_limit(settings)
    name = _name(username)
    client_keys = (f"ip:{address}", f"{name}@{address}")
    account_key = f"name:{name}"
    # the three counts in one statement (every HTTP Basic request asks): a client over its
    # limit then reads when it may go on
    start = utcnow() - timedelta(seconds=limit.window_s)
    counted = {
        key: (int(n), latest)
        for key, n, latest in session.execute(
            select(RateEvent.key, func.count(), func.max(RateEvent.created_at))
            .where(
                RateEvent.bucket == limit.bucket,
                RateEvent.key.in_((*client_keys, account_key)),
                RateEvent.created_at > start,
            )
            .group_by(RateEvent.key)
        )
    }
    wait = max(
        (wait_seconds(session, limit, key) for key in client_keys
         if counted.get(key, (0, None))[0] >= limit.limit),
        default=0,
    )  # fmt: skip
    n, latest = counted.get(account_key, (0, None))
    if n >= limit.limit and latest is not None:
        backoff = min(settings.login_backoff_max_s, 2.0 ** (n - limit.limit))
        left = (as_utc(latest) or utcnow()) + timedelta(seconds=backoff) - utcnow()
        wait = max(wait, math.ceil(left.total_seconds()))
    return max(0, wait)


def record_login_failure(session: Session, username: str, address: str) -> None:
    limit = login_limit(get_settings())
    name = _name(username)
    for key in (f"ip:{address}", f"{name}@{address}", f"name:{name}"):
        record(session, limit, key)


def login_throttled(wait: int) -> HTTPException:
    return too_many(wait, f"too many failed sign-ins; try again in {wait} s")
