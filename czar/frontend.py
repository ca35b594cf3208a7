"""The MySQL wire-protocol frontend (port 4040), on mysql-mimic.

Routing of one statement:
- SET / USE / BEGIN / COMMIT / ROLLBACK / SHOW VARIABLES: mysql-mimic's own handling;
- SHOW, DESCRIBE, information_schema and table-less SELECTs: answered by the czar's MariaDB
  over the empty shadow copies of the catalog, as the SELECT-only shadow account, so the
  answers (and errors) are MariaDB's own;
- SELECT over catalog tables: validated on the shadows (MariaDB's errors and column names),
  then analysed, planned, dispatched and merged by the QueryEngine;
- anything that writes: refused, the data are never touched.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

import asyncmy
import sqlglot
from mysql_mimic import MysqlServer, ResultColumn, ResultSet, Session
from mysql_mimic.auth import IdentityProvider
from mysql_mimic.session import Query
from mysql_mimic.charset import CharacterSet
from mysql_mimic.constants import KillKind
from mysql_mimic.errors import SQLSTATES, MysqlError
from mysql_mimic.types import ColumnType
from mysql_mimic.variables import SYSTEM_VARIABLES, GlobalVariables, SessionVariables
from sqlglot import exp

from czar import async_sql, deadline, table_stats, mimic_batches, multi_results, session_state, statements, wire_guard
from czar.multi_results import MultiResults, multi_statements
from czar.result_charset import convert_results
from czar.session_state import SessionState, apply_set, server_facts, set_targets
from czar.session_time import ClockProcessor, session_timezone
from czar.analysis.scisql import no_from_text
from czar.analysis.spatial import shadow_text
from czar.engine import BINARY_CHARSET, QueryEngine, ShadowResult
from czar.explain import COLUMNS as EXPLAIN_COLUMNS, explain_rows
from czar.login import PeerAwareServer
from czar.mimic_batches import BatchedRows
from czar.shadow_pool import UNTRACKED, USER_LOCKS, ShadowConnection
from czar.registry import ABORTED, COMPLETED, FAILED, FAILED_LR, PROGRESS
from czar.statements import MAX_NESTING, too_deep
from qserv.errors import (ER_BAD_DB_ERROR, ER_NO_SUCH_TABLE, ER_TOO_BIG_RESULT, ER_NOT_SUPPORTED_YET, ER_OPTION_PREVENTS_STATEMENT,
                          ER_PARSE_ERROR, ER_UNKNOWN_ERROR, QservError)

log = logging.getLogger("czar.frontend")

# mysql-mimic sends SQLSTATE HY000 for codes it does not know; clients such as JDBC branch on
# SQLSTATE, so give the common ones MariaDB's values.
SQLSTATES.update({1049: b"42000", 1054: b"42S22", 1146: b"42S02", 1064: b"42000",
                  1052: b"23000", 1046: b"3D000", 1142: b"42000", 1044: b"42000",
                  1235: b"42000", 1290: b"HY000", 1317: b"70100"})

READ_ONLY_HINT = ("Qserv answers queries only; load data with `qserv load` "
                  "(or the ingest API)")
MARIADB_SQL_MODE = ("STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,"
                    "NO_ENGINE_SUBSTITUTION")
STRING_TYPES = {ColumnType.VAR_STRING, ColumnType.STRING, ColumnType.VARCHAR, ColumnType.BLOB,
                ColumnType.TINY_BLOB, ColumnType.MEDIUM_BLOB, ColumnType.LONG_BLOB}
SHADOW_KINDS = {"SHOW", "DESC", "DESCRIBE", "HELP"}

# MariaDB 10.x clients (SQLAlchemy's MariaDB dialect, connectors) read @@tx_isolation, which
# mysql-mimic does not know: there an unknown @@variable silently reads as NULL.
QSERV_VARIABLES = {**SYSTEM_VARIABLES, "tx_isolation": SYSTEM_VARIABLES["transaction_isolation"]}

# Functions mysql-mimic replaces by the czar's own values. A statement using one must not be
# sent to the shadow MariaDB as typed: VERSION() there is MariaDB's version, not the one of the
# handshake, and SQLAlchemy, which reads both, then picks the wrong dialect and fails on connect.
MIMIC_FUNCTIONS = re.compile(r"\b(?:(?:VERSION|CURRENT_VERSION|USER|SYSTEM_USER|SESSION_USER|"
                             r"CONNECTION_ID)\s*\(|CURRENT_USER\b)", re.IGNORECASE)

# The shadow account may read only the catalog's databases, so MariaDB answers a table of any
# other database (SELECT * FROM nodb.T) with 1142, naming the internal account; one MariaDB
# holding the data says 1146 "Table 'nodb.T' doesn't exist", which is what clients get.
DENIED_TABLE = re.compile(r"command denied to user .* for table `((?:[^`]|``)*)`\.`((?:[^`]|``)*)`")
ER_TABLEACCESS_DENIED_ERROR = 1142
# What MariaDB answers the shadow account for statements it may not run (writes, admin): the
# statement is refused as not allowed rather than with the internal account's error.
SHADOW_DENIED = {1044, 1142, 1143, 1227, 1370}
# Likewise an unknown function: the shadow account has no EXECUTE right, so MariaDB says 1370
# (denied, for routine 'demo.f') where it would say 1305 "FUNCTION demo.f does not exist".
DENIED_ROUTINE = re.compile(r"command denied to user .* for routine '([^']*)'")
ER_PROCACCESS_DENIED_ERROR = 1370
ER_SP_DOES_NOT_EXIST = 1305


async def limited(batches, row_limit: int | None):
    """At most `row_limit` rows (the session's sql_select_limit), the source closed after."""
    if row_limit is None:
        async for batch in batches:
            yield batch
        return
    try:
        async for batch in batches:
            if len(batch) >= row_limit:
                yield batch[:row_limit]
                return
            row_limit -= len(batch)
            yield batch
    finally:
        await batches.aclose()


async def coded_errors(batches):
    """Rows may still fail while they stream (a result limit, a worker dying): the client must
    get the MySQL code, not mysql-mimic's generic 1105."""
    try:
        async for batch in batches:
            yield batch
    except QservError as e:
        raise MysqlError(e.message, code=e.code) from None


async def registry_ended(batches, registry, qid: int):
    """Rows passed on; the sync query's end (its rows, or its error) noted in the registry."""
    rows, state, code, message = 0, COMPLETED, None, None
    try:
        async for batch in batches:
            rows += len(batch)
            yield batch
    except BaseException as e:
        if isinstance(e, Exception):
            error = mysql_error(e)
            state, code, message = (FAILED_LR if error.code == ER_TOO_BIG_RESULT else FAILED,
                                    error.code, error.msg)
        else:
            state = ABORTED
        raise
    finally:
        registry.sync_ended(qid, state, rows, code, message)


def mysql_error(e: Exception) -> MysqlError:
    if isinstance(e, MysqlError):
        return e
    if isinstance(e, QservError):
        return MysqlError(e.message, code=e.code)
    if isinstance(e, asyncmy.errors.MySQLError) and e.args and isinstance(e.args[0], int):
        denied = DENIED_TABLE.search(str(e.args[1])) if len(e.args) > 1 else None
        if e.args[0] == ER_TABLEACCESS_DENIED_ERROR and denied:
            db, table = (g.replace("``", "`") for g in denied.groups())
            return MysqlError(f"Table '{db}.{table}' doesn't exist", code=ER_NO_SUCH_TABLE)
        routine = DENIED_ROUTINE.search(str(e.args[1])) if len(e.args) > 1 else None
        if e.args[0] == ER_PROCACCESS_DENIED_ERROR and routine:
            return MysqlError(f"FUNCTION {routine.group(1)} does not exist", code=ER_SP_DOES_NOT_EXIST)
        return MysqlError(e.args[1] if len(e.args) > 1 else str(e), code=e.args[0])
    log.exception("internal error")
    return MysqlError(f"Internal Qserv error: {e}", code=ER_UNKNOWN_ERROR)


def result_columns(description, binary=None) -> list[ResultColumn]:
    cols = []
    for i, d in enumerate(description):
        try:
            ctype = ColumnType(d[1])
        except ValueError:
            ctype = ColumnType.VAR_STRING
        # Numbers also carry charset 63 ("binary") on the wire; only strings are really binary.
        is_binary = bool(binary and binary[i]) and ctype in STRING_TYPES
        charset = CharacterSet.binary if is_binary else CharacterSet.utf8mb4
        cols.append(ResultColumn(name=d[0], type=ctype, character_set=charset))
    return cols


class QservSession(Session):
    def __init__(self, engine: QueryEngine, version_comment: str):
        super().__init__(SessionVariables(GlobalVariables(QSERV_VARIABLES)))
        self.engine = engine
        self.variables.set("version_comment", version_comment, force=True)
        self.variables.set("version", "10.11.0-Qserv", force=True)
        # What the workers' MariaDB runs with (10.11's default), not mysql-mimic's "ANSI".
        self.variables.set("sql_mode", MARIADB_SQL_MODE)
        self._shadow: asyncmy.Connection | None = None
        self._checked_database: str | None = None
        self.state: SessionState | None = None  # known once the shadow connection is open
        self._raw_names: list[str] | None = None  # see _statement_text
        self._first_word: str | None = None  # of the statement running (for messages)
        self._borrowed: ShadowConnection | None = None  # from the engine's pool, see shadow()
        self._untracked = False  # the statement may leave state the pool does not track
        self.middlewares = [
            self._session_set_middleware, self._set_var_middleware, self._set_middleware, self._use_middleware,
            self._kill_middleware, self._begin_middleware, self._commit_middleware, self._rollback_middleware,
            self._route,
        ]

    # ---- plumbing ---------------------------------------------------------------------
    async def shadow(self) -> asyncmy.Connection:
        """The session's connection to the czar's MariaDB for this statement, borrowed from
        the engine's shared pool (czar/shadow_pool.py) and set up as the session's own: its
        database, session variables and time limit. Given back at the statement's end."""
        if self._borrowed is None:
            sc = await self.engine.shadows.acquire(self._checked_database)
            try:
                if self.state is None:
                    self.state = SessionState(dict((await server_facts(sc.conn)).defaults))
                    for name, value in self.state.defaults.items():
                        # mysql-mimic's defaults are not MariaDB's, and @@name must read the
                        # session's value (mysql-mimic reads a variable it does not hold as NULL)
                        self.variables.schema.setdefault(name, (type(value), value, True))
                        self.variables.set(name, value, force=True)
                await sc.configure(self._checked_database, self.state.values,
                                   self.state.defaults, self.time_limit() or 0)
            except BaseException:
                self.engine.shadows.release(sc, reusable=False)
                raise
            self._borrowed, self._shadow = sc, sc.conn
        elif (self.time_limit() or 0) != self._borrowed.limit:  # a SET changed it
            await self._borrowed.configure(self._checked_database, self.state.values,
                                           self.state.defaults, self.time_limit() or 0)
        return self._shadow

    def release_shadow(self, reusable: bool = True) -> None:
        """Give the borrowed connection back (closed instead when the statement may have left
        state on it that the pool does not track)."""
        if self._borrowed is not None:
            sc, self._borrowed, self._shadow = self._borrowed, None, None
            self.engine.shadows.release(sc, reusable and not self._untracked)
        self._untracked = False

    def interrupted(self) -> None:
        """The statement was stopped by the frontend's timer, perhaps in the middle of a
        round trip on the shadow connection: that connection cannot be used again."""
        self.release_shadow(reusable=False)

    def time_limit(self) -> float | None:
        """This session's statement time limit in seconds (czar/deadline.py); None: none."""
        value = self.state.get("max_statement_time") if self.state is not None else 0
        return deadline.effective_limit(value, self.engine.config.max_statement_time)

    async def _shadow_use(self, database: str) -> None:
        try:
            async with self._shadow.cursor() as cur:
                await cur.execute(f"USE `{database.replace('`', '``')}`")
        except asyncmy.errors.MySQLError as e:
            raise mysql_error(e) from None
        self._borrowed.database = database

    async def close(self) -> None:
        self.release_shadow()
        await super().close()

    async def init(self, connection) -> None:
        await super().init(connection)
        # As MariaDB: the character set a client logs in with is also the one of its results.
        self.variables.set("character_set_results", self.variables.get("character_set_client"))

    async def reset(self) -> None:
        """COM_RESET_CONNECTION: session variables back to the server's defaults, as MariaDB
        does (czar/session_state.py); the shadow connection is opened afresh."""
        self.release_shadow()  # the next one gets the defaults set (ShadowConnection.configure)
        if self.state is not None:
            for name, value in self.state.defaults.items():
                self.variables.set(name, value, force=True)
            self.state = SessionState(dict(self.state.defaults))
        self.variables.set("character_set_results", self.variables.get("character_set_client"))

    async def use(self, database: str) -> None:
        view = await self.engine.refresh_catalog()
        if database.lower() != "information_schema" and view.database(database) is None:
            raise MysqlError(f"Unknown database '{database}'", code=ER_BAD_DB_ERROR)
        owner = self._borrowed is None
        try:
            await self.shadow()
            await self._shadow_use(database)
            self.database = self._checked_database = database
        finally:
            if owner:  # COM_INIT_DB: not within a statement
                self.release_shadow()

    async def handle_query(self, sql, attrs):
        """One COM_QUERY: its statements as MariaDB splits them (czar/statements.py), each
        run in turn; several only for a client that enabled CLIENT_MULTI_STATEMENTS."""
        multi = multi_statements(self.connection)
        try:
            try:
                scan = await self._scan(sql, multi)
            except Exception as e:
                raise mysql_error(e) from None
            if scan.error is None and len(scan.statements) == 1:
                return await self._statement(scan.statements[0], attrs)
            if not multi or not scan.statements:
                raise mysql_error(scan.error)
            return MultiResults(self._each(sql, scan, attrs))
        finally:
            self.release_shadow()

    async def _scan(self, sql: str, multi: bool) -> statements.Scan:
        """The statements of `sql`, read with the session's sql_mode quoting rules."""
        if self.state is None:
            await self.shadow()
        flags = self.state.parse_flags
        return statements.split(sql, version=(await server_facts(None)).version,
                                multi=multi, ansi_quotes="ANSI_QUOTES" in flags,
                                no_backslash_escapes="NO_BACKSLASH_ESCAPES" in flags)

    async def _each(self, sql: str, scan: statements.Scan, attrs):
        i = 0
        while i < len(scan.statements):
            statement, flags = scan.statements[i], self.state.parse_flags
            more = i + 1 < len(scan.statements) or scan.error is not None
            yield await self._statement(statement, attrs), more
            i += 1
            if more and self.state.parse_flags != flags and statement.next is not None:
                # a SET changed how text is read (ANSI_QUOTES, NO_BACKSLASH_ESCAPES): MariaDB
                # reads the statements after it with the new rules
                sql = sql[statement.next:]
                try:
                    scan, i = await self._scan(sql, True), 0
                except Exception as e:
                    raise mysql_error(e) from None
        if scan.error is not None:
            raise mysql_error(scan.error)

    async def _statement(self, statement: statements.Statement, attrs):
        """One statement, its text in the client's character_set_results. The shadow
        connection is given back at its end (its rows, if any, come from elsewhere)."""
        self._untracked = bool(UNTRACKED.search(statement.text))
        if USER_LOCKS.search(statement.text):
            raise MysqlError("Qserv does not support user locks (GET_LOCK): sessions share their "
                             "connections to MariaDB, so a lock would not outlive its statement",
                             code=ER_NOT_SUPPORTED_YET)
        try:
            result = await self._answer(statement, attrs)
        finally:
            self.release_shadow()
        return await convert_results(result, self.variables.get("character_set_results"))

    async def _answer(self, statement: statements.Statement, attrs):
        """One statement: the plan cache, else parse (in the session's sql_mode) and the
        middlewares. `statement.raw` is what MariaDB sees (its names, its errors);
        `statement.text`, with comments resolved, is what sqlglot reads."""
        if statement.empty:
            return None  # comments only: MariaDB answers OK
        if statement.depth > MAX_NESTING:
            raise mysql_error(too_deep())
        first_word = self._first_word = statement.text.split(None, 1)[0]
        try:
            special = await async_sql.answer(self, statement.text)
            if special is not async_sql.NOT_MINE:   # SUBMIT, qserv_result(id), CANCEL ...
                return special
            if self.database and self.database != self._checked_database:
                # mysql-mimic stores the handshake's database unchecked: check it now.
                await self.use(self.database)
            if self.state.is_default:  # cached plans are made for the default settings
                cached = await self._cached(statement.raw)
                if cached is not None:
                    return cached
            self.timestamp = datetime.now(tz=self.timezone())
            try:
                expressions = [e for e in self.state.dialect.parse(statement.text) if e]
            except RecursionError:
                raise too_deep() from None
            except Exception:
                # sqlglot could not read it: let MariaDB say why (its 1064 text), or name the gap.
                return await self._shadow_or_refuse(statement.raw, first_word)
            if len(expressions) != 1:
                return await self._shadow_or_refuse(statement.raw, first_word)
            return await Query(expression=expressions[0], sql=statement.raw, attrs=attrs,
                               _middlewares=self.middlewares, _query=self.query).start()
        except MysqlError:
            raise
        except sqlglot.errors.ParseError:
            return await self._shadow_or_refuse(statement.raw, first_word)
        except RecursionError:
            raise mysql_error(too_deep()) from None
        except Exception as e:
            raise mysql_error(e) from None

    def timezone(self):
        return session_timezone(self.variables.get("time_zone"))

    async def _set_var_middleware(self, q):
        """@@variables and information functions replaced by their values (mysql-mimic), the
        clock functions by typed literals (czar/session_time.py). An @@variable mysql-mimic
        does not hold, or a GLOBAL one, is MariaDB's to answer (table-less statements) or
        refused: mysql-mimic would read it as NULL."""
        for param in q.expression.find_all(exp.SessionParameter):
            if isinstance(q.expression, exp.Set):
                break
            if param.name.lower() not in self.variables.schema or \
                    (param.text("kind") or "session").lower() == "global":
                if isinstance(q.expression, exp.Select) and not q.expression.args.get("from_"):
                    return await self._run_on_shadow(q.sql)
                raise MysqlError(f"Qserv does not support the system variable {param.sql()} in "
                                 "a query over distributed tables", code=ER_NOT_SUPPORTED_YET)
        with ClockProcessor(self, q.expression).set_variables():
            return await q.next()

    async def _session_set_middleware(self, q):
        """SET of session variables: applied by MariaDB on the shadow connection and carried
        from there (czar/session_state.py); other SETs go on to mysql-mimic."""
        if not isinstance(q.expression, exp.Set):
            return await q.next()
        names = set_targets(q.expression)
        if names is None:
            return await q.next()
        self._untracked = True  # the SET ran on the shadow: it is not given back to the pool
        await apply_set(await self.shadow(), q.sql, names, self.state, self.variables)
        return [], []

    async def _cached(self, sql: str) -> ResultSet | None:
        """A statement whose shape the plan cache knows skips mysql-mimic's parse, the shadow
        check and the analysis (czar/plan_cache.py); None sends it down the full path."""
        hit = self.engine.plans.lookup(sql, self.database)
        if hit is None:
            return None
        plan = await self.engine.plan_from_cache(hit)
        if plan is None:
            return None
        return await self._run(plan, hit.entry.shadow, text=sql)

    async def _shadow_or_refuse(self, sql: str, first: str):
        """For text sqlglot did not understand (`first`: its first word): SHOW/DESCRIBE go to
        the shadows; anything else is tried there only to obtain MariaDB's own syntax error
        (the shadow account can read nothing but empty tables and write nothing), and is
        refused otherwise."""
        first = first.upper()
        if first in SHADOW_KINDS:
            return await self._run_on_shadow(sql)
        query = first in ("SELECT", "WITH", "(", "TABLE", "VALUES") or first.startswith("(")
        try:
            await self._run_on_shadow(shadow_text(sql)[0] if query else sql)
        except MysqlError as e:
            # MariaDB's own verdict, unless it only says the shadow account may not do this
            if e.code not in SHADOW_DENIED:
                raise
        if query:
            raise MysqlError("Qserv cannot analyse this statement (MariaDB accepts it); "
                             "simplify the query", code=ER_NOT_SUPPORTED_YET)
        raise MysqlError(f"{first} is not allowed: {READ_ONLY_HINT}", code=ER_OPTION_PREVENTS_STATEMENT)

    async def _run_without_from(self, expression: exp.Select, sql: str):
        """A SELECT without FROM runs on the czar's MariaDB, scisql_s2PtInCPoly written inline
        (czar/analysis/scisql.py); its columns keep the names MariaDB gives the text as typed."""
        text, typed = no_from_text(sql, self._scisql_home(expression))
        rows, columns = await self._run_on_shadow(text)
        for i, name in typed.items():
            if i < len(columns) and not isinstance(expression.expressions[i], exp.Alias):
                columns[i].name = name
        return rows, columns

    def _scisql_home(self, expression: exp.Expression) -> str | None:
        """Where a session without a current database finds the scisql functions (stored
        functions of each catalog database, where Qserv has global UDFs): the first published
        database the query names, else any published one; None with a current database."""
        if self.database:
            return None
        published = self.engine.catalog.view.published
        for table in expression.find_all(exp.Table):
            if table.db and table.db.lower() in published:
                return table.db
        return min(published, default=None)

    async def _run_on_shadow(self, sql: str):
        conn = await self.shadow()
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
                rows = await cur.fetchall()
                return list(rows or []), result_columns(cur.description or [])
        except asyncmy.errors.MySQLError as e:
            raise mysql_error(e) from None

    async def _with_real_sizes(self, expression: exp.Expression) -> str:
        """The text of a query over information_schema.TABLES that reads the tables' sizes
        on the workers (czar/table_stats.py)."""
        conn = await self.shadow()
        async with conn.cursor() as cur:
            return await table_stats.with_real_sizes(cur, expression, self.state.dialect)

    async def _table_status(self, expression: exp.Show, sql: str):
        """SHOW TABLE STATUS with the tables' sizes on the workers (czar/table_stats.py)."""
        try:
            table_stats.check_show_status(expression)
        except table_stats.Refused as e:
            raise MysqlError(str(e), code=e.code) from None
        rows, columns = await self._run_on_shadow(sql)
        database = expression.text("db") or self.database or ""
        conn = await self.shadow()
        async with conn.cursor() as cur:
            rows = await table_stats.patch_show_status(cur, rows, [c.name for c in columns],
                                                       database)
        return rows, columns

    # ---- routing ----------------------------------------------------------------------
    async def _route(self, q):
        expression, sql = q.expression, await self._statement_text(q)
        if isinstance(expression, exp.Show):
            kind = expression.name.upper()
            if kind in ("VARIABLES", "STATUS", "WARNINGS", "ERRORS"):
                return await self._show(expression)
            if kind == "TABLE STATUS":
                return await self._table_status(expression, sql)
            return await self._run_on_shadow(sql)
        if isinstance(expression, exp.Describe):
            if isinstance(expression.this, exp.Query):
                return await self._explain(expression.this, sql)
            return await self._run_on_shadow(sql)
        if isinstance(expression, exp.Command):
            return await self._shadow_or_refuse(sql, expression.name or sql.split(None, 1)[0])
        if isinstance(expression, exp.Query):
            if isinstance(expression, exp.Select) and not expression.args.get("from_"):
                return await self._run_without_from(expression, sql)
            tables = list(expression.find_all(exp.Table))
            if tables and all((t.db or self.database or "").lower() == "information_schema"
                              for t in tables):
                if table_stats.reads_tables_view(expression):
                    return await self._run_on_shadow(await self._with_real_sizes(expression))
                return await self._run_on_shadow(sql)
            return await self._distributed(expression, sql, q.sql)
        first = self._first_word or expression.key
        raise MysqlError(f"{first.upper()} is not allowed: {READ_ONLY_HINT}",
                         code=ER_OPTION_PREVENTS_STATEMENT)

    async def _statement_text(self, q) -> str:
        """The client's own text of the statement (MariaDB then names columns exactly as
        typed), else, when mysql-mimic has substituted @@variables or VERSION() with its own
        values, sqlglot's rendering of the statement in the session's syntax, once MariaDB has
        read the client's text without a syntax error (sqlglot accepts some texts MariaDB
        refuses, such as a trailing comma in the select list)."""
        self._raw_names = None
        if "@@" not in q.sql and not MIMIC_FUNCTIONS.search(q.sql):
            return q.sql
        try:
            _, columns = await self._run_on_shadow(
                shadow_text(q.sql)[0] if isinstance(q.expression, exp.Query) else q.sql)
            self._raw_names = [c.name for c in columns]  # MariaDB's names for the client's text
        except MysqlError as e:
            if e.code == ER_PARSE_ERROR:
                raise
        return q.expression.sql(dialect=self.state.dialect)

    async def _check_on_shadow(self, expression: exp.Query, sql: str) -> ShadowResult:
        """MariaDB checks the query against the empty shadows: its errors, its column names.
        Restrictors (qserv_areaspec_*) and scisql_s2PtInCPoly are not MariaDB functions: the
        shadow sees `1` in their place (the analysis checks their arguments)."""
        conn = await self.shadow()
        text, typed = shadow_text(sql, qualify=self._scisql_home(expression))
        try:
            async with conn.cursor() as cur:
                await cur.execute(text)
                description = list(cur.description or [])
                shadow = ShadowResult(description,
                                      [f.charsetnr == BINARY_CHARSET for f in cur._result.fields or []])
                await cur.fetchall()
        except asyncmy.errors.MySQLError as e:
            raise mysql_error(e) from None
        if self._raw_names is not None and len(self._raw_names) == len(description):
            description[:] = [(name,) + tuple(d[1:]) for name, d in zip(self._raw_names, description)]
        items = expression.expressions if isinstance(expression, exp.Select) else []
        for i, name in typed.items():
            if i < len(description) and i < len(items) and not isinstance(items[i], exp.Alias):
                description[i] = (name,) + tuple(description[i][1:])
        return shadow

    async def _explain(self, expression: exp.Query, sql: str):
        inner = re.sub(r"(?is)^\s*(EXPLAIN|DESCRIBE|DESC)\s+(EXTENDED\s+|PARTITIONS\s+|FORMAT\s*=\s*\w+\s+)?",
                       "", sql)
        shadow = await self._check_on_shadow(expression, inner)
        try:
            plan = await self.engine.plan(expression.copy(), self.database, shadow.names)
        except Exception as e:
            raise mysql_error(e) from None
        return explain_rows(plan), EXPLAIN_COLUMNS

    async def _distributed(self, expression: exp.Query, sql: str, raw_sql: str):
        # 1. MariaDB checks it against the empty shadows: its errors, its column names.
        version = self.engine.catalog.view.version
        shadow = await self._check_on_shadow(expression, sql)
        # 2. Analyse, plan, run. (The passes may change the tree in place: it is used only once,
        # and copying it cost ~8% of a point look-up.)
        try:
            plan = await self.engine.plan(expression, self.database, shadow.names)
        except Exception as e:
            raise mysql_error(e) from None
        view = self.engine.catalog.view
        if view.version == version and self.state.is_default:  # the shadows answered for the
            self.engine.plans.learn(raw_sql, self.database, shadow, view)  # catalog planned
        # sql_select_limit: the rows of a top-level SELECT without its own LIMIT
        row_limit = None if expression.args.get("limit") else self.state.row_limit
        return await self._run(plan, shadow, row_limit, raw_sql)

    async def _run(self, plan, shadow: ShadowResult, row_limit: int | None = None, text: str = ""):
        plan.session_sql = self.state.worker_sql
        # the checks are done: the shadow connection goes back to the pool before the query
        # runs (a scan may take minutes; the pool must not wait for it)
        self.release_shadow()
        registry = getattr(self.engine, "registry", None)
        qid = None
        if registry is not None:   # every query is in the registry (czar/registry.py)
            qid = registry.sync_started(self.username or "", self.database or "", text,
                                        len(plan.chunks) if plan.partitioned else 1)
            PROGRESS.set(registry.progress.get(qid))
            control, connection_id = self.connection.control, self.connection.connection_id
            if control is not None:   # CANCEL / KILL QUERY <query id> from elsewhere
                registry.killers[qid] = lambda: control.kill(connection_id, KillKind.QUERY)
        try:
            result = await self.engine.execute(plan, shadow)
        except Exception as e:
            if qid is not None:
                error = mysql_error(e)
                registry.sync_ended(qid, FAILED, 0, error.code, error.msg)
            raise mysql_error(e) from None
        batches = limited(result.batches, row_limit)
        if qid is not None:
            batches = registry_ended(batches, registry, qid)
        return ResultSet(rows=BatchedRows(coded_errors(batches)),
                         columns=result_columns(result.columns, result.binary))


async def start_frontend(engine: QueryEngine, host: str, port: int,
                         identity_provider: IdentityProvider, ssl=None,
                         version_comment: str = "Qserv (Python)") -> MysqlServer:
    """`identity_provider`: who may log in (czar/login.py); `ssl`: an SSLContext to offer TLS."""
    wire_guard.install(engine.config.connect_timeout, engine.config.max_allowed_packet)
    mimic_batches.install()
    multi_results.install()
    session_state.install()
    statements.allow_nesting()
    server = PeerAwareServer(session_factory=lambda: QservSession(engine, version_comment),
                             identity_provider=identity_provider, ssl=ssl,
                             capabilities=multi_results.CAPABILITIES)
    await server.start_server(host=host, port=port)
    return server
