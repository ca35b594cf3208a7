"""`EXPLAIN <select>`: the physical plan as rows (item, value), without running anything.

    EXPLAIN SELECT COUNT(*) FROM Object WHERE qserv_areaspec_circle(10, 5, 0.5)
    database     demo
    class        interactive
    chunks       2
    chunk_ids    4130, 4131
    execution    merge
    chunk_query  SELECT COUNT(*) AS `qsa0` FROM `demo`.`Object___QSERV_CHUNK__` AS `Object` WHERE ...
    merge_query  SELECT CAST(COALESCE(SUM(`qsa0`), 0) AS SIGNED) AS `COUNT(*)` FROM __QSERV_RESULT__
    pruned_by    region qserv_areaspec_circle(10, 5, 0.5)
"""

from __future__ import annotations

from czar.plan import QueryPlan

COLUMNS = ["item", "value"]
SHOW_IDS = 20


def abbreviate(ids: list[int]) -> str:
    if len(ids) <= SHOW_IDS:
        return ", ".join(map(str, ids))
    head, tail = ids[:12], ids[-5:]
    return (", ".join(map(str, head)) + f", ... ({len(ids) - len(head) - len(tail)} more) ..., "
            + ", ".join(map(str, tail)))


def explain_rows(plan: QueryPlan) -> list[tuple[str, str]]:
    if plan.partitioned:
        chunks, ids = str(len(plan.chunks)), abbreviate(plan.chunks)
    else:
        chunks, ids = "0 (replicated tables only: one worker answers)", ""
    if plan.single_job:
        execution = "single job: the query runs as is on one worker, no merge"
    elif plan.streamable:
        execution = "streamed: every chunk's rows go to the client, no merge"
        if plan.row_window:
            skip, count = plan.row_window
            execution += (f"; the czar skips {skip} rows, sends "
                          f"{'the rest' if count is None else count} and stops the jobs")
    else:
        execution = "merge: chunk results are merged by the czar"
    direct = (plan.single_job or plan.streamable) and plan.direct_template
    chunk_query = plan.direct_template if direct else plan.chunk_template
    merge_query = plan.merge_sql if not plan.single_job and not plan.streamable else ""
    return [
        ("database", plan.database or ""),
        ("class", plan.kind),
        ("chunks", chunks),
        ("chunk_ids", ids),
        ("execution", execution),
        ("chunk_query", chunk_query or ""),
        ("merge_query", merge_query or "(none)"),
        ("pruned_by", "; ".join(plan.pruned_by) if plan.pruned_by else "nothing: all chunks"),
    ]
