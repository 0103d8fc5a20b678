"""Typed dependencies: the database session and the signed-in user.

Three ways to sign in, each where it belongs:
- an API key as `Authorization: Bearer dl_...` (REST clients, the CLI);
- the browser session cookie (httpOnly, SameSite=strict); every state-changing request made
  with it must also carry the session's CSRF token in `X-CSRF-Token`;
- HTTP Basic, on the AUTOMATIC1111-compatible routes only (`BasicUser`), as A1111's
  --api-auth does; failed attempts count toward the sign-in limit like failed logins.

The request's unit of work (db/unit_of_work.py) is committed here, once, when the endpoint
returns (`DbRoute`, else `get_db`), and rolled back when it raises; routes never commit. Where
the end of the endpoint is too late, a route says so with `end_transaction`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import inspect
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, get_args, get_origin

from fastapi import Depends, HTTPException, Request, params, status
from fastapi.dependencies.utils import get_typed_signature
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from difflab.accounts import authenticate_repeated, user_for_api_key, web_session_for_token
from difflab.db.engine import new_session, read_session, writes_beside
from difflab.db.models import User

SESSION_COOKIE = "difflab_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


# Ending a request's transaction must never wait for a thread of the request threadpool.
# On SQLite every transaction holds the write lock from its first statement (BEGIN
# IMMEDIATE), so a request whose route has returned still holds it until this commit. Run
# that commit on the shared threadpool and, under load, all its threads can be requests
# waiting for that very lock: nothing moves until busy_timeout fails them all. Commit,
# rollback and close never wait for the lock (the transaction already has it), so a few
# threads of their own suffice.
_TEARDOWN = ThreadPoolExecutor(max_workers=4, thread_name_prefix="db-teardown")


async def get_db(request: Request) -> AsyncIterator[Session]:
    """The request's session: a reading one (db.engine.read_session) for GET and HEAD."""
    session = read_session() if request.method in ("GET", "HEAD") else new_session()
    try:
        yield session
    except BaseException:
        await _end(session, commit=False)
        raise
    await _end(session, commit=True)


async def _end(session: Session, *, commit: bool) -> None:
    """End the request's transaction and close the session: at once when the endpoint ended
    its transaction already (DbRoute), else in one hop to a teardown thread. Commit runs the
    transaction's after-commit effects; rollback drops them."""
    if not (session.in_transaction() or session.new or session.dirty or session.deleted):
        session.close()
        return

    def end() -> None:
        try:
            if commit:
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()

    await asyncio.get_running_loop().run_in_executor(_TEARDOWN, end)


SessionDep = Annotated[Session, Depends(get_db)]


def end_transaction(session: Session) -> None:
    """Commit the request's unit of work now, before the endpoint returns, and run its
    after-commit effects; what the endpoint does next is a new transaction, committed at the
    end as usual. A failed commit rolls back and raises.

    Only where the end of the endpoint is too late:
    - writes that must stay although the request then ends in an error: a failed sign-in
      counts toward the limit; a refused upload gives its dataset name back;
    - a claim other requests must see before the work that relies on it: a dataset's name,
      before its directory is moved into place;
    - before a long wait or slow work with no writes, so that no lock is held meanwhile
      (SQLite's write lock, or a read snapshot that keeps the WAL from being checkpointed):
      an event stream, reading a dataset's files.
    """
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _commit_open(values: Any) -> None:
    for value in values:
        if isinstance(value, Session) and value.in_transaction():
            value.commit()


def _ending_transactions(endpoint: Callable[..., Any], fold_sign_in: bool) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def ending(*args: Any, **kwargs: Any) -> Any:
            result = await endpoint(*args, **kwargs)
            if any(isinstance(v, Session) and v.in_transaction() for v in kwargs.values()):
                loop = asyncio.get_running_loop()
                done = loop.run_in_executor(_TEARDOWN, _commit_open, list(kwargs.values()))
                try:
                    await asyncio.shield(done)
                except asyncio.CancelledError:
                    # the commit goes on in its thread: get_db's rollback must wait for it
                    await asyncio.wait([done])
                    raise
            return result

        return ending

    typed = get_typed_signature(endpoint).parameters.values()
    signed_in = _signed_in_parameters(typed) if fold_sign_in else {}
    # FastAPI hands the request to one parameter only: the endpoint's own, if it has one
    request_name = next((p.name for p in typed if p.annotation is Request), None)

    def run(kwargs: dict[str, Any]) -> Any:
        if signed_in:
            request = kwargs[request_name] if request_name else kwargs.pop(_REQUEST)
            session = kwargs.pop(_SESSION)
            for name, (allow_basic, admins_only) in signed_in.items():
                kwargs[name] = _signed_in_user(request, session, allow_basic, admins_only)
            result = endpoint(**kwargs)
            _commit_open([*kwargs.values(), session])
            return result
        result = endpoint(**kwargs)
        _commit_open(kwargs.values())
        return result

    @functools.wraps(endpoint)
    async def hop(**kwargs: Any) -> Any:
        return await run_in_threadpool(run, kwargs)

    hop.signed_in = signed_in  # type: ignore[attr-defined]  # which parameters run() fills
    if signed_in:
        keyword = inspect.Parameter.KEYWORD_ONLY
        kept = [p.replace(kind=keyword) for p in typed if p.name not in signed_in]
        hidden = [inspect.Parameter(_SESSION, keyword, annotation=SessionDep)]
        if request_name is None:
            hidden.append(inspect.Parameter(_REQUEST, keyword, annotation=Request))
        hop.__signature__ = inspect.signature(endpoint).replace(  # type: ignore[attr-defined]
            parameters=[*kept, *hidden]
        )
    return hop


class DbRoute(APIRoute):
    """A route whose endpoint commits the request's session when it returns, before the
    response is sent: the request's one commit (an endpoint that raises commits nothing;
    get_db rolls back).

    A sync endpoint becomes an async one that makes one hop to the request threadpool, runs
    the endpoint and commits there. FastAPI then validates the response on the event loop;
    for a sync endpoint it would make a second hop to validate it, and a transaction still
    open would hold SQLite's write lock while that hop waits for a thread (under load every
    thread may be a request waiting for the lock: see `_TEARDOWN`). An async endpoint's
    transaction is committed on a teardown thread as it returns: get_db's own end comes only
    after the response was sent, when the client may already have asked for what it wrote.

    A GET endpoint's signed-in user (CurrentUser, BasicUser, AdminUser) is looked up in that
    same hop and the same transaction, not in a hop and a transaction of its own: the
    lookup, the endpoint's reads and the commit run one after the other in one thread. A
    state-changing request keeps FastAPI's order (who is asking, then its body), so an
    anonymous request is refused before its body is read.

    Use it as `APIRouter(route_class=DbRoute)`.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not (inspect.isgeneratorfunction(endpoint) or inspect.isasyncgenfunction(endpoint)):
            reads = set(kwargs.get("methods") or ()) <= SAFE_METHODS
            endpoint = _ending_transactions(endpoint, fold_sign_in=reads)
        super().__init__(path, endpoint, **kwargs)


def _unauthorized(detail: str = "not signed in", basic: bool = False) -> HTTPException:
    headers = {"WWW-Authenticate": 'Basic realm="difflab"' if basic else "Bearer"}
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers=headers)


def _user_from_request(request: Request, session: Session, allow_basic: bool) -> User | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value:
        user = user_for_api_key(session, value.strip())
        if user is None:
            raise _unauthorized("invalid API key")
        request.state.via_api_key = True
        return user
    if scheme.lower() == "basic" and value and allow_basic:
        try:
            username, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("malformed basic credentials", basic=True) from None
        return _basic_user(request, session, username, password)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        web = web_session_for_token(session, token)
        if web is None:
            return None
        check_csrf(request, web.csrf_token)
        user = session.get(User, web.user_id)
        return user if user is not None and user.is_active else None
    return None


def _basic_user(request: Request, session: Session, username: str, password: str) -> User:
    from difflab.api.ratelimit import (
        client_address,
        login_throttled,
        login_wait,
        record_login_failure,
    )

    address = client_address(request)
    wait = login_wait(session, username, address)
    if wait:
        raise login_throttled(wait)
    user = authenticate_repeated(session, username, password)
    if user is None:
        with writes_beside(session) as write:
            record_login_failure(write, username, address)
        end_transaction(session)  # the failure counts although the request ends in an error
        raise _unauthorized("invalid credentials", basic=True)
    return user


def check_csrf(request: Request, csrf_token: str) -> None:
    """A cookie-authenticated state change must echo the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not secrets.compare_digest(sent.encode(), csrf_token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="missing or wrong CSRF token")


def _resolve(request: Request, session: Session, allow_basic: bool) -> User | None:
    user = _user_from_request(request, session, allow_basic=allow_basic)
    # End the auth transaction now, in this thread: a writing session holds SQLite's write
    # lock until committed, and any session holds a pooled connection. Kept open until the
    # endpoint's own hop to a thread, many requests at once (500 streams opening) each hold a
    # connection while waiting for a thread, and every thread waits for a connection.
    end_transaction(session)
    return user


def _admitted(user: User | None, allow_basic: bool, admins_only: bool) -> User:
    """The user looked up, or the answer for who may not go on: 401 for nobody, 403 for a
    learner where admins only may."""
    if user is None:
        raise _unauthorized(basic=allow_basic)
    if admins_only and user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="admins only")
    return user


def get_current_user(request: Request, session: SessionDep) -> User:
    return _admitted(_resolve(request, session, allow_basic=False), False, False)


def get_basic_user(request: Request, session: SessionDep) -> User:
    """For the AUTOMATIC1111-compatible routes: HTTP Basic as with --api-auth, or any other way."""
    return _admitted(_resolve(request, session, allow_basic=True), True, False)


def get_admin(user: Annotated[User, Depends(get_current_user)]) -> User:
    return _admitted(user, False, True)


CurrentUser = Annotated[User, Depends(get_current_user)]
BasicUser = Annotated[User, Depends(get_basic_user)]
AdminUser = Annotated[User, Depends(get_admin)]


# The signed-in parameters DbRoute looks up inside a GET endpoint's own hop:
# dependency -> (HTTP Basic allowed, admins only).
_SIGNED_IN: dict[Callable[..., Any], tuple[bool, bool]] = {
    get_current_user: (False, False),
    get_basic_user: (True, False),
    get_admin: (False, True),
}
_REQUEST, _SESSION = "_signed_in_request", "_signed_in_session"


def _signed_in_parameters(typed: Iterable[inspect.Parameter]) -> dict[str, tuple[bool, bool]]:
    """Which of an endpoint's parameters (its typed signature's) are the signed-in user."""
    found = {}
    for param in typed:
        marks = (
            list(get_args(param.annotation)[1:])
            if get_origin(param.annotation) is Annotated
            else []
        )
        marks.append(param.default)
        for mark in marks:
            if isinstance(mark, params.Depends) and mark.dependency in _SIGNED_IN:
                found[param.name] = _SIGNED_IN[mark.dependency]
    return found


def _signed_in_user(
    request: Request, session: Session, allow_basic: bool, admins_only: bool
) -> User:
    """get_current_user, get_basic_user or get_admin, in the endpoint's thread: the lookup's
    transaction goes on into the endpoint's, as nothing waits between them."""
    user = _user_from_request(request, session, allow_basic=allow_basic)
    return _admitted(user, allow_basic, admins_only)


class SignIn:
    """The signed-in user of an async endpoint, looked up when the endpoint first asks for it
    (`user()`, in a thread): inside the hop the endpoint makes for its own reads, in the same
    transaction, instead of a hop and a transaction of its own before the endpoint runs."""

    def __init__(self, request: Request, session: Session) -> None:
        self.request, self.session = request, session
        self._user: User | None = None

    def user(self) -> User:
        """The user (401 if nobody is signed in); blocking: call it from a thread."""
        if self._user is None:
            self._user = _signed_in_user(self.request, self.session, False, False)
        return self._user


async def sign_in_later(request: Request, session: SessionDep) -> SignIn:
    return SignIn(request, session)


LaterUser = Annotated[SignIn, Depends(sign_in_later)]
