"""Keyset pages of the newest-first lists (GET /jobs, GET /generations).

Rows are ordered by (created_at DESC, id DESC): the id breaks ties, so rows sharing a
created_at keep one order. A cursor names the last row of a page by that pair, and the next
page is the rows strictly after it, `(created_at, id) < (cursor)`, which the database answers
from an index on (..., created_at, id) by seeking, not by stepping over the rows before it as
OFFSET does. `count` stops at COUNT_CAP so no list answer costs a scan of the whole table.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, TypeVar, cast

from fastapi import Query, Request
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import Session

from difflab.api.schemas import COUNT_CAP
from difflab.api.submit import field_error
from difflab.db.models import Generation, Job

Row = TypeVar("Row", Job, Generation)

MAX_CURSOR_CHARS = 200  # a cursor this module writes is about 100

# the two ways a list route is told where its page starts
CursorParam = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_CHARS,
        description="Where the page starts: the `next` of the page before (not with offset).",
    ),
]
OffsetParam = Annotated[
    int | None,
    Query(ge=0, description="Rows to skip (0 if left out); cursor pages cost less when deep."),
]


@dataclass(frozen=True)
class Cursor:
    """The last row of a page: where the next one starts (exclusive)."""

    created_at: datetime  # aware, UTC
    id: str


def encode_cursor(created_at: datetime, row_id: str) -> str:
    """base64url (unpadded) of the JSON pair [ISO time in UTC, id]."""
    at = created_at if created_at.tzinfo is not None else created_at.replace(tzinfo=UTC)
    raw = json.dumps([at.astimezone(UTC).isoformat(), row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(value: str) -> Cursor:
    """The cursor a page gave out; anything else is a 422 naming `cursor`."""
    try:
        pair = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ValueError("not a [time, id] pair")
        if not all(isinstance(part, str) for part in pair):
            raise ValueError("not a [time, id] pair")
        at, row_id = pair
        if not (0 < len(row_id) <= 64 and row_id.isprintable()):
            raise ValueError("not an id")
        created_at = datetime.fromisoformat(at)
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        created_at = created_at.astimezone(UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise field_error(
            ("query", "cursor"), "cursor is not one this list gave out (its `next`)", value
        ) from None
    return Cursor(created_at, row_id)


def start_of(cursor: str | None, offset: int | None) -> Cursor | None:
    """The decoded cursor; a cursor and an offset together are a 422 (each says where the
    page starts)."""
    if cursor is None:
        return None
    if offset is not None:
        raise field_error(("query", "cursor"), "send either cursor or offset, not both", cursor)
    return decode_cursor(cursor)


def keyset_page(
    session: Session,
    query: Select[Row],
    model: type[Row],
    *,
    after: Cursor | None,
    offset: int | None,
    limit: int,
    columns: bool = False,
) -> tuple[list[Row], str | None]:
    """One page of `query` (unordered, filters applied), newest first, and the next page's
    cursor (None when this page is the last). One statement: it reads limit + 1 rows to know
    whether more follow. `columns`: the query selects columns, and the page is their rows
    (else it selects one entity, and the page is the entities)."""
    q = query.order_by(model.created_at.desc(), model.id.desc())
    if after is not None:
        q = q.where(tuple_(model.created_at, model.id) < tuple_(after.created_at, after.id))
    elif offset:
        q = q.offset(offset)  # kept for clients that page by number; costs O(offset)
    result = session.execute(q.limit(limit + 1))
    # a row of columns reads like the entity it came from (the same attribute names)
    rows = cast(list[Row], list(result) if columns else list(result.scalars()))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at, last.id)


def page_count(
    session: Session,
    query: Select[Row],
    model: type[Row],
    rows: list[Row],
    *,
    after: Cursor | None,
    offset: int | None,
    next_cursor: str | None,
) -> tuple[int, bool]:
    """capped_count for the page keyset_page gave: a first page that is also the last holds
    every match, so its length is the count, with no statement."""
    if after is None and not offset and next_cursor is None:
        return len(rows), False
    return capped_count(session, query, model)


def capped_count(session: Session, query: Select[Row], model: type[Row]) -> tuple[int, bool]:
    """(matching rows up to COUNT_CAP, whether more match): counts over the ids of at most
    COUNT_CAP + 1 rows, which an index on the filtered columns answers alone."""
    ids = query.with_only_columns(model.id).limit(COUNT_CAP + 1).subquery()
    n = session.scalar(select(func.count()).select_from(ids)) or 0
    return min(n, COUNT_CAP), n > COUNT_CAP


def next_link(request: Request, next_cursor: str) -> str:
    """The Link header of a page that has a next one: this URL with `cursor` set (and any
    `offset` dropped, since the two do not go together)."""
    url = request.url.remove_query_params("offset").include_query_params(cursor=next_cursor)
    return f'<{url.path}?{url.query}>; rel="next"'
