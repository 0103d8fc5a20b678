"""Sign in and out (browser session cookie + CSRF token) and who am I."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from difflab.accounts import (
    authenticate,
    create_web_session,
    delete_web_session,
    web_session_for_token,
)
from difflab.api.deps import SESSION_COOKIE, CurrentUser, SessionDep
from difflab.api.schemas import LoginRequest, SessionPublic, UserPublic
from difflab.config import get_settings

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=SessionPublic)
def login(body: LoginRequest, response: Response, session: SessionDep) -> SessionPublic:
    user = authenticate(session, body.username, body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong username or password")
    settings = get_settings()
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
        delete_web_session(session, token)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", response_model=SessionPublic)
def me(request: Request, user: CurrentUser, session: SessionDep) -> SessionPublic:
    token = request.cookies.get(SESSION_COOKIE)
    web = web_session_for_token(session, token) if token else None
    return SessionPublic(
        user=UserPublic.model_validate(user), csrf_token=web.csrf_token if web else ""
    )
