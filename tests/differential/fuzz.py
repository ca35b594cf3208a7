"""Mutation fuzzing against the oracle: queries of the differential corpus, changed the way a
careless or hostile user would change them (comments of every form, executable comments that
run or not, session variables that change semantics, tweaked numbers and operators, dropped
or doubled tokens, parentheses, extra expressions, extra statements), are run through the
czar and through one plain MariaDB holding the same rows, and the answers compared.

A case ends in one of four ways:
- agree: the same column names and rows (floats within 1e-9 relative; rows compared in
  order when the query's ORDER BY fixes it), or both fail with the same error code;
- refused: the czar fails with 1235 (ER_NOT_SUPPORTED_YET), the code of every construct the
  README documents as not supported, while MariaDB answers;
- indeterminate: the rows differ, but the query is one whose answer SQL leaves open (a column
  neither grouped nor aggregated: MariaDB takes it from any row of the group), which the
  oracle confirms by refusing it under ONLY_FULL_GROUP_BY;
- wrong: anything else (different rows, different errors, an answer where MariaDB fails).

Mutations keep results deterministic: the select list is changed only where no LIMIT picks
rows, and rows are compared in order only when neither the select list nor ORDER BY changed.
Shared by tests/differential/test_fuzz.py (a few hundred cases in CI) and
benchmarks/bench_fuzz.py (10k cases).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from decimal import Decimal

import pymysql
from pymysql.constants import CLIENT, FIELD_TYPE
from pymysql.converters import conversions

from tests.conftest import sort_key, values_equal

QUERIES = Path(__file__).parent / "queries"
ER_NOT_SUPPORTED_YET = 1235
INDETERMINATE = {1055, 1140}  # ER_WRONG_FIELD_WITH_GROUP, ER_MIX_OF_GROUP_FUNC_AND_FIELDS
# Text as bytes (a case may set character_set_results); pymysql's DECIMAL converter wants str.
RAW = {**conversions, FIELD_TYPE.DECIMAL: lambda b: Decimal(b.decode()),
       FIELD_TYPE.NEWDECIMAL: lambda b: Decimal(b.decode())}

TOKEN = re.compile(r"""
    '(?:[^'\\]|\\.|'')*' | "(?:[^"\\]|\\.|"")*" | `(?:[^`]|``)*`
  | \d+(?:\.\d*)?(?:[eE][+-]?\d+)? | \.\d+
  | [A-Za-z_$][\w$]*
  | <=>|<=|>=|<>|!=|\|\||&&|<<|>>
  | \s+ | .
""", re.VERBOSE | re.DOTALL)

COMMENTS = ["/* c */", "/**/", "-- c\n", "#c\n", "/*!99999 1 + */", "/*!50700 AND 0 */",
            "/*M!999999 )) */", "/* a ; b */", "-- ; \n"]
EXEC_FORMS = [("/*!", "*/", True), ("/*!50000 ", " */", True), ("/*M!100000 ", " */", True),
              ("/*M!50700 ", " */", True), ("/*!99999 ", " */", False),
              ("/*!50700 ", " */", False), ("/*M!999999 ", " */", False), ("/*! ", " */", True)]
SESSION = [
    "SET SESSION sql_mode = 'PIPES_AS_CONCAT'", "SET sql_mode = 'ANSI_QUOTES'",
    "SET sql_mode = 'ANSI'", "SET @@sql_mode = 'NO_BACKSLASH_ESCAPES'", "SET sql_mode = ''",
    "SET sql_mode = 'TRADITIONAL'", "SET sql_mode = 'NO_UNSIGNED_SUBTRACTION'",
    "SET sql_mode = 'EMPTY_STRING_IS_NULL'", "SET sql_mode = 'PAD_CHAR_TO_FULL_LENGTH'",
    "SET sql_mode = 'HIGH_NOT_PRECEDENCE'", "SET sql_mode = 'PIPES_AS_CONCAT,ANSI_QUOTES'",
    "SET SESSION div_precision_increment = 0", "SET div_precision_increment = 9",
    "SET @@session.div_precision_increment = 30", "SET time_zone = '+05:00'",
    "SET time_zone = '-03:30'", "SET lc_time_names = 'de_DE'", "SET lc_time_names = 'fr_FR'",
    "SET default_week_format = 3", "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
    "SET collation_connection = 'utf8mb4_unicode_ci'", "SET NAMES utf8mb3",
    "SET character_set_results = latin1", "SET max_sort_length = 8",
    "SET sql_mode = 'NO_ZERO_DATE,STRICT_ALL_TABLES'",
]
EXPRESSIONS = [
    "1/3", "'a' || 'b'", "flags || 'x'", "CONCAT('x', 1/7)", "DATE_FORMAT('2024-03-05', '%M %W %b')",
    "WEEK('2024-01-07')", "FROM_UNIXTIME(86400)", "'a' = 'A'", "\"dq\"", "'b\\\\s'", "'it''s'",
    "NOW() + 0 > 20000101000000", "CURDATE() + 0 > 20000101", "2--1", "CAST(0 AS UNSIGNED) - 1",
    "''", "1 || 0", "- -1", "'é' = 'e'", "CHARSET('x')", "COLLATION('x')", "LENGTH('é😀')",
    "'😀'", "MONTHNAME('2024-02-01')", "UNIX_TIMESTAMP('2024-01-01 00:00:00')",
    "CONVERT_TZ('2024-01-01 00:00:00', '+00:00', '+01:00')", "2 * 3 || 4",
    "5 DIV 2", "7 / 2", "CAST('2024-02-30' AS DATE)", "'abc' LIKE 'A%'", "@@div_precision_increment",
    "@@sql_mode", "flags / 7", "NOT 1 BETWEEN 2 AND 3", "'x' /*!50000 'y' */",
]
COLUMNS = {"Object": ["objectId", "ra", "decl", "uMag", "gMag", "flags", "name"],
           "Source": ["sourceId", "objectId", "mjd", "psfFlux", "filterId"],
           "Filter": ["filterId", "filterName", "photClam"]}
SWAPS = {"=": "<>", "<>": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "AND": "OR",
         "OR": "AND", "IS": "IS NOT", "LIKE": "NOT LIKE", "IN": "NOT IN"}
CLAUSE_ENDS = {"GROUP", "ORDER", "LIMIT", "HAVING"}


@dataclass
class Case:
    name: str                       # the corpus file and the mutations, for reports
    sql: str
    setup: list[str] = field(default_factory=list)
    ordered: bool = False
    multi: bool = False             # the client enables CLIENT_MULTI_STATEMENTS


@dataclass
class Outcome:
    verdict: str                    # agree | refused | wrong
    detail: str = ""


def corpus() -> list[tuple[str, str, bool]]:
    """(name, sql, ordered) of the corpus queries both sides read the same way."""
    out = []
    for path in sorted(QUERIES.glob("*.sql")):
        text = path.read_text()
        if "-- oracle:" in text:
            continue
        sql = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
        out.append((path.stem, sql.strip(), "-- ordered" in text))
    return out


def _regions(tokens: list[str]) -> tuple[list[int], list[int]]:
    """Indexes of the select list's tokens and of the WHERE clause's tokens."""
    words = [t.upper() for t in tokens]
    select, where = [], []
    depth, part = 0, None
    for i, w in enumerate(words):
        if w == "(":
            depth += 1
        elif w == ")":
            depth -= 1
        if depth == 0:
            if w == "SELECT" and part is None:
                part = "select"
                continue
            if w == "FROM" and part == "select":
                part = "from"
            elif w == "WHERE":
                part = "where"
                continue
            elif w in CLAUSE_ENDS:
                part = "end"
        if not tokens[i].isspace():
            if part == "select":
                select.append(i)
            elif part == "where":
                where.append(i)
    return select, where


def mutate(name: str, sql: str, ordered: bool, rng: random.Random) -> Case:
    tokens = TOKEN.findall(sql)
    has_limit = "LIMIT" in (t.upper() for t in tokens)
    tables = [t for t in tokens if t in COLUMNS]
    done: list[str] = []
    setup: list[str] = []
    select_changed = False
    for _ in range(rng.randint(1, 3)):
        select, where = _regions(tokens)
        editable = where + ([] if has_limit else select)
        kind = rng.choice(["comment", "exec", "number", "swap", "not", "paren", "drop", "dup",
                           "case", "expr", "session", "session", "exec", "comment"])
        if kind == "comment":
            i = rng.randrange(len(tokens) + 1)
            tokens.insert(i, rng.choice([" ", ""]) + rng.choice(COMMENTS))
        elif kind == "exec" and editable:
            i = rng.choice(editable)
            j = min(len(tokens), i + rng.randint(1, 4))
            opening, closing, runs = rng.choice(EXEC_FORMS)
            tokens[i:j] = [opening + "".join(tokens[i:j]) + closing]
            select_changed |= i in select and not runs
        elif kind == "number":
            numbers = [i for i in editable if re.fullmatch(r"\d+(\.\d*)?", tokens[i])]
            if not numbers:
                continue
            i = rng.choice(numbers)
            n = float(tokens[i]) if "." in tokens[i] else int(tokens[i])
            tokens[i] = str(rng.choice([n + 1, n * 2, 0, n // 3 if isinstance(n, int) else n / 3]))
            select_changed |= i in select
        elif kind == "swap":
            cands = [i for i in where if tokens[i].upper() in SWAPS]
            if not cands:
                continue
            i = rng.choice(cands)
            tokens[i] = SWAPS[tokens[i].upper()]
        elif kind == "not" and where:
            tokens.insert(where[0], "NOT ")
        elif kind == "paren" and editable:
            i = rng.choice(editable)
            j = min(len(tokens), i + rng.randint(1, 5))
            tokens[i:j] = ["(" + "".join(tokens[i:j]) + ")"]
            select_changed |= i in select
        elif kind == "drop" and editable:
            i = rng.choice(editable)
            del tokens[i]
            select_changed |= i in select
        elif kind == "dup" and editable:
            i = rng.choice(editable)
            tokens.insert(i, tokens[i] + " ")
            select_changed |= i in select
        elif kind == "case":
            tokens = [t.lower() if rng.random() < 0.5 and t[:1] not in "'\"`" else t for t in tokens]
        elif kind == "expr" and not has_limit and select:
            choices = EXPRESSIONS + [f"{c} {op} 3" for t in tables for c in COLUMNS[t]
                                     for op in ("/", "||", "DIV")]
            tokens.insert(select[-1] + 1, ", " + rng.choice(choices))
            select_changed = True
        elif kind == "session":
            setup.append(rng.choice(SESSION))
        else:
            continue
        done.append(kind)
    text = "".join(tokens)
    multi = False
    tail = rng.random()
    if tail < 0.05:
        text += ";"
    elif tail < 0.08:
        text += "; SELECT 1"
    elif tail < 0.11:
        text += "; SELECT 1 /* x */; SELECT 2"
        multi = True
    return Case(name=f"{name} [{', '.join(done) or 'as is'}]", sql=text, setup=setup,
                ordered=ordered and not select_changed, multi=multi)


def cases(count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    queries = corpus()
    return [mutate(*rng.choice(queries), rng) for _ in range(count)]


def _answer(conn, case: Case):
    """The answers to a case on one connection: a list of (names, rows) per result, the
    error (code, message) where it stopped, and how far it got (statements done)."""
    results, done = [], 0
    try:
        with conn.cursor() as cur:
            for statement in case.setup:
                cur.execute(statement)
                done += 1
            cur.execute(case.sql)
            while True:
                names = [d[0] for d in cur.description or []]
                results.append((names, list(cur.fetchall())))
                done += 1
                if not cur.nextset():
                    break
    except pymysql.MySQLError as e:
        code = e.args[0] if e.args and isinstance(e.args[0], int) else -1
        return results, (code, str(e.args[1] if len(e.args) > 1 else e)), done
    return results, None, done


def _same_rows(got, expected, ordered: bool) -> str:
    (g_names, g_rows), (e_names, e_rows) = got, expected
    if g_names != e_names:
        return f"column names {g_names} != {e_names}"
    if len(g_rows) != len(e_rows):
        return f"{len(g_rows)} rows != {len(e_rows)}"
    if ordered:
        return _pairwise(g_rows, e_rows)
    # as multisets: sorted by exact values (equal rows meet), else by values rounded as
    # tests.conftest does (floats summed in another order meet)
    problem = _pairwise(sorted(g_rows, key=_exact_key), sorted(e_rows, key=_exact_key))
    return problem and _pairwise(sorted(g_rows, key=sort_key), sorted(e_rows, key=sort_key))


def _exact_key(row):
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in row)


def _pairwise(g_rows, e_rows) -> str:
    for i, (g, e) in enumerate(zip(g_rows, e_rows)):
        if len(g) != len(e) or not all(values_equal(x, y) for x, y in zip(g, e)):
            return f"row {i}: {g} != {e}"
    return ""


def compare(czar_connect, oracle_connect, case: Case) -> Outcome:
    """Run a case on fresh connections to both (its session settings stay its own)."""
    flags = {"client_flag": CLIENT.MULTI_STATEMENTS} if case.multi else {}
    czar = czar_connect(use_unicode=False, conv=RAW, **flags)
    oracle = oracle_connect(use_unicode=False, conv=RAW, **flags)
    try:
        (got, got_error, got_done), (expected, expected_error, expected_done) = \
            _answer(czar, case), _answer(oracle, case)
    finally:
        czar.close()
        oracle.close()
    if got_error and got_error[0] == ER_NOT_SUPPORTED_YET and expected_done > got_done:
        return Outcome("refused", got_error[1])  # a construct documented as not supported
    if len(got) != len(expected):
        return Outcome("wrong", f"{len(got)} results ({got_error}) != {len(expected)} "
                                f"({expected_error})")
    for g, e in zip(got, expected):
        problem = _same_rows(g, e, case.ordered)
        if problem:
            if _indeterminate(oracle_connect, case):
                return Outcome("indeterminate", problem)
            return Outcome("wrong", problem)
    if got_error == expected_error or (got_error and expected_error
                                       and got_error[0] == expected_error[0]):
        return Outcome("agree")
    return Outcome("wrong", f"czar {got_error} != oracle {expected_error}")


def _indeterminate(oracle_connect, case: Case) -> bool:
    """Does MariaDB call the query's answer open (ONLY_FULL_GROUP_BY refuses it)?"""
    strict = Case(case.name, case.sql, case.setup + [
        "SET sql_mode = CONCAT(@@sql_mode, ',ONLY_FULL_GROUP_BY')"], case.ordered, case.multi)
    flags = {"client_flag": CLIENT.MULTI_STATEMENTS} if case.multi else {}
    conn = oracle_connect(use_unicode=False, conv=RAW, **flags)
    try:
        _, error, _ = _answer(conn, strict)
    finally:
        conn.close()
    return error is not None and error[0] in INDETERMINATE
