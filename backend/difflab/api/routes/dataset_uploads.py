"""Resumable dataset uploads: a large .zip sent in chunks, each appended at the offset the
server has, so a dropped connection resumes where it stopped instead of starting again.

    POST   /datasets/uploads                 -> {id, received: 0, max_bytes, chunk_bytes}
    PUT    /datasets/uploads/{id}?offset=N   raw bytes appended at N (N must be what the server
                                             has: 409 with `received` otherwise)
    GET    /datasets/uploads/{id}            -> {id, received}: where to resume
    POST   /datasets/uploads/{id}/finish     {name} -> 201, the dataset (checked as any upload)
    DELETE /datasets/uploads/{id}            abandon it

The bytes go straight to DATA_DIR/datasets/.uploads/<id>.zip: nothing sits in memory but the
chunk being written. An upload belongs to the user who started it; one left unfinished for a
day is removed when the next one starts.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from difflab.api.deps import CurrentUser, DbRoute, SessionDep, end_transaction
from difflab.api.routes.datasets import TAKEN, DatasetPublic, claim, drop, public, store
from difflab.api.submit import check_storage, field_error
from difflab.config import get_settings
from difflab.datasets import uploads
from difflab.datasets.uploads import UPLOAD_CHUNK_BYTES
from difflab.db.models import User
from difflab.db.unit_of_work import after_commit

router = APIRouter(prefix="/datasets/uploads", tags=["datasets"], route_class=DbRoute)

STALE_S = 24 * 3600


class UploadState(BaseModel):
    id: str
    received: int = Field(description="Bytes the server has: the offset of the next chunk.")
    max_bytes: int
    chunk_bytes: int = Field(description="The largest chunk one PUT may carry.")


class FinishBody(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="The new dataset's name.")


def _root() -> Path:
    return uploads.datasets_dir(get_settings().data_dir) / ".uploads"


def _paths(upload_id: str) -> tuple[Path, Path]:
    try:
        uuid.UUID(hex=upload_id)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such upload") from None
    return _root() / f"{upload_id}.zip", _root() / f"{upload_id}.json"


def _mine(upload_id: str, user: User) -> Path:
    data, meta = _paths(upload_id)
    try:
        owner = json.loads(meta.read_text())["owner_id"]
    except (OSError, ValueError, KeyError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such upload") from None
    if owner != user.id or not data.exists():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such upload")
    return data


def _state(upload_id: str, data: Path) -> UploadState:
    return UploadState(
        id=upload_id, received=data.stat().st_size, chunk_bytes=UPLOAD_CHUNK_BYTES,
        max_bytes=get_settings().max_dataset_upload_bytes,
    )  # fmt: skip


def _sweep() -> None:
    """Remove uploads left unfinished for a day."""
    root = _root()
    if not root.is_dir():
        return
    now = time.time()
    for path in root.iterdir():
        try:
            if now - path.stat().st_mtime > STALE_S:
                path.unlink()
        except OSError:
            continue


@router.post("", response_model=UploadState, status_code=status.HTTP_201_CREATED)
def start(session: SessionDep, user: CurrentUser) -> UploadState:
    """Start a resumable upload of a dataset .zip."""
    check_storage(session, user)
    end_transaction(session)  # no write lock held while old uploads are swept
    _sweep()
    upload_id = uuid.uuid4().hex
    data, meta = _paths(upload_id)
    data.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"owner_id": user.id, "started": time.time()}))
    data.touch()
    return _state(upload_id, data)


@router.get("/{upload_id}", response_model=UploadState)
def state(upload_id: str, user: CurrentUser) -> UploadState:
    """How many bytes the server has: where the next chunk starts."""
    return _state(upload_id, _mine(upload_id, user))


@router.put(
    "/{upload_id}",
    response_model=UploadState,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },  # fmt: skip
)
async def append(
    upload_id: str,
    request: Request,
    user: CurrentUser,
    offset: int = Query(ge=0, description="Where this chunk starts: the `received` so far."),
) -> UploadState:
    """Append a chunk (at most chunk_bytes) at `offset`."""
    data = _mine(upload_id, user)
    have = data.stat().st_size
    if offset != have:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail={"message": f"the server has {have} bytes: send from there", "received": have},
        )
    limit = get_settings().max_dataset_upload_bytes
    fh = await run_in_threadpool(open, data, "ab")
    try:
        written = 0
        async for chunk in request.stream():
            written += len(chunk)
            if have + written > limit:
                raise HTTPException(
                    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                    detail=f"the upload would be over {limit} bytes",
                )
            await run_in_threadpool(fh.write, chunk)
    except BaseException:
        await run_in_threadpool(fh.truncate, have)  # a broken chunk leaves no partial bytes
        raise
    finally:
        await run_in_threadpool(fh.close)
    return _state(upload_id, data)


@router.post(
    "/{upload_id}/finish", response_model=DatasetPublic, status_code=status.HTTP_201_CREATED
)
def finish(
    upload_id: str, body: FinishBody, session: SessionDep, user: CurrentUser
) -> DatasetPublic:
    """Check the uploaded .zip as any dataset upload and store it under `name`. A refused
    name keeps the upload (finish again with another); refused contents remove it."""
    data = _mine(upload_id, user)
    try:
        uploads.check_name(body.name, TAKEN)
    except uploads.UploadError as exc:
        raise field_error(("body", "name"), exc.message, body.name) from None
    check_storage(session, user)
    row = claim(session, body.name, user)
    try:
        with open(data, "rb") as fh:
            images, size = store(body.name, [("upload.zip", fh)])
    except BaseException as exc:
        drop(session, row)
        if isinstance(exc, uploads.UploadError):
            if exc.where == "name":
                raise field_error(("body", "name"), str(exc)) from None
            _discard(upload_id)
            raise field_error(("body", "files"), str(exc)) from None
        raise
    row.images, row.bytes, row.ready = images, size, True
    after_commit(session, _discard, upload_id)  # the upload goes once the dataset is stored
    return public(row, user.username)


def _discard(upload_id: str) -> None:
    for path in _paths(upload_id):
        path.unlink(missing_ok=True)


@router.delete("/{upload_id}", status_code=status.HTTP_204_NO_CONTENT)
def abandon(upload_id: str, user: CurrentUser) -> Response:
    _mine(upload_id, user)
    _discard(upload_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
