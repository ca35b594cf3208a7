"""`EXPLAIN <select>`: the physical plan as rows (item, value), without running anything.

    EXPLAIN SELECT COUNT(*) FROM Object WHERE qserv_areaspec_circle(10, 5, 0.5)
    database     demo
    class        interactive
    shape        merged
    chunks       2
    chunk_ids    4130, 4131
    execution    merge
    chunk_query  SELECT COUNT(*) AS `qsa0` FROM `demo`.`Object___QSERV_CHUNK__` AS `Object` WHERE ...
    merge_query  SELECT CAST(COALESCE(SUM(`qsa0`), 0) AS SIGNED) AS `COUNT(*)` FROM __QSERV_RESULT__
    pruned_by    region qserv_areaspec_circle(10, 5, 0.5)
"""

from __future__ import annotations

from czar.dialect import render
from czar.plan import QueryPlan, Shape

COLUMNS = ["item", "value"]
SHOW_IDS = 20


def abbreviate(ids: list[int]) -> str:
    if len(ids) <= SHOW_IDS:
        return ", ".join(map(str, ids))
    head, tail = ids[:12], ids[-5:]
    return (", ".join(map(str, head)) + f", ... ({len(ids) - len(head) - len(tail)} more) ..., "
            + ", ".join(map(str, tail)))


EXECUTION = {
    Shape.TWO_PHASE: "two phases",
    Shape.ON_CZAR: "on the czar",
    Shape.EMPTY: "empty: no chunk to visit; the czar answers over no rows (its empty shadow tables)",
    Shape.SINGLE_JOB: "single job: the query runs as is on one worker, no merge",
    Shape.STREAMED: "streamed: every chunk's rows go to the client, no merge",
    Shape.MERGED: "merge: chunk results are merged by the czar",
    Shape.NEAR_NEIGHBOUR: "merge: chunk results are merged by the czar "
                          "(each chunk joined with itself and with its overlap)",
}


def _execution(plan: QueryPlan) -> str:
    text = EXECUTION[plan.shape]
    if plan.on_czar and plan.shape in (Shape.MERGED, Shape.NEAR_NEIGHBOUR):
        text += f"; the chunks send rows and the czar runs the query over them ({plan.on_czar})"
    if plan.shape is Shape.STREAMED and plan.row_window:
        skip, count = plan.row_window
        text += (f"; the czar skips {skip} rows, sends "
                 f"{'the rest' if count is None else count} and stops the jobs")
    return text


def _phase_rows(plan: QueryPlan) -> list[tuple[str, str]]:
    """Every phase of a two-phase plan: each sub-query's own plan, then the outer query."""
    n = len(plan.phases)
    if plan.shape is Shape.TWO_PHASE:
        execution = (f"two phases: {n} sub-quer{'y runs' if n == 1 else 'ies run'} first; their rows "
                     "stand in the outer query as literals (an IN list on a director key becomes a "
                     "director-index look-up), which is then planned")
        last = f"outer query, planned with the rows of the phases before: {render(plan.outer)}"
    elif plan.on_czar:  # czar/plan_on_czar.py
        execution = (f"on the czar over the rows of its tables, for {plan.on_czar}: {n} "
                     f"source{'' if n == 1 else 's'} (each table with the conditions that name it "
                     "alone, each derived table) into tables of the czar, then the query over them")
        last = f"on the czar, each source replaced by its table: {render(plan.outer)}"
    else:
        execution = (f"{n} source{'' if n == 1 else 's'} (derived tables, sides of a set operation) "
                     "into tables of the czar, then the query over them on the czar")
        last = f"on the czar, each source replaced by its table: {render(plan.outer)}"
    rows = [("database", plan.database or ""), ("shape", plan.shape.value), ("execution", execution)]
    for i, phase in enumerate(plan.phases, 1):
        summary = (" (its values' MIN, MAX, COUNT(*) and COUNT(value) decide the comparison; "
                   "czar/plan_quantified.py)" if phase.kind in ("any", "all") else "")
        rows.append((f"phase {i}", f"{phase.kind} sub-query{summary}: {render(phase.select)}"))
        rows += [(f"phase {i} {item}", value) for item, value in explain_rows(phase.plan)]
    rows.append((f"phase {n + 1}", last))
    return rows


def explain_rows(plan: QueryPlan) -> list[tuple[str, str]]:
    if plan.shape in (Shape.TWO_PHASE, Shape.ON_CZAR):
        return _phase_rows(plan)
    if plan.partitioned:
        chunks, ids = str(len(plan.chunks)), abbreviate(plan.chunks)
    else:
        chunks, ids = "0 (replicated tables only: one worker answers)", ""
    direct = plan.shape in (Shape.SINGLE_JOB, Shape.STREAMED)
    if plan.shape is Shape.EMPTY:
        return [("database", plan.database or ""), ("class", plan.kind), ("shape", plan.shape.value),
                ("chunks", "0"), ("chunk_ids", ""), ("execution", _execution(plan)),
                ("chunk_query", "(none)"), ("merge_query", "(none)"), ("czar_query", plan.empty_sql),
                ("pruned_by", "; ".join(plan.pruned_by) if plan.pruned_by else "nothing: all chunks")]
    return [
        ("database", plan.database or ""),
        ("class", plan.kind),
        ("shape", plan.shape.value),
        ("chunks", chunks),
        ("chunk_ids", ids),
        ("execution", _execution(plan)),
        ("chunk_query", (plan.direct_template if direct else plan.chunk_template) or ""),
        ("merge_query", (plan.merge_sql if not direct else "") or "(none)"),
        ("pruned_by", "; ".join(plan.pruned_by) if plan.pruned_by else "nothing: all chunks"),
    ] + _correlated(plan)


def _correlated(plan: QueryPlan) -> list[tuple[str, str]]:
    """Correlated sub-queries inside the chunk query (czar/plan_correlated.py)."""
    n = plan.correlated
    if not n:
        return []
    return [("correlated", f"{n} correlated sub-quer{'y runs' if n == 1 else 'ies run'} inside each "
                           "chunk query: the rows they read are in the outer row's chunk (tied by "
                           "the director key) or in replicated tables")]
