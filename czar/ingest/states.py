"""The states of an ingest transaction and of a contribution, and every move between them:
one table per kind and one pure function, `transition()`, that the controller asks before it
writes a state (DESIGN §10, in the style of dask's transition table).

Why a table: the rules were spread over `if` chains in four methods (commit, abort, a
contribution's start and end); a rule now lives in one line, a test reads every line, and
the controller's writes are compare-and-set on the state the table started from, so two
requests racing for the same transaction cannot both win.

    >>> transition(TRANSACTION, TransState.STARTED, "commit").state
    <TransState.COMMITTED: 'COMMITTED'>
    >>> transition(TRANSACTION, TransState.COMMITTED, "commit").changed   # idempotent
    False
    >>> try:
    ...     transition(TRANSACTION, TransState.ABORTED, "commit")
    ... except IllegalTransition as e:
    ...     print(e)
    is already ABORTED: cannot commit
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum


class TransState(StrEnum):
    """A transaction: open for contributions (STARTED), then kept (COMMITTED) or undone on
    every worker (ABORTING while partitions are being dropped; ABORTED when all are)."""
    STARTED = "STARTED"
    COMMITTED = "COMMITTED"
    ABORTING = "ABORTING"
    ABORTED = "ABORTED"


class ContribState(StrEnum):
    """One file streamed into a transaction."""
    IN_PROGRESS = "IN_PROGRESS"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


class IllegalTransition(ValueError):
    """The event cannot happen in this state (the HTTP API answers 409 Conflict); the
    message completes "transaction N ..."."""


@dataclass(frozen=True)
class Move:
    state: Enum
    changed: bool        # False: the event is a repeat of one already applied (idempotent)


# (state, event) -> the next state; an event absent for a state is refused with the message
# of REFUSED, or a generic one. A move to the same state is an idempotent repeat.
TRANSACTION = {
    (TransState.STARTED, "commit"): TransState.COMMITTED,
    (TransState.STARTED, "contribute"): TransState.STARTED,
    (TransState.STARTED, "abort"): TransState.ABORTING,
    (TransState.ABORTING, "abort"): TransState.ABORTING,        # retry of an incomplete abort
    (TransState.ABORTING, "dropped"): TransState.ABORTED,       # every worker dropped its partition
    (TransState.COMMITTED, "commit"): TransState.COMMITTED,
    (TransState.ABORTED, "abort"): TransState.ABORTED,
}
CONTRIBUTION = {
    (ContribState.IN_PROGRESS, "loaded"): ContribState.FINISHED,
    (ContribState.IN_PROGRESS, "failed"): ContribState.FAILED,
    (ContribState.FAILED, "failed"): ContribState.FAILED,
}
REFUSED = {
    (TransState.ABORTING, "commit"): "is being aborted",
    (TransState.ABORTING, "contribute"): "is being aborted: no contribution accepted",
    (TransState.COMMITTED, "contribute"): "is COMMITTED: no contribution accepted",
    (TransState.ABORTED, "contribute"): "is ABORTED: no contribution accepted",
}


def transition(table: dict, state, event: str) -> Move:
    """The move `event` makes from `state` under `table` (TRANSACTION or CONTRIBUTION);
    IllegalTransition when it cannot happen. Pure: reads nothing, writes nothing."""
    state = type(next(iter(table))[0])(state)       # accepts the stored string
    nxt = table.get((state, event))
    if nxt is None:
        reason = REFUSED.get((state, event)) or f"is already {state.value}: cannot {event}"
        raise IllegalTransition(reason)
    repeat = nxt == state and (state, event) in _IDEMPOTENT
    return Move(nxt, not repeat)


# the self-moves that repeat an event already applied (as opposed to STARTED + contribute,
# which changes nothing in the state but is a new event each time)
# (an abort of an ABORTING transaction is not a repeat: it retries the workers not reached)
_IDEMPOTENT = {(TransState.COMMITTED, "commit"), (TransState.ABORTED, "abort"),
               (ContribState.FAILED, "failed")}
