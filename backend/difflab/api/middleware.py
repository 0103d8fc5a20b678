"""ASGI middleware of the API: the request body cap, the same-origin check, security headers.

Each is plain ASGI (no BaseHTTPMiddleware), so streaming responses (SSE) pass through
untouched and the body cap also holds for chunked uploads that send no Content-Length.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The frontend is served by this app: scripts, styles, images and API calls all come from it.
# Inline styles stay allowed because React sets style attributes; scripts never inline.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# Swagger UI (the development docs, or production docs for signed-in users) loads its script
# and styles from a CDN and starts itself with an inline script: it gets no CSP of ours.
CSP_EXEMPT_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


async def _send_json(
    send: Send, status: int, detail: str, headers: Iterable[tuple[str, str]] = ()
) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *((k.encode(), v.encode()) for k, v in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes the cap; FastAPI answers it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"request body over {limit} bytes")


class BodyLimit:
    """413 for a body over `max_bytes`: at once from Content-Length, else while it streams in."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: dict[str, int] | None = None,
        prefixes: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.default_max = max_bytes
        self.larger = larger or {}  # exact paths allowed more (image uploads)
        self.prefixes = prefixes or {}  # paths under these allowed more (upload chunks)

    def limit(self, path: str) -> int:
        if path in self.larger:
            return self.larger[path]
        for prefix, limit in self.prefixes.items():
            if path.startswith(prefix):
                return limit
        return self.default_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await _send_json(send, 400, "invalid Content-Length")
                    return
                if int(value) > limit:
                    await _send_json(send, 413, f"request body over {limit} bytes")
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            # raised where no route's exception handling saw it (a middleware read the body)
            if not started:
                await _send_json(send, 413, f"request body over {limit} bytes")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class SameOrigin:
    """Refuse a state-changing request that a browser sent from another site.

    Browsers send `Origin` with every cross-origin POST, PUT, PATCH and DELETE. Such a request
    is accepted only from this server's own origin (the Host it was addressed to) or from an
    origin listed in DIFFLAB_CORS_ORIGINS. Clients that are not browsers send no Origin and
    are not affected. This stands beside the SameSite=strict cookie and the CSRF token: any
    one of the three stops a cross-site form post to an admin endpoint.
    """

    def __init__(
        self, app: ASGIApp, allowed_origins: Iterable[str] = (), trusted_proxies: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.allowed = {o.rstrip("/").lower() for o in allowed_origins}
        self.proxies = set(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            origin = _header(scope, b"origin")
            fetch_site = _header(scope, b"sec-fetch-site")
            hosts = [_header(scope, b"host")]
            if from_trusted_proxy(scope, self.proxies):  # anyone else could set it
                hosts.append(_header(scope, b"x-forwarded-host"))
            if origin is not None and not self._allowed(origin, hosts):
                await _send_json(send, 403, "cross-origin request refused")
                return
            if origin is None and fetch_site == "cross-site":
                await _send_json(send, 403, "cross-site request refused")
                return
        await self.app(scope, receive, send)

    def _allowed(self, origin: str, hosts: list[str | None]) -> bool:
        """Listed, or the host this request was sent to: its Host, or the X-Forwarded-Host
        of a reverse proxy that rewrites Host. A page on another site cannot set either
        (forms cannot send headers; fetch needs a preflight that CORS refuses)."""
        origin = origin.strip().lower()
        if origin in self.allowed:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (sandboxed frames, file: pages) and anything odd
        names = {h.split(",")[0].strip().lower() for h in hosts if h}
        return parts.netloc in names


def from_trusted_proxy(scope: Scope, proxies: set[str]) -> bool:
    client = scope.get("client")
    return bool(proxies) and client is not None and client[0] in proxies


class SecurityHeaders:
    """Headers every response carries: nosniff, no framing, no referrer leaks, a CSP."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        api = path.startswith(("/api/", "/sdapi/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}

                def add(name: str, value: str) -> None:
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))

                add("x-content-type-options", "nosniff")
                add("x-frame-options", "DENY")
                add("referrer-policy", "same-origin")
                add("cross-origin-opener-policy", "same-origin")
                add("permissions-policy", "camera=(), microphone=(), geolocation=()")
                if path not in CSP_EXEMPT_PATHS:
                    add("content-security-policy", CONTENT_SECURITY_POLICY)
                if api:
                    add("cache-control", "no-store")
                if self.hsts:
                    add("strict-transport-security", "max-age=31536000; includeSubDomains")
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BadJson(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise BadJson(f"{name} is not a JSON number")


def _check_text(value: str, where: str) -> None:
    if "\x00" in value:
        raise BadJson(f"{where} holds a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadJson(f"{where} holds a lone surrogate (not valid Unicode)") from None


def check_json_document(value: object, where: str = "body") -> None:
    """Every string (keys too) is valid Unicode without NUL; raises BadJson naming where."""
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{where}.{key!r}")
            check_json_document(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_json_document(item, f"{where}[{i}]")


def parse_strict_json(body: bytes) -> object:
    """JSON as RFC 8259 has it: no NaN or Infinity, no lone surrogates, and (for PostgreSQL's
    sake) no NUL characters anywhere."""
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, BadJson):
            raise
        raise BadJson(f"not valid JSON: {exc}") from None
    check_json_document(doc)
    return doc


class StrictJson:
    """400 for a JSON body that is not strict JSON (see parse_strict_json), on every route.

    Python's parser accepts NaN, Infinity and lone surrogates, and PostgreSQL refuses NUL in
    text: left in, they surface later as a 500 or a row that cannot be stored. The body is read
    here (it is capped by BodyLimit first) and handed on unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        # FastAPI reads a body without a content type as JSON too
        if not (content_type in ("", "application/json") or content_type.endswith("+json")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body.strip():
            try:
                parse_strict_json(body)
            except BadJson as exc:
                await _send_json(send, 400, f"invalid JSON body: {exc}")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
