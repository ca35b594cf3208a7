"""Mutated corpus queries (tests/differential/fuzz.py) through the czar and the oracle: no wrong
answer. A fixed seed keeps CI reproducible; benchmarks/bench_fuzz.py runs 10k cases."""

from __future__ import annotations

import collections

import pytest

from tests.conftest import czar_connect
from tests.differential.fuzz import cases, compare

CASES = 250
SEED = 20240515


@pytest.fixture(scope="module")
def outcomes(demo_cluster, oracle):
    todo = cases(CASES, SEED)
    return todo, [compare(lambda **kw: czar_connect(demo_cluster, **kw),
                          lambda **kw: oracle.connect(database="demo", **kw), case)
                  for case in todo]


def test_no_wrong_answer(outcomes):
    todo, results = outcomes
    wrong = [f"{c.name}: setup={c.setup} sql={c.sql!r}\n    {o.detail}"
             for c, o in zip(todo, results) if o.verdict == "wrong"]
    assert not wrong, f"{len(wrong)} wrong answers:\n" + "\n".join(wrong)


def test_mostly_agree(outcomes):
    """The fuzzer exercises the czar (not only its refusals): most cases agree."""
    counts = collections.Counter(o.verdict for o in outcomes[1])
    assert counts["agree"] >= 0.9 * CASES, counts
