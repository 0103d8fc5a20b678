"""Datasets: the built-in captioned image set and the lab's tabular sets, and the captioned
image datasets users upload (difflab.datasets.uploads), with their pages: items, captions
edited in place, an image removed, stats, a sample grid."""

from __future__ import annotations

import io
import logging
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from PIL import Image
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from difflab.api.deps import CurrentUser, DbRoute, SessionDep, end_transaction
from difflab.api.submit import check_storage, field_error
from difflab.config import get_settings
from difflab.datasets import uploads
from difflab.datasets.registry import BUILT_IN, folder_grid, list_datasets, sample_grid
from difflab.datasets.toy import CLASSIFICATION_SETS, REGRESSION_SETS
from difflab.db.models import TERMINAL_STATES, Dataset, Job, User
from difflab.db.models import utcnow as _utcnow
from difflab.db.unit_of_work import after_commit

log = logging.getLogger(__name__)

router = APIRouter(prefix="/datasets", tags=["datasets"], route_class=DbRoute)

TAKEN = BUILT_IN | set(CLASSIFICATION_SETS) | set(REGRESSION_SETS) | {"uploads"}
STALE_UPLOAD = timedelta(hours=6)  # an upload row never finished (its request died)


class DatasetPublic(BaseModel):
    name: str
    kind: Literal["images", "classification", "regression"]
    description: str
    sample_url: str | None
    uploaded: bool = Field(default=False, description="A dataset a user uploaded (else built in).")
    owner: str | None = None
    images: int | None = Field(default=None, description="Uploaded: how many captioned images.")
    bytes: int | None = None
    created_at: datetime | None = None


class DatasetItem(BaseModel):
    file_name: str
    text: str = Field(description="The caption.")
    width: int
    height: int
    url: str


class CaptionWords(BaseModel):
    min: int
    mean: float
    max: int


class UnknownWord(BaseModel):
    word: str
    count: int


class DatasetStats(BaseModel):
    images: int
    caption_words: CaptionWords
    distinct_words: int
    unknown_words: list[UnknownWord] | None = Field(
        description="Words the model's tokenizer has no whole-word token for (most frequent "
        "first); null when the model has no tokenizer."
    )
    sizes: dict[str, int] = Field(description="Image sizes ('WxH') of this page -> count.")
    model: str = Field(description="Whose tokenizer the unknown words are counted with.")


class DatasetDetail(DatasetPublic):
    stats: DatasetStats
    items: list[DatasetItem]
    total: int
    offset: int


class CaptionBody(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


def _uploaded(session: Session, user: User) -> list[tuple[Dataset, str]]:
    q = select(Dataset, User.username).join(User, User.id == Dataset.owner_id)
    q = q.where(Dataset.ready.is_(True)).order_by(Dataset.name)
    if user.role != "admin":
        q = q.where(Dataset.owner_id == user.id)
    return [(d, owner) for d, owner in session.execute(q).all()]


def public(d: Dataset, owner: str) -> DatasetPublic:
    return DatasetPublic(
        name=d.name, kind="images", uploaded=True, owner=owner, images=d.images, bytes=d.bytes,
        created_at=d.created_at, sample_url=f"/api/v1/datasets/{d.name}/sample.png",
        description=f"{d.images} captioned images uploaded by {owner}",
    )  # fmt: skip


@router.get("", response_model=list[DatasetPublic])
def datasets(session: SessionDep, user: CurrentUser) -> list[DatasetPublic]:
    """The built-in datasets, and the uploaded ones this user may use (their own; an admin:
    every one). An uploaded dataset's name is what a training kind's `dataset` takes."""
    out = [
        DatasetPublic(
            name=d["name"],
            kind="images",
            description=d["description"],
            sample_url=f"/api/v1/datasets/{d['name']}/sample.png",
        )
        for d in list_datasets()
    ]
    out += [public(d, owner) for d, owner in _uploaded(session, user)]
    out += [
        DatasetPublic(
            name=n, kind="classification", description="learning-lab dataset", sample_url=None
        )
        for n in CLASSIFICATION_SETS
    ]
    out += [
        DatasetPublic(
            name=n, kind="regression", description="learning-lab dataset", sample_url=None
        )
        for n in REGRESSION_SETS
    ]
    return out


def claim(session: Session, name: str, user: User) -> Dataset:
    """The row that claims the name (a stale unfinished upload's row is taken over),
    committed at once: other uploads must see the claim before this one's directory moves."""
    old = session.scalar(select(Dataset).where(Dataset.name == name))
    if old is not None:
        stale = not old.ready and _utcnow() - _aware(old.created_at) > STALE_UPLOAD
        if not stale:
            raise field_error(("body", "name"), f"a dataset named {name!r} exists", name)
        session.delete(old)
        session.flush()
    row = Dataset(name=name, owner_id=user.id, images=0, bytes=0, ready=False)
    session.add(row)
    try:
        end_transaction(session)
    except IntegrityError:
        raise field_error(("body", "name"), f"a dataset named {name!r} exists", name) from None
    return row


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def store(name: str, files: Sequence[tuple[str, IO[bytes]]]) -> tuple[int, int]:
    """Stage, check and publish an upload, (file name, content) each: (images, bytes)."""
    data_dir = get_settings().data_dir
    final = uploads.dataset_path(data_dir, name)
    with uploads.staging_dir(data_dir) as staged:
        stage = uploads.Staging(staged, uploads.Limits())
        if len(files) == 1 and files[0][0].lower().endswith(".zip"):
            uploads.stage_zip(files[0][1], stage)
        else:
            for filename, content in files:
                content.seek(0)
                stage.add(filename, content)
        root, items = uploads.build(staged)
        uploads.publish(root, final)
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    return len(items), size


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name", "files"],
                    "properties": {
                        "name": {"type": "string", "description": "The new dataset's name."},
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One .zip, or a folder's files (each named by its "
                            "path in the folder).",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    response_model=DatasetPublic,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
)
async def upload(request: Request, session: SessionDep, user: CurrentUser) -> DatasetPublic:
    """Upload a captioned image dataset: a .zip, or a folder's files, holding images (PNG,
    JPEG, WebP) with captions as metadata.jsonl lines {"file_name", "text"} or a .txt beside
    each image. Streamed to disk; checked whole before it is stored (every refusal names the
    file, and line); never replaces a dataset that exists."""
    limits = uploads.Limits()
    form = await request.form(max_files=limits.max_files + 1, max_fields=16)
    try:
        name = form.get("name")
        if not isinstance(name, str):
            raise field_error(("body", "name"), "required: the new dataset's name")
        try:
            uploads.check_name(name, TAKEN)
        except uploads.UploadError as exc:
            raise field_error(("body", "name"), exc.message, name) from None
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not files:
            raise field_error(("body", "files"), "required: one .zip or a folder's files")
        await run_in_threadpool(check_storage, session, user)
        row = await run_in_threadpool(claim, session, name, user)
        try:
            parts = [(f.filename or "", f.file) for f in files]
            images, size = await run_in_threadpool(store, name, parts)
        except BaseException as exc:
            await run_in_threadpool(drop, session, row)
            if isinstance(exc, uploads.UploadError):
                loc = ("body", "name") if exc.where == "name" else ("body", "files")
                raise field_error(loc, str(exc)) from None
            raise
        row.images, row.bytes, row.ready = images, size, True  # committed as the route returns
        return public(row, user.username)
    finally:
        await form.close()


def drop(session: Session, row: Dataset) -> None:
    """Give up a claim: its row goes now, although the request then ends in an error."""
    session.execute(delete(Dataset).where(Dataset.id == row.id))
    end_transaction(session)


def _owned(session: Session, user: User, name: str) -> tuple[Dataset, str, Path]:
    """An uploaded dataset this user may see: its row, owner and directory; else 404."""
    row = session.execute(
        select(Dataset, User.username)
        .join(User, User.id == Dataset.owner_id)
        .where(Dataset.name == name, Dataset.ready.is_(True))
    ).first()
    if row is None or (user.role != "admin" and row[0].owner_id != user.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no dataset {name!r}")
    return row[0], row[1], uploads.dataset_path(get_settings().data_dir, name)


def _vocab(model: str) -> set[str] | None:
    """The model tokenizer's vocabulary (its tokens), or None without a tokenizer."""
    from difflab.diffusion.generate import tokenizer_of
    from difflab.diffusion.models import ModelError, resolve_model

    try:
        model_dir = resolve_model(get_settings().models_dir, model)
    except ModelError:
        raise field_error(("query", "model"), f"no model {model!r}", model) from None
    if not (model_dir / "tokenizer").is_dir():
        return None
    return set(tokenizer_of(model_dir).get_vocab())


def _item(name: str, root: Path, it: dict[str, str]) -> DatasetItem:
    try:
        with Image.open(uploads.item_path(root, it["file_name"])) as img:
            w, h = img.size  # the header only
    except (OSError, KeyError):
        w = h = 0
    return DatasetItem(
        file_name=it["file_name"], text=it["text"], width=w, height=h,
        url=f"/api/v1/datasets/{name}/files/{it['file_name']}",
    )  # fmt: skip


@router.get("/{name}", response_model=DatasetDetail)
def detail(
    name: str,
    session: SessionDep,
    user: CurrentUser,
    offset: int = Query(0, ge=0),
    limit: int = Query(60, ge=1, le=500),
    model: str = Query("house", max_length=64, description="Tokenizer for unknown words."),
) -> DatasetDetail:
    """An uploaded dataset: a page of its items (caption, size, image URL) and its stats."""
    row, owner, root = _owned(session, user, name)
    end_transaction(session)  # no transaction held while files and the tokenizer are read
    items = uploads.read_items(root)
    page = [_item(name, root, it) for it in items[offset : offset + limit]]
    sizes: dict[str, int] = {}
    for it in page:
        key = f"{it.width}x{it.height}"
        sizes[key] = sizes.get(key, 0) + 1
    stats: dict[str, Any] = uploads.stats(items, _vocab(model))
    return DatasetDetail(
        **public(row, owner).model_dump(),
        stats=DatasetStats(**stats, sizes=sizes, model=model),
        items=page, total=len(items), offset=offset,
    )  # fmt: skip


@router.get("/{name}/files/{file_name:path}", response_class=FileResponse)
def file(name: str, file_name: str, session: SessionDep, user: CurrentUser) -> FileResponse:
    """One image of an uploaded dataset, as uploaded."""
    _, _, root = _owned(session, user, name)
    end_transaction(session)  # no transaction held while the file is sent
    try:
        path = uploads.item_path(root, file_name)
    except (KeyError, uploads.UploadError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such file") from None
    if not path.is_file() or path.suffix.lower() not in uploads.IMAGE_SUFFIXES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such file")
    return FileResponse(path, headers={"X-Content-Type-Options": "nosniff"})


@router.patch("/{name}/items/{file_name:path}", response_model=DatasetItem)
def edit_caption(
    name: str, file_name: str, body: CaptionBody, session: SessionDep, user: CurrentUser
) -> DatasetItem:
    """Change one image's caption."""
    _, _, root = _owned(session, user, name)
    try:
        uploads.set_caption(root, file_name, body.text)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no item {file_name!r}") from None
    except uploads.UploadError as exc:
        raise field_error(("body", "text"), exc.message, body.text) from None
    it = next(i for i in uploads.read_items(root) if i["file_name"] == file_name)
    return _item(name, root, it)


def _in_use(session: Session, name: str) -> str | None:
    """An unfinished job that trains on the dataset, if any."""
    rows = session.execute(
        select(Job.id, Job.params).where(Job.state.not_in(TERMINAL_STATES))
    ).all()
    for job_id, params in rows:
        if isinstance(params, dict) and params.get("dataset") == name:
            return str(job_id)
    return None


@router.delete("/{name}/items/{file_name:path}", status_code=status.HTTP_204_NO_CONTENT)
def remove_item(name: str, file_name: str, session: SessionDep, user: CurrentUser) -> Response:
    """Remove one image and its caption (not the last one: delete the dataset instead)."""
    row, _, root = _owned(session, user, name)
    job = _in_use(session, name)
    if job:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"job {job} is training on it")
    try:
        uploads.remove_item(root, file_name)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no item {file_name!r}") from None
    except uploads.UploadError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=exc.message) from None
    row.images = max(0, row.images - 1)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def remove(name: str, session: SessionDep, user: CurrentUser) -> Response:
    """Delete an uploaded dataset (its owner or an admin; not while a job trains on it)."""
    row, _, root = _owned(session, user, name)
    job = _in_use(session, name)
    if job:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"job {job} is training on it")
    session.delete(row)
    after_commit(session, _remove_files, name, root)  # only once the row is gone
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _remove_files(name: str, root: Path) -> None:
    """A deleted dataset's directory. The dataset is gone already (its name is free): what
    cannot be removed is logged for the operator, not answered to the user."""
    shutil.rmtree(root, ignore_errors=True)
    if root.exists():
        log.warning("files of deleted dataset %r are left in %s", name, root)


def _grid_png(name: str, n: int, seed: int) -> bytes:
    if name in BUILT_IN:
        img = sample_grid(name, n=n, seed=seed)
    else:
        img = folder_grid(uploads.dataset_path(get_settings().data_dir, name), n=n, seed=seed)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@router.get(
    "/{name}/sample.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
def sample(
    name: str,
    session: SessionDep,
    user: CurrentUser,
    n: int = Query(16, ge=1, le=64),
    seed: int = Query(0, ge=0, le=2**31),
) -> Response:
    """A grid of n images of a dataset (built in, or uploaded and visible to this user)."""
    if name not in BUILT_IN:
        _owned(session, user, name)
    end_transaction(session)  # no transaction held while the grid is drawn
    png = _grid_png(name, n, seed)
    return Response(
        png,
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
