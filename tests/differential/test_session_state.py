"""Session state and comment forms, through the czar and through one plain MariaDB holding
the same rows (the oracle): the same answers, or the same error codes.

Before: executable comments were dropped (`/*!50000 AND ...*/` answered without the
condition), several statements returned the last result only, session variables were accepted
and ignored by the chunk queries and the merge (`name || '-x'` gave 0 under PIPES_AS_CONCAT),
and internal errors reached clients as 1105 with Python's words.
"""

from __future__ import annotations

import pymysql
import pytest
from pymysql.constants import CLIENT

from tests.conftest import assert_same_result, czar_connect, query
from tests.differential.fuzz import RAW


def answers(conn, setup: list[str], sql: str):
    """[(names, rows) per result] and the error code where it stopped, if any."""
    results = []
    try:
        with conn.cursor() as cur:
            for statement in setup:
                cur.execute(statement)
            cur.execute(sql)
            while True:
                results.append(([d[0] for d in cur.description or []], list(cur.fetchall())))
                if not cur.nextset():
                    break
    except pymysql.MySQLError as e:
        return results, e.args[0]
    return results, None


def same_answers(czar_conn, oracle_conn, sql: str, setup=(), ordered=False):
    got, got_error = answers(czar_conn, list(setup), sql)
    expected, expected_error = answers(oracle_conn, list(setup), sql)
    assert got_error == expected_error, (got_error, expected_error)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert_same_result(g, e, ordered)
    return got


@pytest.fixture
def pair(demo_cluster, oracle):
    """A fresh czar connection and a fresh oracle connection (session settings stay in them)."""
    opened = []

    def connect(**kw):
        a, b = czar_connect(demo_cluster, **kw), oracle.connect(database="demo", **kw)
        opened.extend([a, b])
        return a, b
    yield connect
    for conn in opened:
        conn.close()


COMMENT_FORMS = [
    "SELECT COUNT(*) FROM Object WHERE flags = 1 /*!50000 AND objectId < 1000 */",
    "SELECT COUNT(*) FROM Object /*! WHERE flags = 1 */",
    "SELECT COUNT(*) FROM Object /*M! WHERE flags = 1 */",
    "SELECT COUNT(*) FROM Object /*M!100000 WHERE flags = 1 */",
    "SELECT COUNT(*) FROM Object /*M!999999 WHERE flags = 1 */",
    "SELECT COUNT(*) FROM Object /*!50700 WHERE flags = 1 */",       # MySQL 5.7: left out
    "SELECT COUNT(*) FROM Object /*M!50700 WHERE flags = 1 */",      # MariaDB's form: runs
    "SELECT COUNT(*) FROM Object /*!99999 WHERE flags = 1 /* x */ */",
    "SELECT COUNT(*) FROM Object WHERE flags = 1 /*!50000 AND objectId < 1000 /* x */ */",
    "SELECT objectId, 2--1 AS three FROM Object WHERE objectId < 20 -- AND flags = 1\n AND flags = 0",
    "SELECT objectId # a comment\n FROM Object WHERE objectId < 10",
    "SELECT /* c */ flags, /*!COUNT(*)*/ FROM Object GROUP BY flags",
    "SELECT flags, /*! COUNT(*) AS n, */ MIN(objectId) FROM Object GROUP BY flags",
    "SELECT 1 /*!50000 +1 */, flags FROM Object WHERE objectId = 4203",
    "SELECT '/*! not a comment */', `flags` FROM Object WHERE objectId = 4203",
    "SELECT objectId FROM Object WHERE name = 'obj-1;2' OR objectId = 3; ",
    "SELECT COUNT(*) FROM Object /*! WHERE flags = 1",                # unterminated: 1064
    "SELECT COUNT(*) FROM Object /* WHERE flags = 1",
    "SELECT COUNT(*) FROM Object WHERE name = 'obj-1",
    "SELECT COUNT(*) FROM Object WHERE flags = 1 /*!50000 AND objectId < 1000 */ */",
]


@pytest.mark.parametrize("sql", COMMENT_FORMS, ids=lambda sql: sql[:60])
def test_comment_forms(pair, sql):
    same_answers(*pair(), sql)


MULTI = [
    "SELECT COUNT(*) FROM Object; SELECT COUNT(*) FROM Source",
    "SELECT flags, COUNT(*) FROM Object GROUP BY flags; SELECT 2;",
    "SELECT 1;\nSELECT objectId FROM Object WHERE objectId = 4203; -- done",
    "SELECT 1; SELECT nope FROM Object; SELECT 3",
    "SELECT 1;; SELECT 2",
    "SET sql_mode = 'PIPES_AS_CONCAT'; SELECT name || '-x' FROM Object WHERE objectId = 8",
]


@pytest.mark.parametrize("sql", MULTI)
def test_several_statements_without_multi_statements_is_1064(pair, sql):
    czar, oracle = pair()
    assert answers(czar, [], sql)[1] == answers(oracle, [], sql)[1] == 1064


@pytest.mark.parametrize("sql", MULTI)
def test_several_statements_with_multi_statements(pair, sql):
    same_answers(*pair(client_flag=CLIENT.MULTI_STATEMENTS), sql)


SESSION = [
    (["SET SESSION sql_mode = 'PIPES_AS_CONCAT'"],
     "SELECT objectId, name || '-x' AS n, 2 * 3 || 4 AS p FROM Object WHERE objectId < 30"),
    (["SET sql_mode = 'PIPES_AS_CONCAT'"], "SELECT flags, MIN(name || flags) FROM Object GROUP BY flags"),
    (["SET sql_mode = 'ANSI_QUOTES'"], 'SELECT "objectId", "name" FROM Object WHERE "objectId" < 9'),
    (["SET sql_mode = 'ANSI'"], 'SELECT "flags", COUNT(*) FROM "Object" GROUP BY "flags"'),
    (["SET sql_mode = 'NO_BACKSLASH_ESCAPES'"],
     "SELECT objectId, 'a\\b' AS s, CONCAT(name, '\\n') AS t FROM Object WHERE objectId < 9"),
    (["SET sql_mode = 'NO_UNSIGNED_SUBTRACTION'"],
     "SELECT objectId, CAST(flags AS UNSIGNED) - 5 AS d FROM Object WHERE objectId < 9"),
    (["SET sql_mode = 'EMPTY_STRING_IS_NULL'"], "SELECT objectId, '' AS e FROM Object WHERE objectId < 5"),
    (["SET div_precision_increment = 9"],
     "SELECT flags, AVG(flags), SUM(gMag) / 7 FROM Object GROUP BY flags"),
    (["SET div_precision_increment = 0"], "SELECT objectId, objectId / 7 FROM Object WHERE objectId < 30"),
    (["SET @@session.div_precision_increment = 12"], "SELECT COUNT(*) / 7, AVG(objectId) FROM Object"),
    (["SET time_zone = '+05:30'"],
     "SELECT objectId, FROM_UNIXTIME(objectId * 1000) FROM Object WHERE objectId < 20"),
    (["SET time_zone = '-03:00'"], "SELECT MIN(FROM_UNIXTIME(objectId)) FROM Object"),
    (["SET lc_time_names = 'de_DE'"],
     "SELECT flags, DATE_FORMAT(FROM_UNIXTIME(flags * 2592000), '%M %W') AS m FROM Object GROUP BY flags"),
    (["SET default_week_format = 3"], "SELECT objectId, WEEK('2024-01-07') FROM Object WHERE objectId < 5"),
    (["SET NAMES utf8mb4 COLLATE utf8mb4_bin"],
     "SELECT objectId, 'a' = 'A' AS ci FROM Object WHERE objectId < 5"),
    (["SET collation_connection = utf8mb4_unicode_ci"],
     "SELECT objectId, COLLATION('x'), 'ß' = 'ss' FROM Object WHERE objectId < 5"),
    (["SET sql_select_limit = 5"], "SELECT objectId FROM Object ORDER BY objectId"),
    (["SET sql_select_limit = 5"], "SELECT objectId FROM Object ORDER BY objectId LIMIT 8"),
    (["SET sql_select_limit = 2"], "SELECT flags, COUNT(*) FROM Object GROUP BY flags ORDER BY flags"),
    (["SET div_precision_increment = 7"], "SELECT @@div_precision_increment, @@session.sql_mode"),
    (["SET div_precision_increment = 7"], "SELECT objectId, @@div_precision_increment FROM Object WHERE objectId < 3"),
    (["SET sql_mode = 'PIPES_AS_CONCAT'", "SET sql_mode = DEFAULT"],
     "SELECT objectId, name || 'x' FROM Object WHERE objectId < 9"),
    ([], "SELECT objectId, NOW() + 0 > 20240101000000, CURDATE() + 0 > 20240101 FROM Object WHERE objectId < 5"),
    (["SET sql_mode = 'NOT_A_MODE'"], "SELECT 1"),                 # 1231 on both
    (["SET no_such_variable = 1"], "SELECT 1"),                    # 1193 on both
    (["SET time_zone = 'Mars/Olympus'"], "SELECT 1"),              # 1298 on both
]


@pytest.mark.parametrize("setup, sql", SESSION, ids=[f"{i}" for i in range(len(SESSION))])
def test_session_variables_carried(pair, setup, sql):
    same_answers(*pair(), sql, setup, ordered="ORDER BY" in sql)


def test_pipes_as_concat_is_carried_to_chunk_queries(pair):
    """The issue's reproduction: 0 for every row before."""
    czar, _ = pair()
    query(czar, "SET SESSION sql_mode = 'PIPES_AS_CONCAT'")
    _, rows = query(czar, "SELECT name || '-x' FROM Object WHERE name IN ('obj-1', 'obj-2')")
    assert sorted(rows) == [("obj-1-x",), ("obj-2-x",)]


def test_character_set_results(pair):
    czar, oracle = pair(use_unicode=False, conv=RAW)
    sql = "SELECT CONCAT(name, 'é😀') AS n, objectId FROM Object WHERE objectId < 20 ORDER BY objectId"
    same_answers(czar, oracle, sql, ["SET character_set_results = latin1"], ordered=True)
    same_answers(czar, oracle, sql, ["SET character_set_results = utf8mb3"], ordered=True)
    # utf8mb3 from the client too: characters of 3 bytes at most (MariaDB refuses a 4-byte
    # one in a utf8mb3 statement, the czar would read it)
    same_answers(czar, oracle, sql.replace("😀", "€"), ["SET NAMES utf8mb3"], ordered=True)


@pytest.mark.parametrize("setup, name", [
    ("SET timestamp = 1000000", "timestamp"),
    ("SET sql_mode = 'HIGH_NOT_PRECEDENCE'", "sql_mode"),
    ("SET sql_mode = 'ORACLE'", "sql_mode"),
    ("SET NAMES latin1", "character_set_connection"),
    ("SET max_join_size = 1000", "max_join_size"),
])
def test_unsupported_session_variables_refused_naming_them(pair, setup, name):
    czar, _ = pair()
    with pytest.raises(pymysql.MySQLError) as e:
        query(czar, setup)
    assert e.value.args[0] == 1235 and f"'{name}'" in e.value.args[1]
    assert query(czar, "SELECT @@sql_mode")[1][0][0] == query(czar, "SELECT @@global.sql_mode")[1][0][0]


@pytest.mark.parametrize("sql", [
    "SHOW TABLE",
    "SELECT 'abc",
    'SELECT "abc',
    "SELECT `abc",
    "SELECT 1 FROM Object WHERE name = 'x",
    "SELECT (((1)",
    "SELECT * FROM Object WHERE",
    "DESCRIBE",
    "SHOW TABLES FROM",
    "SELECT " + "(" * 500 + "flags" + ")" * 500 + " FROM Object WHERE objectId = 4203",
    "SELECT " + "(" * 500 + "1" + ")" * 500,
    "SELECT objectId FROM Object WHERE " + "(" * 300 + "flags = 1" + ")" * 300 + " AND objectId < 100",
    "SELECT COUNT(*) FROM Object WHERE " + "NOT " * 2001 + "flags = 1",
], ids=lambda sql: sql[:40])
def test_errors_have_mariadb_codes(pair, sql):
    czar, oracle = pair()
    got, got_error = answers(czar, [], sql)
    expected, expected_error = answers(oracle, [], sql)
    assert got_error == expected_error
    assert got == expected or all(g[0] == e[0] for g, e in zip(got, expected))


def test_nesting_beyond_the_limit_is_a_clean_1064(pair):
    czar, _ = pair()
    for sql in ["SELECT " + "(" * 1500 + "1" + ")" * 1500,
                "SELECT COUNT(*) FROM Object WHERE " + "ABS(" * 1200 + "flags" + ")" * 1200 + " = 1"]:
        with pytest.raises(pymysql.MySQLError) as e:
            query(czar, sql)
        assert e.value.args[0] == 1064 and "nests expressions deeper" in e.value.args[1]
    assert query(czar, "SELECT 1")[1] == [(1,)]


COM_RESET_CONNECTION = 0x1F


def reset_connection(conn) -> None:
    conn._execute_command(COM_RESET_CONNECTION, b"")
    conn._read_ok_packet()


def test_reset_connection_restores_defaults(pair):
    """A pooled connection reset by its pool must not hand one borrower's settings on."""
    sql = "SELECT @@sql_mode, @@div_precision_increment, name || 'x' FROM Object WHERE name = 'obj-1'"
    czar, oracle = pair()
    for conn in (czar, oracle):
        query(conn, "SET sql_mode = 'PIPES_AS_CONCAT'")
        query(conn, "SET div_precision_increment = 9")
        reset_connection(conn)
    same_answers(czar, oracle, sql)


def test_quoting_set_mid_batch_applies_to_the_next_statements(pair):
    """MariaDB reads each statement after the one before ran: ANSI_QUOTES set by the first
    makes "objectId" an identifier in the second."""
    sql = "SET sql_mode = 'ANSI_QUOTES'; SELECT \"objectId\", 'a\\'b' FROM Object WHERE name = 'obj-1'"
    same_answers(*pair(client_flag=CLIENT.MULTI_STATEMENTS), sql)


def test_login_character_set_is_the_results_one(demo_cluster, oracle, monkeypatch):
    """A client logging in with latin1 (and sending no SET NAMES) reads latin1 text, as from
    MariaDB; one that also asks for a latin1 connection (pymysql's SET NAMES) is refused."""
    sql = "SELECT CONCAT(name, 'é') FROM Object WHERE name = 'obj-1'"
    with pytest.raises(pymysql.MySQLError) as e:
        czar_connect(demo_cluster, charset="latin1")
    assert e.value.args[0] == 1235 and "'character_set_connection'" in e.value.args[1]
    monkeypatch.setattr(pymysql.connections.Connection, "set_character_set", lambda *a, **k: None)
    czar = czar_connect(demo_cluster, charset="latin1")
    reference = pymysql.connect(unix_socket=oracle.socket, user="root",
                                password=oracle.root_password, database="demo", charset="latin1")
    try:
        assert query(czar, sql)[1] == query(reference, sql)[1] == [("obj-1é",)]
    finally:
        czar.close()
        reference.close()
