"""Plan cache: a repeated query shape skips mysql-mimic's parse, the shadow check and the
analysis passes.

Why: a point look-up by objectId costs the czar a few milliseconds of sqlglot (mysql-mimic
parses the text, the passes walk and copy the tree, the plan is rendered back to SQL) and one
shadow round trip, while its answer comes from one indexed row. Applications send the same
statement again and again with other numbers, so the text with its numbers cut out (the
*shape*) keys a ready plan:

    SELECT * FROM Object WHERE objectId = 4203    shape: SELECT * FROM Object WHERE objectId = ?

What may vary between hits. Only a number that is a plain operand of a column comparison in
WHERE becomes a parameter (`col = n`, `col < n`, `col IN (n, ...)`, `col BETWEEN n AND m`,
under AND / OR / NOT / parentheses): its value changes neither the result's columns (names and
types come from the select list), nor MariaDB's verdict on the statement, nor the plan's shape,
only which rows match and which chunks the director index names (looked up afresh for every
query). Every other number (select list, LIMIT, ORDER BY 2, restrictor and scisql arguments,
`-n`) stays part of the key with its value, so such a statement hits only when repeated as is.

How an entry is made. The second time a shape is seen its parameters are found (one parse);
the next time the same variant (same fixed numbers) is seen, it is analysed and planned again with a distinct sentinel number in each parameter's place; the entry
is kept only if every sentinel comes out verbatim exactly once in each template and nowhere in
the merge query, and the director-index look-ups name sentinels or fixed values only. A hit
puts the client's own number texts where the sentinels are. Anything unusual (comments, `@`,
`;`, `?`, an unterminated quote) is simply not cached.

Validity: an entry belongs to one catalog version (publish, drop and every other metadata change
bump it) and one default database; the engine reads the version in the same round trip as the
director-index look-up and takes the full path when it moved.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import sqlglot
from sqlglot import exp

from czar.analysis import QueryContext, analyze
from czar.analysis.director_index import IndexLookup
from czar.chunk_keys import PER_CHUNK_KEYS
from czar.plan import QueryPlan, build_plan

MAX_SHAPES = 1024
SENTINEL_BASE = 7_340_000_000_000_000_000  # 19 digits: the analysis takes them as BIGINT keys
SENTINEL = re.compile(r"(?<![\w.$])(73400000000000\d{5})(?![\w.$])")
DIGITS = re.compile(r"\d{1,19}")

# One token at a time. Quoted text and words are kept whole, so digits inside them are never
# taken for numbers; a number must not run into a word (`1e5x` is a word, as for MariaDB).
_TOKEN = re.compile(r"""
      (?P<keep>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`(?:[^`]|``)*`
               |0[xX][0-9a-fA-F]+(?![\w$])|0[bB][01]+(?![\w$]))
    | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![\w$]))
    | (?P<word>[\w$]+)
    | (?P<refuse>['"`\\?;@\#]|--|/\*)
    | (?P<other>\s+|.)
""", re.VERBOSE | re.DOTALL)

COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
CONNECTIVES = (exp.And, exp.Or, exp.Not, exp.Paren)


def shape_of(sql: str) -> tuple[str, list[str]] | None:
    """(the text with every number replaced by `?`, the numbers' texts), or None when the
    text is not a candidate for caching."""
    pieces, numbers = [], []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup
        if kind == "refuse":
            return None
        if kind == "number":
            numbers.append(m.group())
            pieces.append("?")
        else:
            pieces.append(m.group())
    return "".join(pieces), numbers


def _fill(shape: str, values: Sequence[str]) -> str:
    it = iter(values)
    return re.sub(r"\?", lambda _: next(it), shape)


def _sentinel(slot: int) -> str:
    return str(SENTINEL_BASE + slot)


def _is_parameter(literal: exp.Literal, where: exp.Expression) -> bool:
    """A plain operand of a comparison with a column, joined to WHERE only by AND/OR/NOT."""
    parent = literal.parent
    if isinstance(parent, COMPARISONS):
        other = parent.left if parent.right is literal else parent.right
        if not isinstance(other, exp.Column):
            return False
    elif isinstance(parent, exp.In):
        if parent.args.get("query") or literal not in parent.expressions \
                or not isinstance(parent.this, exp.Column):
            return False
    elif isinstance(parent, exp.Between):
        if literal is parent.this or not isinstance(parent.this, exp.Column):
            return False
    else:
        return False
    node = parent.parent
    while node is not where:
        if not isinstance(node, CONNECTIVES):
            return False
        node = node.parent
    return True


class _Template:
    """A SQL text with sentinels, split once so that filling it is a join."""

    def __init__(self, text: str, slot_of: dict[str, int]):
        self.parts = SENTINEL.split(text)  # text, sentinel, text, sentinel, ..., text
        self.slots = [slot_of[s] for s in self.parts[1::2]]

    def fill(self, numbers: Sequence[str]) -> str:
        out = self.parts[:]
        for i, slot in enumerate(self.slots):
            out[2 * i + 1] = numbers[slot]
        return "".join(out)


@dataclass
class _LookupSlots:
    """A director-index look-up whose values are parameter slots (int) or fixed values (str)."""

    database: str
    director_table: str
    values: list | None
    between: tuple | None

    def resolve(self, numbers: Sequence[str]) -> IndexLookup | None:
        def value(v):
            text = numbers[v] if isinstance(v, int) else v
            return int(text) if DIGITS.fullmatch(text) else None
        if self.values is not None:
            values = [value(v) for v in self.values]
            if None in values:
                return None  # the full path would not use the index for this value
            return IndexLookup(self.database, self.director_table, values=sorted(set(values)))
        lo, hi = value(self.between[0]), value(self.between[1])
        if lo is None or hi is None:
            return None
        return IndexLookup(self.database, self.director_table, between=(lo, hi))


@dataclass
class CachedPlan:
    """One learned shape: what the frontend and the engine need to answer it without sqlglot."""

    version: int                        # catalog version it was planned against
    shadow: object                      # engine.ShadowResult of the shape (columns, types)
    database: str
    partitioned: bool
    streamable: bool
    row_window: tuple | None            # a LIMIT's window (its numbers are part of the key)
    merge_sql: str
    templates: dict[str, _Template]     # QueryPlan field -> template
    lookups: list[_LookupSlots]
    restriction: frozenset[int] | None  # chunks left by restrictors (fixed numbers)
    pruned_by: list[str]

    def index_lookups(self, numbers: Sequence[str]) -> list[IndexLookup] | None:
        lookups = [slots.resolve(numbers) for slots in self.lookups]
        return None if None in lookups else lookups

    def plan(self, numbers: Sequence[str], chunks: list[int]) -> QueryPlan:
        text = {name: t.fill(numbers) for name, t in self.templates.items()}
        return QueryPlan(database=self.database, merge_sql=self.merge_sql,
                         chunk_template=text.get("chunk_template", ""),
                         shadow_sql=text.get("shadow_sql", ""),
                         direct_template=text.get("direct_template", ""),
                         empty_sql=text.get("empty_sql", ""),
                         chunks=chunks if self.partitioned else [], partitioned=self.partitioned,
                         streamable=self.streamable, row_window=self.row_window,
                         pruned_by=list(self.pruned_by))


@dataclass
class Hit:
    entry: CachedPlan
    numbers: list[str]


class PlanCache:
    """Shapes -> learned plans, per default database; least recently used ones are dropped."""

    def __init__(self, max_shapes: int = MAX_SHAPES):
        self.max_shapes = max_shapes
        # (database, shape) -> parameter slots (None: not cacheable), learned on 2nd sighting
        self._params: OrderedDict[tuple, tuple[int, ...] | None] = OrderedDict()
        self._seen: OrderedDict[tuple, None] = OrderedDict()
        # (database, shape, fixed numbers) -> entry
        self._entries: OrderedDict[tuple, CachedPlan] = OrderedDict()
        self.hits = 0
        self.learned = 0

    def lookup(self, sql: str, database: str | None) -> Hit | None:
        shaped = shape_of(sql)
        if shaped is None:
            return None
        shape, numbers = shaped
        params = self._params.get((database, shape))
        if params is None:
            return None
        entry = self._entries.get(self._key(database, shape, numbers, params))
        if entry is None:
            return None
        self.hits += 1
        return Hit(entry, numbers)

    def forget(self, hit: Hit) -> None:
        """Drop an entry found stale (its catalog version passed)."""
        for key, entry in list(self._entries.items()):
            if entry is hit.entry:
                del self._entries[key]

    def learn(self, sql: str, database: str | None, shadow, view) -> None:
        """Called after a statement passed the shadow check and was planned with catalog
        `view`: the second sighting of a shape finds its parameters, the next sighting of the
        same variant plans it with sentinels and keeps the entry if it is sound."""
        shaped = shape_of(sql)
        if shaped is None:
            return
        shape, numbers = shaped
        if len(numbers) > PER_CHUNK_KEYS:
            # a long IN list on a director key is split per chunk on the full path
            # (czar/chunk_keys.py), which a replayed template cannot do
            return
        key = (database, shape)
        if key not in self._params:
            if key not in self._seen:  # first sighting of the shape: remember it only
                _bounded_put(self._seen, key, None, self.max_shapes)
                return
            _bounded_put(self._params, key, _parameter_slots(shape, len(numbers)), self.max_shapes)
        params = self._params[key]
        if params is None:
            return
        full = self._key(database, shape, numbers, params)
        if full not in self._seen:
            # The same shape with other fixed numbers (a cone search elsewhere) is planned
            # only once that exact variant comes back.
            _bounded_put(self._seen, full, None, self.max_shapes)
            return
        entry = _make_entry(shape, numbers, params, database, shadow, view)
        if entry is None:
            self._params[key] = None
            return
        _bounded_put(self._entries, full, entry, self.max_shapes)
        self.learned += 1

    @staticmethod
    def _key(database, shape, numbers, params) -> tuple:
        fixed = tuple(n for i, n in enumerate(numbers) if i not in params)
        return database, shape, fixed


def _bounded_put(d: OrderedDict, key, value, limit: int) -> None:
    d[key] = value
    d.move_to_end(key)
    while len(d) > limit:
        d.popitem(last=False)


def _parse_select(text: str) -> exp.Select | None:
    try:
        statements = sqlglot.parse(text, read="mysql")
    except sqlglot.errors.SqlglotError:
        return None
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        return None
    return statements[0]


def _parameter_slots(shape: str, count: int) -> tuple[int, ...] | None:
    """Which numbers of the shape are parameters (see the module's docstring)."""
    select = _parse_select(_fill(shape, [_sentinel(i) for i in range(count)]))
    if select is None:
        return None
    where = select.args.get("where")
    slots = []
    for literal in select.find_all(exp.Literal):
        m = SENTINEL.fullmatch(literal.this) if not literal.is_string else None
        if m and where is not None and _is_parameter(literal, where):
            slots.append(int(literal.this) - SENTINEL_BASE)
    return tuple(sorted(slots))


def _make_entry(shape: str, numbers: list[str], params: tuple[int, ...], database, shadow,
                view) -> CachedPlan | None:
    """Plan the shape with sentinels in the parameters' places and the client's other numbers;
    None when the outcome cannot be reused soundly."""
    values = [_sentinel(i) if i in params else n for i, n in enumerate(numbers)]
    select = _parse_select(_fill(shape, values))
    if select is None:
        return None
    ctx = QueryContext(select=select, default_db=database, catalog=view,
                       output_names=list(shadow.names))
    try:
        select = analyze(select, ctx)
        plan = build_plan(select, ctx, None)
    except Exception:  # the full path accepted the real numbers; be conservative
        return None
    if ctx.neighbour_join is not None:
        return None
    if any(ref.db.lower() not in view.published for ref in ctx.tables):
        return None
    slot_of = {_sentinel(i): i for i in params}
    templates = {}
    for name in ("direct_template", "chunk_template", "shadow_sql", "empty_sql"):
        text = getattr(plan, name)
        if not text:
            continue
        found = SENTINEL.findall(text)
        if sorted(found) != sorted(slot_of):
            return None  # a parameter was dropped, duplicated or rewritten
        templates[name] = _Template(text, slot_of)
    if SENTINEL.search(plan.merge_sql):
        return None
    lookups = []
    for lookup in ctx.index_lookups:
        def slot(v: int):
            return slot_of.get(str(v), str(v))
        lookups.append(_LookupSlots(
            lookup.database, lookup.director_table,
            values=[slot(v) for v in lookup.values] if lookup.values is not None else None,
            between=tuple(slot(v) for v in lookup.between) if lookup.between is not None else None))
    pruned = [p for p in ctx.pruned_by if not SENTINEL.search(p)]
    return CachedPlan(version=view.version, shadow=shadow, database=ctx.database,
                      partitioned=plan.partitioned, streamable=plan.streamable,
                      row_window=plan.row_window, merge_sql=plan.merge_sql, templates=templates, lookups=lookups,
                      restriction=frozenset(ctx.chunk_restriction)
                      if ctx.chunk_restriction is not None else None,
                      pruned_by=pruned)
