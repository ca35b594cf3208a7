"""The variance combination of czar/plan_aggregates.py in Python: the same arithmetic as the
merge query writes in SQL, kept here so that a property test can hold it against the one-pass
definition over any split of the rows into chunks (tests/unit/test_moments.py).

    chunk_moments([1.0, 2.0]) -> (2, 1.5, 0.5)
    combine([(2, 1.5, 0.5), (1, 6.0, 0.0)]) -> (3, 3.0, 14.0)    # the moments of [1, 2, 6]
"""

from __future__ import annotations

from typing import Iterable, Sequence


def chunk_moments(values: Sequence[float]) -> tuple[int, float | None, float | None]:
    """(n, mean, M2) of one chunk's non-NULL values, as the chunk query reports them:
    COUNT(x), AVG(x + 0E0), VAR_POP(x) * COUNT(x) (NULL mean and M2 over no values)."""
    n = len(values)
    if n == 0:
        return 0, None, None
    mean = sum(values) / n
    return n, mean, sum((v - mean) ** 2 for v in values)


def combine(parts: Iterable[tuple[int, float | None, float | None]]) -> tuple[int, float | None, float | None]:
    """(N, mean, M2) of the union: mu = sum(n_i mean_i) / N,
    M2 = sum(M2_i) + sum(n_i (mean_i - mu)^2) (Chan, Golub, LeVeque)."""
    full = [(n, float(mean), float(m2)) for n, mean, m2 in parts
            if n and mean is not None and m2 is not None]
    total = sum(n for n, _, _ in full)
    if total == 0:
        return 0, None, None
    mu = sum(n * mean for n, mean, _ in full) / total
    return total, mu, sum(m2 for _, _, m2 in full) + sum(n * (mean - mu) ** 2 for n, mean, _ in full)


def variance(moments, sample: bool = False) -> float | None:
    """VAR_POP (M2 / N) or VAR_SAMP (M2 / (N - 1)); NULL where MariaDB gives NULL."""
    n, _, m2 = moments
    d = n - 1 if sample else n
    return None if m2 is None or d <= 0 else m2 / d
