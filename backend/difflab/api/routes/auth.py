"""Sign in and out (browser session cookie + CSRF token) and who am I.

The session cookie is httpOnly (scripts cannot read it), SameSite=strict (other sites'
pages cannot send it), Secure in production, and holds only a random token whose keyed
digest is stored. The CSRF token comes back in the JSON body; the frontend sends it as
X-CSRF-Token with every state-changing request. Failed sign-ins are limited per username
and per client address (429 with Retry-After).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from difflab.accounts import (
    authenticate,
    create_web_session,
    delete_web_session,
    web_session_for_token,
)
from difflab.api.deps import (
    SESSION_COOKIE,
    CurrentUser,
    DbRoute,
    SessionDep,
    check_csrf,
    end_transaction,
)
from difflab.api.ratelimit import (
    client_address,
    login_throttled,
    login_wait,
    record_login_failure,
)
from difflab.api.schemas import LoginRequest, SessionPublic, UserPublic
from difflab.config import get_settings

router = APIRouter(prefix="/auth", tags=["auth"], route_class=DbRoute)


@router.post(
    "/login",
    response_model=SessionPublic,
    responses={
        401: {"description": "wrong username or password"},
        429: {"description": "throttled"},
    },
)
def login(
    body: LoginRequest, request: Request, response: Response, session: SessionDep
) -> SessionPublic:
    address = client_address(request)
    wait = login_wait(session, body.username, address)
    if wait:
        raise login_throttled(wait)
    user = authenticate(session, body.username, body.password)
    if user is None:
        record_login_failure(session, body.username, address)
        end_transaction(session)  # the failure counts although the request ends in a 401
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong username or password")
    settings = get_settings()
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        delete_web_session(session, old)  # a new sign-in never reuses a session token
    token, web = create_web_session(session, user, settings.session_days)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.mode == "production",
        max_age=settings.session_days * 86400,
        path="/",
    )
    return SessionPublic(user=UserPublic.model_validate(user), csrf_token=web.csrf_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response, session: SessionDep) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        web = web_session_for_token(session, token)
        if web is not None:
            check_csrf(request, web.csrf_token)
            delete_web_session(session, token)
    settings = get_settings()
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.mode == "production",
    )


@router.get("/me", response_model=SessionPublic)
def me(request: Request, user: CurrentUser, session: SessionDep) -> SessionPublic:
    token = request.cookies.get(SESSION_COOKIE)
    web = web_session_for_token(session, token) if token else None
    return SessionPublic(
        user=UserPublic.model_validate(user), csrf_token=web.csrf_token if web else ""
    )
