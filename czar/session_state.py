"""Session variables that change answers, and where each one is honoured.

A client's `SET SESSION sql_mode = 'PIPES_AS_CONCAT'` used to be stored by mysql-mimic and
ignored by the chunk queries and the merge: `SELECT name || '-x'` then answered 0 for every row.
Every session variable a client sets now lands in exactly one of these groups:

- CARRIED: they change what a query computes (sql_mode, div_precision_increment, time_zone,
  lc_time_names, ...). They are set on the session's own connection to the czar's MariaDB (the
  shadow: checks, table-less SELECTs, SHOW), and every chunk query and every merge statement
  runs on a connection set the same way (`SessionState.worker_sql`). sql_mode is split: the
  flags that change how *text is read* (ANSI_QUOTES, PIPES_AS_CONCAT, NO_BACKSLASH_ESCAPES,
  IGNORE_SPACE) choose the czar's parser dialect (`SessionState.dialect`) and are left out of
  the SQL the czar generates (it is written in MariaDB's default syntax); ONLY_FULL_GROUP_BY only
  rejects statements, which the shadow check already does on the client's own text.
- CLIENT_SIDE: the client's character sets, which the frontend applies itself (mysql-mimic
  decodes statements with character_set_client; results are converted to character_set_results).
- EDGE: sql_select_limit, applied to the rows the client receives; max_statement_time, the
  statement's time limit on the czar and the workers (czar/deadline.py).
- NO_EFFECT: variables that cannot change the answer of a read (timeouts, buffer sizes,
  optimizer choices, write-only checks); MariaDB still validates them on the shadow.
- everything else is refused with an error naming the variable (or MariaDB's own error when it
  does not know the name): never accepted and then ignored.

Some values of carried variables cannot be honoured and are refused the same way: sql_mode
flags that change the grammar beyond what the czar's parser follows (HIGH_NOT_PRECEDENCE,
ORACLE, ...), and connection character sets other than utf8mb4/utf8mb3 (the workers write rows
in the literals' character set, which the czar passes on as UTF-8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.tokens import TokenType
from sqlglot.parsers.mysql import MySQLParser
from sqlglot import parser as sqlglot_parser

from mysql_mimic.charset import CharacterSet
from mysql_mimic.connection import Connection

from czar.statements import version_number
from qserv.errors import ER_NOT_SUPPORTED_YET, QservError

CARRIED = (  # in the order they are set (character set before collation)
    "sql_mode", "div_precision_increment", "time_zone", "lc_time_names", "default_week_format",
    "group_concat_max_len", "max_sort_length", "old_mode",
    "character_set_connection", "collation_connection",
)
CLIENT_SIDE = ("character_set_client", "character_set_results")
EDGE = ("sql_select_limit", "max_statement_time")
NO_EFFECT = frozenset({
    "autocommit", "transaction_isolation", "tx_isolation", "transaction_read_only",
    "tx_read_only", "wait_timeout", "interactive_timeout", "net_read_timeout",
    "net_write_timeout", "net_retry_count", "lock_wait_timeout", "innodb_lock_wait_timeout",
    "sql_notes", "sql_warnings", "foreign_key_checks", "unique_checks", "sql_safe_updates",
    "sql_auto_is_null", "auto_increment_increment", "auto_increment_offset",
    "character_set_database", "collation_database", "character_set_server", "collation_server",
    "character_set_filesystem", "default_storage_engine", "storage_engine",
    "default_tmp_storage_engine", "explicit_defaults_for_timestamp", "sql_quote_show_create",
    "updatable_views_with_limit", "big_tables", "sql_buffer_result", "query_cache_type",
    "low_priority_updates", "max_error_count", "profiling", "profiling_history_size",
    "long_query_time", "log_slow_verbosity", "session_track_schema",
    "session_track_state_change", "session_track_system_variables",
    "session_track_transaction_info", "optimizer_switch", "optimizer_search_depth",
    "optimizer_prune_level", "optimizer_use_condition_selectivity", "join_buffer_size",
    "join_cache_level", "sort_buffer_size", "read_buffer_size", "read_rnd_buffer_size",
    "tmp_table_size", "tmp_memory_table_size", "max_heap_table_size", "max_length_for_sort_data",
    "eq_range_index_dive_limit", "in_predicate_conversion_threshold", "histogram_size",
    "histogram_type", "use_stat_tables", "keep_files_on_create",
})
ACCEPTED = frozenset(CARRIED) | frozenset(CLIENT_SIDE) | frozenset(EDGE) | NO_EFFECT

PARSE_FLAGS = frozenset({"ANSI_QUOTES", "PIPES_AS_CONCAT", "NO_BACKSLASH_ESCAPES", "IGNORE_SPACE"})
CHECK_ONLY_FLAGS = frozenset({"ONLY_FULL_GROUP_BY"})
MARKER_FLAGS = frozenset({"ANSI", "TRADITIONAL"})  # names of flag sets; no effect of their own
REFUSED_FLAGS = {
    "HIGH_NOT_PRECEDENCE": "it changes the precedence of NOT in the czar's parser",
    "ORACLE": "it switches MariaDB to another grammar",
    "MSSQL": "it switches MariaDB to another grammar",
    "DB2": "it switches MariaDB to another grammar",
    "POSTGRESQL": "it switches MariaDB to another grammar",
    "MAXDB": "it switches MariaDB to another grammar",
    "MYSQL323": "it selects MySQL 3.23 behaviour",
    "MYSQL40": "it selects MySQL 4.0 behaviour",
}
CONNECTION_CHARSETS = ("utf8mb4", "utf8mb3")  # the workers' rows travel as UTF-8
UNLIMITED_ROWS = 2 ** 64 - 1


def refuse(name: str, why: str) -> QservError:
    return QservError(ER_NOT_SUPPORTED_YET, f"Qserv does not support setting the session variable "
                                            f"'{name}' {why}")


def refusal(name: str) -> QservError:
    """The error for a known MariaDB variable that Qserv can neither carry nor ignore."""
    return refuse(name, "(it would change answers in ways Qserv cannot carry to its workers)")


def sql_mode_flags(value) -> list[str]:
    return [f for f in str(value or "").upper().split(",") if f]


def check_value(name: str, value) -> None:
    """Refuse a value of a carried variable that the czar cannot honour."""
    if name == "sql_mode":
        for flag in sql_mode_flags(value):
            if flag in REFUSED_FLAGS:
                raise refuse(name, f"to include {flag}: {REFUSED_FLAGS[flag]}")
    elif name in ("character_set_connection", "collation_connection"):
        if not str(value or "").lower().startswith(CONNECTION_CHARSETS):
            raise refuse(name, f"to {value}: only utf8mb4 and utf8mb3 connection character sets "
                               "are supported (SET NAMES utf8mb4)")


def sql_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass
class SessionState:
    """The session's values of the CARRIED and EDGE variables, next to the server defaults."""

    defaults: dict[str, object]
    values: dict[str, object] = field(default_factory=dict)  # only those that differ

    def get(self, name: str):
        return self.values.get(name, self.defaults.get(name))

    def update(self, name: str, value) -> None:
        if value == self.defaults.get(name):
            self.values.pop(name, None)
        else:
            self.values[name] = value

    @property
    def is_default(self) -> bool:
        return not self.values

    @property
    def carried_changes(self) -> list[str]:
        """The CARRIED variables this session set to other values than the server's."""
        return [n for n in CARRIED if n in self.values]

    @property
    def parse_flags(self) -> frozenset[str]:
        return frozenset(sql_mode_flags(self.get("sql_mode"))) & PARSE_FLAGS

    @property
    def dialect(self):
        return dialect_for(self.parse_flags)

    @property
    def row_limit(self) -> int | None:
        """sql_select_limit when set: the most rows a top-level SELECT without LIMIT returns."""
        limit = self.get("sql_select_limit")
        return None if limit is None or int(limit) >= UNLIMITED_ROWS else int(limit)

    @property
    def shadow_sql(self) -> str:
        """`SET SESSION ...` of every value that differs, for a new shadow connection."""
        return "SET SESSION " + ", ".join(f"{n} = {sql_literal(v)}" for n, v in self.values.items())

    @property
    def worker_sql(self) -> str:
        """`SET SESSION ...` for a connection that runs SQL the czar wrote (chunk queries, the
        merge); '' when the session has nothing to carry."""
        assignments = []
        for name in CARRIED:
            value = self.get(name)
            if name == "sql_mode":
                value = ",".join(f for f in sql_mode_flags(value)
                                 if f not in PARSE_FLAGS | CHECK_ONLY_FLAGS | MARKER_FLAGS)
                if set(sql_mode_flags(value)) == set(sql_mode_flags(self.defaults.get(name))):
                    continue
            elif value == self.defaults.get(name):
                continue
            assignments.append(f"{name} = {sql_literal(value)}")
        return f"SET SESSION {', '.join(assignments)}" if assignments else ""


@dataclass(frozen=True)
class ServerFacts:
    """What the czar's MariaDB says about itself, once per process."""

    version: int                 # MYSQL_VERSION_ID: decides which /*!NNNNN comments run
    defaults: tuple              # (name, value) of the carried and edge variables' globals


_facts: ServerFacts | None = None


async def server_facts(conn) -> ServerFacts:
    """The version and global defaults of the czar's MariaDB (the workers run the same server
    with the same settings), read once over `conn`."""
    global _facts
    if _facts is None:
        names = CARRIED + EDGE
        async with conn.cursor() as cur:
            await cur.execute("SELECT VERSION(), " + ", ".join(f"@@global.{n}" for n in names))
            row = await cur.fetchone()
        _facts = ServerFacts(version_number(_plain(row[0])),
                             tuple((n, _plain(v)) for n, v in zip(names, row[1:])))
    return _facts


def _plain(value):
    return value.decode() if isinstance(value, bytes) else value


class _PipesParser(MySQLParser):
    """`||` is string concatenation (PIPES_AS_CONCAT), not OR. MariaDB ranks it just below the
    unary operators, above `^` and `*`: `2 * 3 || 4` is 2 * '34'."""

    DISJUNCTION = {**sqlglot_parser.Parser.DISJUNCTION}

    def _parse_exponent(self):
        this = self._parse_concat()
        while self._match_set(self.EXPONENT):
            this = self.expression(self.EXPONENT[self._prev.token_type](
                this=this, expression=self._parse_concat()))
        return this

    def _parse_concat(self):
        this = self._parse_unary()
        while self._match(TokenType.DPIPE):
            this = self.expression(exp.DPipe(this=this, expression=self._parse_unary(), safe=False))
        return this


@lru_cache(maxsize=None)
def dialect_for(flags: frozenset[str]):
    """A sqlglot MySQL dialect that reads text as MariaDB does under these sql_mode flags."""
    if not flags & {"ANSI_QUOTES", "PIPES_AS_CONCAT", "NO_BACKSLASH_ESCAPES"}:
        return MySQL()
    quotes = ["'"] if "ANSI_QUOTES" in flags else ["'", '"']
    identifiers = ["`", '"'] if "ANSI_QUOTES" in flags else ["`"]
    escapes = [q for q in ("'", '"', "\\") if q in quotes or q == "\\"]
    if "NO_BACKSLASH_ESCAPES" in flags:
        escapes.remove("\\")
    tokenizer = type("Tokenizer", (MySQL.Tokenizer,), {
        "QUOTES": quotes, "IDENTIFIERS": identifiers, "STRING_ESCAPES": escapes})
    attrs = {"Tokenizer": tokenizer}
    if "PIPES_AS_CONCAT" in flags:
        attrs["DPIPE_IS_STRING_CONCAT"] = True
        attrs["Parser"] = _PipesParser
    name = "MariaDB_" + "_".join(sorted(flags))
    return type(name, (MySQL,), attrs)()


CHARSET_NAMES = ("character_set_client", "character_set_results", "character_set_connection",
                 "collation_connection")
# mysql-mimic's names for character sets MariaDB reports under another name
MIMIC_CHARSETS = {"utf8mb3": "utf8"}


def set_targets(expression: exp.Set) -> list[str] | None:
    """The session variables a SET statement assigns, or None when the statement is not an
    assignment of session variables (SET TRANSACTION, user variables, GLOBAL scope: mysql-mimic
    answers those, or refuses them). Raises for a variable the czar would have to ignore."""
    names: list[str] = []
    for item in expression.expressions:
        kind = (item.text("kind") or "").upper()
        if kind in ("NAMES", "CHARACTER SET", "CHARSET"):
            names += [n for n in CHARSET_NAMES if n not in names]
            continue
        if kind not in ("", "SESSION", "LOCAL") or not isinstance(item.this, exp.EQ):
            return None
        left = item.this.left
        if isinstance(left, exp.SessionParameter):
            if (left.text("kind") or "session").lower() not in ("session", "local"):
                return None
        elif not isinstance(left, exp.Column) or left.table:
            return None  # a user variable (@x) or something else: mysql-mimic's answer
        name = left.name.lower()
        if name not in names:
            names.append(name)
    return names


async def _read(cur, names: list[str]) -> dict[str, object]:
    await cur.execute("SELECT " + ", ".join(f"@@session.{n}" for n in names))
    return {n: _plain(v) for n, v in zip(names, await cur.fetchone())}


async def apply_set(conn, raw: str, names: list[str], state: SessionState, variables) -> None:
    """Run a client's SET of session variables on its shadow connection (MariaDB validates the
    names and values, with its own errors), then record what it changed: the carried values in
    `state`, and mysql-mimic's copy (`variables`: SHOW VARIABLES, @@name, the client's
    character sets). A variable or value the czar cannot honour is refused and the shadow put
    back as it was."""
    async with conn.cursor() as cur:
        for name in names:
            if name not in ACCEPTED:
                await _read(cur, [name])  # MariaDB's error when it does not know the name
                raise refusal(name)
        before = await _read(cur, names)
        await cur.execute(raw)
        after = await _read(cur, names)
        try:
            for name in names:
                check_value(name, after[name])
                if name in CLIENT_SIDE and after[name] is not None:
                    charset = MIMIC_CHARSETS.get(after[name], after[name])
                    if charset not in CharacterSet.__members__:
                        raise refuse(name, f"to {after[name]}: the czar cannot convert text "
                                           "to or from it")
        except QservError:
            await cur.execute("SET SESSION " + ", ".join(f"{n} = {sql_literal(v)}"
                                                         for n, v in before.items()))
            raise
        finally:
            # The shadow connection itself always speaks utf8mb4 with the czar.
            if set(names) & set(CLIENT_SIDE):
                await cur.execute("SET SESSION character_set_client = utf8mb4, "
                                  "character_set_results = utf8mb4")
    for name, value in after.items():
        if name in CARRIED or name in EDGE:
            state.update(name, value)
        if name in variables.schema:
            if name in CLIENT_SIDE:
                value = MIMIC_CHARSETS.get(value, value) if value is not None else "utf8mb4"
            variables.set(name, value, force=True)


async def _reset_connection(self: Connection, data: bytes) -> None:  # noqa: ARG001
    await self.session.reset()
    await self.stream.write(self.ok())


def install() -> None:
    """COM_RESET_CONNECTION resets the session (mysql-mimic answers OK and keeps everything:
    a pooled connection would hand one borrower's sql_mode to the next)."""
    Connection.handle_reset_connection = _reset_connection
