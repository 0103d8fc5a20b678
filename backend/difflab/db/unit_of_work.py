"""What must happen only once a transaction is committed: notify a job's streams, remove the
files of a deleted row.

A unit of work is one transaction of a session. Whoever owns it commits it: an API request's
by `api.deps` when the endpoint returns (`DbRoute`, `get_db`), a worker's by `session_scope`,
and the service functions that must commit at a precise point by themselves (`jobs.lifecycle`:
a job row is committed only once the broker took its message). Code that changes rows does not
commit; what has to follow the commit it registers here, and it runs whoever commits:

    session.delete(row)
    after_commit(session, remove_tree, row_dir)

An effect runs right after the commit of the session's transaction, in registration order; a
rollback (a request that ends in an error, a failed commit) or a close drops it, so nothing
happens for a change that was never stored. The database change stands whatever an effect
does: an effect that raises is logged and the next one runs. An effect must not use the
session (it has no transaction then); it may open sessions of its own, which see the commit.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

_EFFECTS = "difflab_after_commit"  # session.info key: the effects of its open transaction


def after_commit(session: Session, fn: Callable[..., Any], *args: Any) -> None:
    """Run `fn(*args)` once the session's transaction is committed; never if it is not."""
    if not session.in_transaction():
        session.begin()  # the effect belongs to the transaction that is committed next
    session.info.setdefault(_EFFECTS, []).append(functools.partial(fn, *args))


@event.listens_for(Session, "after_commit")
def _run_effects(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: the transaction is not committed yet
        return
    for effect in session.info.pop(_EFFECTS, ()):
        try:
            effect()
        except Exception:
            log.exception("after the commit, %s failed (the change is stored)", _name(effect))


@event.listens_for(Session, "after_transaction_end")
def _drop_effects(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the transaction ended uncommitted (or its effects ran)
        session.info.pop(_EFFECTS, None)


def _name(effect: functools.partial[Any]) -> str:
    fn = effect.func
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}{effect.args}"
