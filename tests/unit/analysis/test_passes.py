"""Fixture tests of the analysis passes and of the planner (DESIGN §5, §10).

One file of cases per pass, `fixtures/<pass>.sql`, the way sqlglot tests its optimizer rules,
and one golden file for the planner, `fixtures/plan.sql`. Format of a case (cases are
separated by blank lines; `#` starts a comment line; an indented line continues the previous):

    @default_db none                  optional settings (`@default_db`, `@names a | b`)
    SELECT ... FROM ...               the user's query (MySQL dialect)
    SELECT ...                        the pass's output (rendered by sqlglot, dialect mysql);
                                      `=` means "unchanged", `ERROR <code> [text]` a rejection
    key: value                        facts the pass records in the QueryContext (optional)

plan.sql cases have no output line; their facts are `chunk:`, `merge:` and `partitioned:`.
Each pass runs after the passes before it in PASSES, on an in-memory catalog (the demo spec).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from czar.analysis import PASSES, QueryContext
from czar.catalog_cache import CatalogView
from czar.plan import build_plan
from czar.plan_phases import default_names
from qserv.admin.demo import demo_spec
from qserv.errors import QservError

FIXTURES = Path(__file__).parent / "fixtures"
PASS_NAMES = [p.__name__ for p in PASSES]


@dataclass
class Case:
    file: str
    line: int
    query: str
    expected: str | None = None
    facts: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def read_cases(path: Path, with_output: bool = True) -> list[Case]:
    cases: list[Case] = []
    block: list[tuple[int, str]] = []

    def flush():
        if not block:
            return
        options = {}
        lines = []
        for no, text in block:
            if text.startswith("@"):
                key, _, value = text[1:].partition(" ")
                options[key] = value.strip()
            else:
                lines.append((no, text))
        assert lines, f"{path.name}:{block[0][0]}: a case without a query"
        first_no, query = lines[0]
        case = Case(path.name, first_no, query, options=options)
        rest = lines[1:]
        if with_output or (rest and rest[0][1].startswith("ERROR")):
            assert rest, f"{path.name}:{first_no}: a case without its expected output"
            case.expected = rest[0][1]
            rest = rest[1:]
        for no, text in rest:
            key, sep, value = text.partition(":")
            assert sep and key.strip().isidentifier(), f"{path.name}:{no}: expected `key: value`"
            case.facts[key.strip()] = value.strip()
        cases.append(case)
        block.clear()

    for no, raw in enumerate(path.read_text().splitlines(), 1):
        if raw.lstrip().startswith("#"):
            continue
        if not raw.strip():
            flush()
        elif raw[0].isspace():
            assert block, f"{path.name}:{no}: continuation line without a line to continue"
            block[-1] = (block[-1][0], block[-1][1] + " " + raw.strip())
        else:
            block.append((no, raw.strip()))
    flush()
    return cases


def catalog() -> CatalogView:
    """demo: Source with its own position and a margin (as the partitioner measures it);
    sky2: Source's margin unknown; sky3: Source without position columns."""
    demo, other, third = demo_spec("demo"), demo_spec("sky2"), demo_spec("sky3")
    demo.table("Source").position_margin = 0.01
    for spec in (demo, other):   # no row placed by its own position, as the ingest records it
        spec.table("Source").placed_by_position = 0
    third.table("Source").ra = third.table("Source").dec = None
    return CatalogView(version=1, databases={"demo": demo, "sky2": other, "sky3": third},
                       published={"demo", "sky2", "sky3"})


def context(case: Case) -> tuple[exp.Select, QueryContext]:
    select = sqlglot.parse_one(case.query, read="mysql")
    assert isinstance(select, exp.Select), case.query
    db = case.options.get("default_db", "demo")
    ctx = QueryContext(select=select, default_db=None if db == "none" else db, catalog=catalog())
    return select, ctx


def render(select: exp.Expression) -> str:
    return select.sql(dialect="mysql")


def facts(ctx: QueryContext) -> dict[str, str]:
    def table(ref):
        alias = f" AS {ref.node.alias}" if ref.node.alias else ""
        return f"{ref.db}.{ref.spec.name}{alias} ({ref.spec.role})"
    return {
        "tables": ", ".join(table(t) for t in ctx.tables),
        "database": str(ctx.database),
        "aggregate": "yes" if ctx.is_aggregate else "no",
        "group_keys": " | ".join(render(k) for k in ctx.group_keys),
        "lookups": " | ".join(lookup.describe() for lookup in ctx.index_lookups),
        "pruned_by": "; ".join(ctx.pruned_by),
        "chunks": "all" if ctx.chunk_restriction is None else str(len(ctx.chunk_restriction)),
        "on_czar": ctx.on_czar,
        "neighbours": (f"{ctx.neighbour_join.owner.qualifier} + {ctx.neighbour_join.partner.qualifier}"
                       f" (overlap) within {ctx.neighbour_join.radius}") if ctx.neighbour_join else "",
    }


def check_error(case: Case, run) -> None:
    parts = case.expected.split(None, 2)
    code = int(parts[1])
    with pytest.raises(QservError) as info:
        run()
    assert info.value.code == code, info.value.message
    if len(parts) > 2:
        assert parts[2].lower() in info.value.message.lower()


def pass_cases():
    for name in PASS_NAMES:
        for case in read_cases(FIXTURES / f"{name}.sql"):
            yield pytest.param(name, case, id=case.id)


@pytest.mark.parametrize("name, case", pass_cases())
def test_pass(name: str, case: Case):
    select, ctx = context(case)
    index = PASS_NAMES.index(name)
    for earlier in PASSES[:index]:
        select = earlier(select, ctx)
    the_pass = PASSES[index]
    if case.expected.startswith("ERROR"):
        check_error(case, lambda: the_pass(select, ctx))
        return
    before = render(select)
    select = the_pass(select, ctx)
    expected = before if case.expected == "=" else case.expected
    assert render(select) == expected
    got = facts(ctx)
    for key, value in case.facts.items():
        assert key in got, f"unknown fact {key!r} in {case.id}"
        assert got[key] == value, key


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id)
                                  for c in read_cases(FIXTURES / "plan.sql", with_output=False)])
def test_plan(case: Case):
    select, ctx = context(case)

    def run():
        s = select
        for pass_ in PASSES:
            s = pass_(s, ctx)
        if "names" in case.options:
            ctx.output_names = [n.strip() for n in case.options["names"].split("|")]
        else:
            ctx.output_names = default_names(s)
        return build_plan(s, ctx)

    if case.expected is not None:
        check_error(case, run)
        return
    plan = run()
    assert {"chunk", "merge"} <= set(case.facts), f"{case.id}: give chunk: and merge:"
    got = {"chunk": plan.chunk_template, "merge": plan.merge_sql,
           "partitioned": "yes" if plan.partitioned else "no", "database": plan.database}
    for key, value in case.facts.items():
        assert key in got, f"unknown fact {key!r} in {case.id}"
        assert got[key] == value, key


def test_every_pass_has_a_fixture_file_with_cases():
    for name in PASS_NAMES + ["plan"]:
        path = FIXTURES / f"{name}.sql"
        assert path.exists(), f"missing {path}"
        assert len(read_cases(path, with_output=name != "plan")) >= 5, path


def test_fixture_reader(tmp_path):
    path = tmp_path / "x.sql"
    path.write_text("# c\n@default_db none\nSELECT 1\n  FROM t\n=\naggregate: no\n\n"
                    "SELECT 2\nERROR 1235 sub\n")
    a, b = read_cases(path)
    assert (a.query, a.expected, a.facts, a.options) == (
        "SELECT 1 FROM t", "=", {"aggregate": "no"}, {"default_db": "none"})
    assert (b.query, b.expected) == ("SELECT 2", "ERROR 1235 sub")


def test_pass_docstrings_number_the_passes_in_order():
    """Each pass module's docstring starts `Pass <n> (<name>):`, n its place in PASSES, and
    shows an example (an indented line)."""
    import sys
    for n, the_pass in enumerate(PASSES, 1):
        doc = sys.modules[the_pass.__module__].__doc__
        assert doc.startswith(f"Pass {n} ({the_pass.__name__}):"), the_pass.__module__
        assert "\n    " in doc, f"{the_pass.__module__}: no example"
