"""The FastAPI app factory: /api/v1 routes, the A1111-compatible /sdapi routes, the frontend."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from difflab.api.deps import CurrentUser
from difflab.api.middleware import BodyLimit, SameOrigin, SecurityHeaders, StrictJson
from difflab.api.stream_slots import stream_slots_for
from difflab.config import Settings, get_settings
from difflab.datasets.uploads import UPLOAD_CHUNK_BYTES
from difflab.heap import freeze_at_start
from difflab.jobs import notify

log = logging.getLogger(__name__)

# route modules mounted under /api/v1; each exposes `router`
API_ROUTES = ("auth", "users", "jobs", "workers", "audit")
# routes whose bodies carry images: max_image_body_bytes instead of max_body_bytes
IMAGE_BODY_PATHS = (
    "/api/v1/images",
    "/sdapi/v1/img2img",
    "/sdapi/v1/png-info",
    "/sdapi/v1/extra-single-image",
    "/sdapi/v1/extra-batch-images",
)
# optional feature routes (mounted when the module exists)
FEATURE_ROUTES = (
    "generations", "images", "styles", "dataset_uploads", "datasets", "loras", "learn",
)  # fmt: skip


def _routers() -> list[APIRouter]:
    routers = []
    for name in API_ROUTES + FEATURE_ROUTES:
        try:
            module = importlib.import_module(f"difflab.api.routes.{name}")
        except ModuleNotFoundError as exc:
            if name in FEATURE_ROUTES and exc.name == f"difflab.api.routes.{name}":
                continue
            raise
        routers.append(module.router)
    return routers


def create_app(settings: Settings | None = None, *, reconcile: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        thread = None
        if reconcile:  # run by one API process of the deployment (jobs/duties.py)
            from difflab.jobs.duties import DutyThread, lease_for
            from difflab.jobs.reconciler import reconcile_once

            lease = lease_for(settings.sqlalchemy_url, settings.data_dir)
            thread = DutyThread(lease, reconcile_once, settings.reconcile_every_s)
            thread.start()
        notify.start_listener(settings)
        # the request threadpool (sync routes and dependencies, run_in_threadpool)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        freeze_at_start()  # the app, its routes and the libraries: never scanned again
        yield
        notify.stop_listener()
        app.state.stream_slots.close()
        if thread is not None:
            thread.stop()

    production = settings.mode == "production"
    app = FastAPI(
        title="difflab",
        version="0.1.0",
        description="Text-to-image latent diffusion you can train, run and understand.",
        lifespan=lifespan,
        docs_url=None if production else "/docs",
        redoc_url=None,
        openapi_url=None if production else "/openapi.json",
    )
    # each user's open event streams, counted across the API processes (api/stream_slots.py)
    app.state.stream_slots = stream_slots_for(settings.sqlalchemy_url, settings.data_dir)
    # Starlette runs the middleware added last first: body cap, then same-origin, then strict
    # JSON, then CORS.
    if settings.cors_origins:  # listed origins only: Settings refuses "*"
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type", "x-csrf-token", "last-event-id"],
            expose_headers=["retry-after"],
        )
    app.add_middleware(StrictJson)
    app.add_middleware(
        SameOrigin, allowed_origins=settings.cors_origins, trusted_proxies=settings.trusted_proxies
    )
    app.add_middleware(SecurityHeaders, hsts=production)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        larger={
            **{path: settings.max_image_body_bytes for path in IMAGE_BODY_PATHS},
            "/api/v1/datasets": settings.max_dataset_upload_bytes,
        },
        prefixes={"/api/v1/datasets/uploads/": UPLOAD_CHUNK_BYTES},
    )

    @app.exception_handler(OperationalError)
    async def database_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", exc)
        return JSONResponse(
            {"detail": "the database is unavailable"}, 503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(PoolTimeout)
    async def database_busy(_: Request, exc: PoolTimeout) -> JSONResponse:
        log.error("no database connection free: %s", exc)
        return JSONResponse(
            {"detail": "the database is busy; try again"}, 503, headers={"Retry-After": "5"}
        )

    for router in _routers():
        app.include_router(router, prefix="/api/v1")
    if production:
        mount_private_docs(app)
    try:
        from difflab.api.routes.sdapi import router as sdapi_router
    except ModuleNotFoundError as exc:
        if exc.name != "difflab.api.routes.sdapi":
            raise
    else:
        from difflab.api.routes.sdapi_extras import router as extras_router

        app.include_router(sdapi_router)
        app.include_router(extras_router)
    mount_frontend(app, settings.frontend_dist)
    return app


def mount_private_docs(app: FastAPI) -> None:
    """Production: the OpenAPI document and Swagger UI only for a signed-in user (401 else)."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document(user: CurrentUser) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(user: CurrentUser) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API")


def mount_frontend(app: FastAPI, dist: Path) -> None:
    """Serve the built frontend at / with index.html for the app's client-side routes."""
    index = dist / "index.html"
    if not index.is_file():

        @app.get("/", include_in_schema=False)
        def no_frontend() -> JSONResponse:
            return JSONResponse(
                {"detail": "the frontend is not built: run `make install`", "api": "/docs"}
            )

        return
    if (dist / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")
    root = dist.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    def spa(path: str) -> FileResponse:
        if path.startswith(("api/", "sdapi/")):
            return JSONResponse({"detail": "Not Found"}, 404)  # type: ignore[return-value]
        candidate = (root / path).resolve()
        if path and candidate.is_relative_to(root) and candidate.is_file():
            return FileResponse(candidate, headers={"X-Content-Type-Options": "nosniff"})
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
