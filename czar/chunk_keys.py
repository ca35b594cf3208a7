"""Per-chunk key lists: a long `key IN (...)` on a director key sends each chunk only the keys
it holds, instead of the whole list to every chunk.

The director index knows each key's chunk, and every row of a partitioned table's chunk table
has a director key of that chunk (a director row is in the chunk of its position, a child row
in its director's chunk). So within chunk c, `key IN (all keys)` selects the same rows as
`key IN (keys whose index entry is c)`, and a chunk without any key gets no job at all:

    SELECT COUNT(*) FROM Source WHERE objectId IN (<10,000 ids>)
    look-up:  SELECT objectId, chunkId FROM <director index> WHERE objectId IN (...)
    chunk:    SELECT COUNT(*) AS qsa0 FROM Source_<c> WHERE objectId IN (__QSERV_CHUNK_KEYS__)
              chunk 4130 -> objectId IN (13,29), chunk 4131 -> objectId IN (4203), ...

Why: with the whole list in every chunk query (10,000 ids, ~100 kB of SQL), a worker parsed
the list again for each of hundreds of chunks (16 s where one MariaDB took 0.13 s), and the
czar copied and rendered the 10,000 literals in every form of the plan. The plan now holds the
marker (ARG_MARKER) in place of the list; the worker puts each chunk's keys there
(ChunkQueryRequest.chunk_args), after checking that they are a list of integers.

Only a top-level conjunct `key IN (integer literals)` recorded by the director_index pass is
split, and only when the list is long (short lists keep the literal form, which the plan cache
can replay); near-neighbour joins keep the literal form too.
"""

from __future__ import annotations

from collections import defaultdict

from sqlglot import exp

# Where a chunk's own keys go in a template (ChunkQueryRequest.arg_marker)
ARG_MARKER = "__QSERV_CHUNK_KEYS__"
PER_CHUNK_KEYS = 100   # longer lists than this are split per chunk


def split_lookup(select: exp.Select, ctx):
    """The director-index look-up whose IN list to split per chunk, or None."""
    if ctx.neighbour_join is not None:
        return None
    for lookup in ctx.index_lookups:
        node = getattr(lookup, "node", None)
        if lookup.values is not None and len(lookup.values) > PER_CHUNK_KEYS and node is not None:
            term = _term_in(select, lookup)
            if term is not None:
                lookup.node = term
                return lookup
    return None


def _term_in(select: exp.Select, lookup) -> exp.In | None:
    """The look-up's `key IN (...)` conjunct in `select` as it is now (a later pass may have
    copied or rebuilt it since the director_index pass recorded it)."""
    from czar.analysis.context import conjuncts
    from czar.analysis.director_index import _int_literal
    terms = conjuncts(select.args.get("where"))
    if any(term is lookup.node for term in terms):
        return lookup.node
    for term in terms:
        if (isinstance(term, exp.In) and term.args.get("query") is None
                and term.this == lookup.node.this and len(term.expressions) == len(lookup.node.expressions)
                and sorted({_int_literal(v) for v in term.expressions}) == lookup.values):
            return term
    return None


def place_marker(lookup) -> None:
    """The IN list of the look-up's node replaced by the marker (the list stays in `lookup`)."""
    lookup.node.set("expressions", [exp.Var(this=ARG_MARKER)])


def without_marker(sql: str) -> str:
    """A plan's SQL over the czar's empty shadow tables (result typing, the empty answer):
    no rows to test, so the list can be NULL."""
    return sql.replace(ARG_MARKER, "NULL")


def chunk_lists(pairs) -> dict[int, str]:
    """(key, chunkId) pairs from the director index -> each chunk's keys as `k1,k2,...`."""
    keys: dict[int, list[int]] = defaultdict(list)
    for key, chunk in pairs:
        keys[chunk].append(key)
    return {chunk: ",".join(map(str, sorted(ks))) for chunk, ks in keys.items()}
