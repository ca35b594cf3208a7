"""The worker's limit for a chunk statement (worker/service.py time_limit): what is left of the
czar's deadline, at most the cluster's cap. A call whose deadline passed while it waited must
not fall back to the cap (seen in CI: a 1 s statement ran on a worker under the 30 s cap)."""

from __future__ import annotations

import pytest

from worker.service import time_limit


class _Context:
    def __init__(self, left):
        self.left = left

    def time_remaining(self):
        return self.left


@pytest.mark.parametrize("left, cap, expected", [
    (None, 0.0, None),      # no deadline, no cap: no limit
    (None, 30.0, 30.0),     # the cap alone
    (0.9, 30.0, 0.9),       # what is left of the czar's deadline
    (45.0, 30.0, 30.0),     # never beyond the cap
    (0.9, 0.0, 0.9),
    (0.0, 30.0, 0.001),     # the deadline has passed: the statement ends at once
    (-2.5, 30.0, 0.001),
    (-2.5, 0.0, 0.001),
])
def test_time_limit(left, cap, expected):
    assert time_limit(_Context(left), cap) == expected
