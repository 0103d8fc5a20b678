"""The sliding-window limiter on both databases: exact under concurrency, right Retry-After."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, create_engine, update
from sqlalchemy.orm import Session

from difflab.api.ratelimit import Limit, RateLimited, hit, wait_seconds
from difflab.db.engine import make_engine
from difflab.db.models import Base, RateEvent, utcnow
from tests.utils.services import postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'rate.sqlite'}")
        Base.metadata.create_all(eng)
        yield eng
        eng.dispose()
        return
    with postgres_database() as url:
        eng = create_engine(url, pool_size=20)
        Base.metadata.create_all(eng)
        yield eng
        eng.dispose()


def _try(engine: Engine, limit: Limit, key: str) -> bool:
    with Session(engine) as s, s.begin():
        try:
            hit(s, limit, key)
            return True
        except RateLimited:
            return False


def test_exactly_limit_requests_pass_when_they_race(engine: Engine) -> None:
    limit = Limit("test", 5, 60)
    results: list[bool] = []
    start = threading.Barrier(12)

    def worker() -> None:
        start.wait()
        results.append(_try(engine, limit, "user:1"))

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [False] * 7 + [True] * 5
    assert _try(engine, limit, "user:2")  # another key has its own window


def test_retry_after_is_when_the_oldest_counted_request_leaves(engine: Engine) -> None:
    limit = Limit("test", 2, 100)
    assert _try(engine, limit, "k") and _try(engine, limit, "k")
    # age the two requests by 30 s and 60 s: one more fits once the older (60 s) leaves
    with Session(engine) as s, s.begin():
        ids = [r.id for r in s.query(RateEvent).order_by(RateEvent.id)]
        for row_id, age in zip(ids, (60, 30), strict=True):
            s.execute(
                update(RateEvent)
                .where(RateEvent.id == row_id)
                .values(created_at=utcnow() - timedelta(seconds=age))
            )
    with Session(engine) as s:
        assert 39 <= wait_seconds(s, limit, "k") <= 41
    with pytest.raises(RateLimited) as refused, Session(engine) as s, s.begin():
        hit(s, limit, "k")
    assert 39 <= refused.value.retry_after_s <= 41
    # rows older than the window are pruned and no longer count
    with Session(engine) as s, s.begin():
        s.execute(update(RateEvent).values(created_at=utcnow() - timedelta(seconds=101)))
    assert _try(engine, limit, "k")
    with Session(engine) as s:
        assert s.query(RateEvent).count() == 1
