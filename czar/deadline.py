"""The time limit of the statement being run: MariaDB's max_statement_time, for the whole
distributed query (issue 15, items 6 and 9).

A statement's limit is the session's `max_statement_time` (seconds; 0: none), capped by the
cluster's `max_statement_time`: a client may lower it for its session, never lift it. The
frontend sets the statement's deadline (`started`) in a context variable, which every task the
statement starts inherits, and each place that makes something run elsewhere passes on what is
left of it:

- gRPC calls to workers carry it as their deadline (`call_timeout`); the worker reads it back
  from the call and runs its chunk statement under `SET STATEMENT max_statement_time = ...
  FOR ...`, so its MariaDB stops the statement itself (SLEEP, BENCHMARK, GET_LOCK included);
- the czar's own MariaDB statements (the session's checks and table-less SELECTs, the merge)
  run the same way (`limited`);
- and the frontend holds a timer over the whole statement, results sent included, which
  cancels everything still running once the limit and a short grace have passed.

Each of these ends with MariaDB's 1969 "Query execution was interrupted (max_statement_time
exceeded)". (BENCHMARK and GET_LOCK are MariaDB functions that, interrupted, return 0 / NULL
rather than fail: that is what one MariaDB answers too.)
"""

from __future__ import annotations

import contextlib
import contextvars
import time

from qserv.errors import QservError

ER_STATEMENT_TIMEOUT = 1969
GRACE_S = 1.0  # the frontend's timer waits this much longer than the MariaDB servers' limit
MIN_STATEMENT_S = 0.001

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("qserv_deadline",
                                                                          default=None)


def effective_limit(session_value, cap: float) -> float | None:
    """The limit in seconds for a session value and the cluster's cap (0: none); None: none."""
    try:
        session = float(session_value or 0)
    except (TypeError, ValueError):
        session = 0.0
    limits = [x for x in (session, float(cap or 0)) if x > 0]
    return min(limits) if limits else None


@contextlib.contextmanager
def started(limit: float | None):
    """The deadline of a statement that starts now (nothing when `limit` is None)."""
    token = _deadline.set(None if limit is None else time.monotonic() + limit)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left to the current statement (None: no limit); raises 1969 once none is."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise interrupted()
    return left


def call_timeout() -> float | None:
    """The timeout of a gRPC call made now: what is left of the statement's time."""
    return remaining()


def limited(sql: str) -> str:
    """`sql` run by MariaDB under what is left of the statement's time (unchanged when the
    statement has no limit)."""
    return with_limit(sql, remaining())


def with_limit(sql: str, seconds: float | None) -> str:
    if seconds is None:
        return sql
    return f"SET STATEMENT max_statement_time = {max(seconds, MIN_STATEMENT_S):.3f} FOR {sql}"


def interrupted() -> QservError:
    return QservError(ER_STATEMENT_TIMEOUT,
                      "Query execution was interrupted (max_statement_time exceeded)")
