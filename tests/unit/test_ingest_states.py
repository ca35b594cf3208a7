"""The ingest state machine (czar/ingest/states.py) and the controller's compare-and-set
writes of it, without processes: the table is pure, and `_set_state` runs against an
in-process fake of the czar's MariaDB."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from czar.ingest import IngestError
from czar.ingest.states import (CONTRIBUTION, TRANSACTION, ContribState, IllegalTransition,
                                TransState, transition)
from czar.ingest.transactions import Transactions

EVENTS = ["commit", "contribute", "abort", "dropped"]
T = TransState


@pytest.mark.parametrize("state, event, after, changed", [
    (T.STARTED, "commit", T.COMMITTED, True),
    (T.STARTED, "contribute", T.STARTED, True),
    (T.STARTED, "abort", T.ABORTING, True),
    (T.ABORTING, "abort", T.ABORTING, True),       # a retry reaches the workers missed before
    (T.ABORTING, "dropped", T.ABORTED, True),
    (T.COMMITTED, "commit", T.COMMITTED, False),   # idempotent repeats write nothing
    (T.ABORTED, "abort", T.ABORTED, False),
])
def test_allowed_moves(state, event, after, changed):
    move = transition(TRANSACTION, state, event)
    assert (move.state, move.changed) == (after, changed)
    assert transition(TRANSACTION, state.value, event) == move     # the stored string works too


@pytest.mark.parametrize("state, event, message", [
    (T.COMMITTED, "abort", "is already COMMITTED: cannot abort"),
    (T.ABORTED, "commit", "is already ABORTED: cannot commit"),
    (T.ABORTING, "commit", "is being aborted"),
    (T.COMMITTED, "contribute", "is COMMITTED: no contribution accepted"),
    (T.ABORTED, "contribute", "is ABORTED: no contribution accepted"),
    (T.ABORTING, "contribute", "is being aborted: no contribution accepted"),
    (T.STARTED, "dropped", "is already STARTED: cannot dropped"),
])
def test_refused_moves_say_why(state, event, message):
    with pytest.raises(IllegalTransition, match=message):
        transition(TRANSACTION, state, event)


def test_every_pair_is_either_a_move_or_a_refusal():
    for state, event in itertools.product(T, EVENTS):
        try:
            assert transition(TRANSACTION, state, event).state in T
        except IllegalTransition as e:
            assert str(e)


@given(st.lists(st.sampled_from(EVENTS), max_size=12))
def test_committed_and_aborted_are_final(events):
    """Whatever arrives, a transaction that reached COMMITTED or ABORTED stays there, and
    COMMITTED is reached only from STARTED (never after an abort began)."""
    state, history = T.STARTED, [T.STARTED]
    for event in events:
        try:
            state = transition(TRANSACTION, state, event).state
        except IllegalTransition:
            continue
        history.append(state)
    for before, after in zip(history, history[1:]):
        if before in (T.COMMITTED, T.ABORTED):
            assert after == before
        if after == T.COMMITTED:
            assert before in (T.STARTED, T.COMMITTED)


def test_contribution_moves():
    C = ContribState
    assert transition(CONTRIBUTION, C.IN_PROGRESS, "loaded").state == C.FINISHED
    assert transition(CONTRIBUTION, C.IN_PROGRESS, "failed").state == C.FAILED
    with pytest.raises(IllegalTransition):
        transition(CONTRIBUTION, C.FINISHED, "failed")


class FakeCursor:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args):
        new, *rest = args
        trans_id, expected = rest[-2], rest[-1]
        assert sql.startswith("UPDATE") and "AND state = %s" in sql
        if self.db.rows[trans_id] != expected:
            return 0                      # someone else moved it: compare-and-set fails
        self.db.rows[trans_id] = new
        return 1


class FakeStore:
    def __init__(self, db):
        self.conn = type("Conn", (), {"cursor": lambda _self: FakeCursor(db)})()


class FakeController(Transactions):
    """Only what `_set_state` uses: `meta` runs the function on the fake store; `trans_row`
    reads it."""

    def __init__(self, rows):
        self.rows = rows

    async def meta(self, fn, *args):
        return fn(FakeStore(self), *args)

    async def trans_row(self, trans_id):
        return {"id": trans_id, "state": self.rows[trans_id]}


def test_set_state_writes_compare_and_set():
    ctl = FakeController({1: "STARTED"})
    t = {"id": 1, "state": "STARTED"}
    assert asyncio.run(ctl._set_state(t, "commit", end_time=1.0)) is True
    assert ctl.rows[1] == "COMMITTED" and t["state"] == "COMMITTED"
    assert asyncio.run(ctl._set_state(t, "commit", end_time=2.0)) is False   # repeat: no write


def test_a_racing_writer_makes_the_second_request_a_conflict():
    """Both requests read STARTED; the abort lands first; the commit must not overwrite it."""
    ctl = FakeController({7: "STARTED"})
    commit_view, abort_view = {"id": 7, "state": "STARTED"}, {"id": 7, "state": "STARTED"}
    assert asyncio.run(ctl._set_state(abort_view, "abort")) is True
    with pytest.raises(IngestError) as e:
        asyncio.run(ctl._set_state(commit_view, "commit", end_time=1.0))
    assert e.value.status == 409 and "ABORTING meanwhile" in str(e.value)
    assert ctl.rows[7] == "ABORTING"


def test_an_illegal_event_is_409_before_any_write():
    ctl = FakeController({3: "COMMITTED"})
    with pytest.raises(IngestError) as e:
        asyncio.run(ctl._set_state({"id": 3, "state": "COMMITTED"}, "abort"))
    assert e.value.status == 409 and "already COMMITTED" in str(e.value)
    assert ctl.rows[3] == "COMMITTED"
