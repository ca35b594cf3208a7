"""Golden plans: each query of `fixtures/explain.golden` with the EXPLAIN text the czar prints
for it (DESIGN §10, the way Vitess tests its planner). A change of plan shows up as a diff of
that file.

Format: cases separated by blank lines; `#` comment lines; `@chunks 1,2` (optional) gives the
chunks left to visit, else the in-memory catalog's stand-in (`ALL_CHUNKS`, narrowed by the
passes' restrictions, director-index keys k standing for chunk k % 16); the query (indented
lines continue it); then `> item  value` lines, EXPLAIN's rows.

After an intended change of plans, regenerate the expected rows and read the diff:

    QSERV_REGEN_GOLDEN=1 python3 -m pytest -q tests/unit/analysis/test_explain_golden.py
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from czar.analysis import PASSES
from czar.explain import explain_rows
from czar.plan import build_plan
from tests.unit.analysis.test_passes import Case, catalog, default_names, context

GOLDEN = Path(__file__).parent / "fixtures" / "explain.golden"
REGEN = os.environ.get("QSERV_REGEN_GOLDEN") == "1"
ALL_CHUNKS = list(range(16))
WIDTH = 12


@dataclass
class GoldenCase:
    head: list[str]                    # comment, option and query lines as written
    query: str
    options: dict[str, str]
    rows: list[str] = field(default_factory=list)
    line: int = 0


def read_golden(text: str) -> list[GoldenCase]:
    cases, block = [], []
    for no, raw in enumerate(text.splitlines() + [""], 1):
        if raw.strip():
            block.append((no, raw))
            continue
        if not block:
            continue
        head = [r for _, r in block if not r.startswith(">")]
        rows = [r for _, r in block if r.startswith(">")]
        query_lines = [r for r in head if not r.startswith(("#", "@"))]
        options = dict(r[1:].partition(" ")[::2] for r in head if r.startswith("@"))
        if query_lines:
            query = " ".join(r.strip() for r in query_lines)
            cases.append(GoldenCase(head, query, {k: v.strip() for k, v in options.items()},
                                    rows, block[0][0]))
        else:
            cases.append(GoldenCase(head, "", {}, [], block[0][0]))  # comments only
        block = []
    return cases


def write_golden(cases: list[GoldenCase]) -> str:
    return "\n\n".join("\n".join(c.head + c.rows) for c in cases) + "\n"


def explain_text(case: GoldenCase) -> list[str]:
    select, ctx = context(Case("explain.golden", case.line, case.query, options=case.options))
    for pass_ in PASSES:
        select = pass_(select, ctx)
    ctx.output_names = default_names(select)
    if "chunks" in case.options:
        chunks = [int(c) for c in case.options["chunks"].split(",") if c.strip()]
    else:
        chunks = set(ALL_CHUNKS)
        if ctx.chunk_restriction is not None:
            chunks = set(ctx.chunk_restriction)
        for lookup in ctx.index_lookups:  # as the engine narrows them (QueryEngine.plan)
            found = {v % len(ALL_CHUNKS) for v in lookup.values} if lookup.values is not None \
                else set(ALL_CHUNKS)
            ctx.restrict_chunks(found, lookup.describe())
            chunks &= found
        chunks = sorted(chunks)
    plan = build_plan(select, ctx, chunks)
    plan.pruned_by = list(ctx.pruned_by)
    return [f"> {item:<{WIDTH}} {value}".rstrip() for item, value in explain_rows(plan)]


CASES = [c for c in read_golden(GOLDEN.read_text()) if c.query]


def test_regenerate():
    """With QSERV_REGEN_GOLDEN=1: rewrite the expected rows from today's planner."""
    if not REGEN:
        pytest.skip("set QSERV_REGEN_GOLDEN=1 to regenerate fixtures/explain.golden")
    cases = read_golden(GOLDEN.read_text())
    for case in cases:
        if case.query:
            case.rows = explain_text(case)
    GOLDEN.write_text(write_golden(cases))


@pytest.mark.parametrize("case", [pytest.param(c, id=f"explain.golden:{c.line}") for c in CASES])
def test_golden_plan(case: GoldenCase):
    if REGEN:
        pytest.skip("regenerating")
    assert case.rows, f"explain.golden:{case.line}: no expected rows (regenerate)"
    assert explain_text(case) == case.rows


def test_golden_file_round_trips():
    text = GOLDEN.read_text()
    assert write_golden(read_golden(text)) == text
    assert len(CASES) >= 10
    assert catalog().version == 1
