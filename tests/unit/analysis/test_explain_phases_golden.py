"""Golden plans of queries with sub-queries and derived tables: `fixtures/explain_phases.golden`
(same format as explain.golden), planned by the czar's own QueryEngine.plan over the in-memory
catalog (chunks 0..15 on one worker; a director-index key k lives in chunk k % 16), so every
phase shows: two-phase plans, plans on the czar, correlated sub-queries inside chunk queries.

    QSERV_REGEN_GOLDEN=1 python3 -m pytest -q tests/unit/analysis/test_explain_phases_golden.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlglot

from czar.engine import QueryEngine
from czar.explain import explain_rows
from czar.plan_phases import default_names
from tests.unit.analysis.test_explain_golden import (ALL_CHUNKS, REGEN, WIDTH, read_golden,
                                                     write_golden)
from tests.unit.analysis.test_passes import catalog

GOLDEN = Path(__file__).parent / "fixtures" / "explain_phases.golden"


class MemoryEngine(QueryEngine):
    """QueryEngine.plan without a MariaDB: the catalog in memory, the director index k % 16."""

    def __init__(self):  # no pools, no dispatcher: planning only
        view = catalog()
        view.placement = {db: {c: ["worker0"] for c in ALL_CHUNKS} for db in view.databases}
        self.catalog = SimpleNamespace(view=view)

    async def refresh_catalog(self):
        return self.catalog.view

    async def index_chunks(self, lookup):
        if lookup.values is None:
            return set(ALL_CHUNKS)
        return {v % len(ALL_CHUNKS) for v in lookup.values}

    async def index_chunk_keys(self, lookup):
        keys: dict[int, list[int]] = {}
        for v in lookup.values:
            keys.setdefault(v % len(ALL_CHUNKS), []).append(v)
        return keys


def explain_text(query: str) -> list[str]:
    select = sqlglot.parse_one(query, read="mysql")
    plan = asyncio.run(MemoryEngine().plan(select, "demo", default_names(select)))
    return [f"> {item:<{WIDTH}} {value}".rstrip() for item, value in explain_rows(plan)]


CASES = [c for c in read_golden(GOLDEN.read_text()) if c.query]


def test_regenerate():
    if not REGEN:
        pytest.skip("set QSERV_REGEN_GOLDEN=1 to regenerate fixtures/explain_phases.golden")
    cases = read_golden(GOLDEN.read_text())
    for case in cases:
        if case.query:
            case.rows = explain_text(case.query)
    GOLDEN.write_text(write_golden(cases))


@pytest.mark.parametrize("case", [pytest.param(c, id=f"explain_phases.golden:{c.line}") for c in CASES])
def test_golden_plan(case):
    if REGEN:
        pytest.skip("regenerating")
    assert case.rows, f"explain_phases.golden:{case.line}: no expected rows (regenerate)"
    assert explain_text(case.query) == case.rows


def test_golden_file_round_trips():
    text = GOLDEN.read_text()
    assert write_golden(read_golden(text)) == text
    assert len(CASES) >= 8
