"""The variance combination the merge query uses (czar/plan_moments.py mirrors its SQL): for
any values and any split into chunks, combining per-chunk (count, mean, M2) gives the variance
of all the values, including NULL-only chunks, single values and values far from zero (where
a sum-of-squares formula loses every digit)."""

from __future__ import annotations

import math
import statistics

from hypothesis import given, settings, strategies as st

from czar.plan_moments import chunk_moments, combine, variance

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def split(values, cuts):
    cuts = sorted({c % (len(values) + 1) for c in cuts})
    bounds = [0] + cuts + [len(values)]
    return [values[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=300, deadline=None)
@given(st.lists(finite, max_size=60), st.lists(st.integers(0, 1000), max_size=8))
def test_combined_variance_equals_one_pass(values, cuts):
    got = combine(chunk_moments(chunk) for chunk in split(values, cuts))
    assert got[0] == len(values)
    for sample in (False, True):
        v = variance(got, sample)
        if len(values) < (2 if sample else 1):
            assert v is None
            continue
        expected = statistics.variance(values) if sample else statistics.pvariance(values)
        scale = max(1.0, max(abs(x) for x in values)) ** 2
        assert math.isclose(v, expected, rel_tol=1e-9, abs_tol=1e-12 * scale)


@settings(max_examples=100, deadline=None)
@given(st.floats(1e6, 1e9), st.lists(st.floats(-1, 1), min_size=2, max_size=40),
       st.lists(st.integers(0, 100), max_size=6))
def test_stable_far_from_zero(offset, noise, cuts):
    """Values around 1e9 with a spread up to 1: the combination keeps the spread's digits, as
    far as doubles hold them (a mean near 5e8 is known to its ulp, 6e-8: each deviation from it
    is off by that much, so the variance by about ulp x spread; CI found a spread of 0.08 off by
    1e-9, beyond a fixed 1e-9)."""
    values = [offset + x for x in noise]
    got = variance(combine(chunk_moments(c) for c in split(values, cuts)))
    expected = statistics.pvariance(values)
    ulp, spread = math.ulp(offset), max(values) - min(values)
    assert math.isclose(got, expected, rel_tol=1e-6, abs_tol=4 * ulp * spread + 4 * ulp * ulp)


def test_empty_and_null_only_chunks():
    assert combine([chunk_moments([]), chunk_moments([])]) == (0, None, None)
    assert variance(combine([chunk_moments([]), chunk_moments([3.0])]), sample=True) is None
    assert combine([(2, 1.5, 0.5), (1, 6.0, 0.0)]) == (3, 3.0, 14.0)
