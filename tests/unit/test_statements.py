"""czar/statements.py: the client's text as MariaDB 10.11 reads it (comments, executable
comments and their versions, statement splitting, MariaDB's 1064 texts). The expected values
are what MariaDB 10.11.19 answers for the same texts (tests/differential/test_session_state.py
checks the same against a running server)."""

from __future__ import annotations

import pytest

from czar.statements import MAX_NESTING, split, version_number
from qserv.errors import QservError

V = 101119  # MariaDB 10.11.19


def texts(sql, multi=False, **kw):
    scan = split(sql, version=V, multi=multi, **kw)
    assert scan.error is None, scan.error
    return [s.text for s in scan.statements]


def one(sql, **kw):
    [text] = texts(sql, **kw)
    return " ".join(text.split())


@pytest.mark.parametrize("sql, expected", [
    ("SELECT 1 /*! +1 */", "SELECT 1 +1"),
    ("SELECT 1 /*!50000 +2 */", "SELECT 1 +2"),
    ("SELECT 1 /*!999999 +3 */", "SELECT 1"),
    ("SELECT 1 /*M! +4 */", "SELECT 1 +4"),
    ("SELECT 1 /*M!100000 +5 */", "SELECT 1 +5"),
    ("SELECT 1 /*M!110000 +6 */", "SELECT 1"),
    ("SELECT 1 /*!101119 +10 */", "SELECT 1 +10"),    # the server's own version runs
    ("SELECT 1 /*!101120 +11 */", "SELECT 1"),        # a later one does not
    ("SELECT 1 /*!50700 +1 */", "SELECT 1"),          # MySQL 5.7+ versions: left out ...
    ("SELECT 1 /*M!50700 +1 */", "SELECT 1 +1"),      # ... unless MariaDB's own form
    ("SELECT 1 /*m!50700 +1 */", "SELECT 1"),         # lower-case m: a plain comment
    ("SELECT 1 /*!5000 +1 */", "SELECT 1 5000 +1"),   # 4 digits are no version: content
    ("SELECT 1 /*!500001+1 */", "SELECT 1"),          # 6 digits: version 500001
    ("SELECT 1 /*!50000+1*/", "SELECT 1 +1"),
    ("SELECT 1 /*!50000 +1 /* nested */ +2 */", "SELECT 1 +1 +2"),
    ("SELECT 1 /*!99999 +1 /* a /* b */ +2 */ +8", "SELECT 1 +8"),  # one level inside
    ("SELECT 1 /*!50000 'a*/b' */", "SELECT 1 'a*/b'"),  # executed content has strings
    ("SELECT 1 /*! -- x\n +1 */", "SELECT 1 +1"),
    ("SELECT 1 #c\n+1", "SELECT 1 +1"),
    ("SELECT 2 -- 1\n+1", "SELECT 2 +1"),
    ("SELECT 2--1", "SELECT 2- -1"),                    # not a comment: two minus signs
    ("SELECT 2---1", "SELECT 2- - -1"),
    ("SELECT 1 --\t\n+1", "SELECT 1 +1"),
    ("SELECT 1 --", "SELECT 1"),
    ("SELECT '/*!1 +1*/', `a/*`, \"#\"", "SELECT '/*!1 +1*/', `a/*`, \"#\""),
    ("SELECT 'a\\'b', 'a''b'", "SELECT 'a\\'b', 'a''b'"),
    ("SELECT COUNT(*) FROM Object WHERE flags = 1 /*!50000 AND objectId < 1000 */",
     "SELECT COUNT(*) FROM Object WHERE flags = 1 AND objectId < 1000"),
])
def test_comments_resolved_as_mariadb_reads_them(sql, expected):
    assert one(sql) == expected


def test_quotes_follow_sql_mode():
    assert one('SELECT "a\\"b"') == 'SELECT "a\\"b"'  # a string with an escaped quote
    # ANSI_QUOTES: "..." is an identifier, where a backslash escapes nothing
    assert split('SELECT "a\\"b"', version=V, multi=False, ansi_quotes=True).error.code == 1064
    # NO_BACKSLASH_ESCAPES: the backslash is an ordinary character in strings
    assert texts("SELECT 'a\\'", no_backslash_escapes=True) == ["SELECT 'a\\'"]
    assert split("SELECT 'a\\'", version=V, multi=False).error.code == 1064


@pytest.mark.parametrize("sql, multi, statements, error", [
    ("SELECT 1;", False, 1, None),
    ("SELECT 1;;", False, 1, None),
    ("SELECT 1; ;", False, 1, None),
    ("SELECT 1; -- c", False, 1, None),
    ("SELECT 1; /*! */", False, 1, None),
    ("SELECT 1; SELECT 2", False, 1, "near 'SELECT 2' at line 1"),
    ("SELECT 1;\n\n  SELECT 2", False, 1, "near 'SELECT 2' at line 3"),
    ("SELECT 1;; SELECT 2", False, 1, "near '; SELECT 2' at line 1"),
    ("SELECT 1; SELECT 2; -- c", False, 1, "near 'SELECT 2; -- c' at line 1"),
    ("SELECT 1 /*! ; SELECT 2 */", False, 1, "near 'SELECT 2 */' at line 1"),
    ("SELECT 1 /*!99999 ; SELECT 2 */", False, 1, None),
    ("SELECT 1; SELECT 2", True, 2, None),
    ("SELECT 1; SELECT 2;;", True, 2, None),
    ("SELECT 1; -- c", True, 2, None),           # a statement of comments: an OK result
    ("SELECT 1;/**/;", True, 2, None),
    ("SELECT 1;; SELECT 2", True, 1, "near '; SELECT 2' at line 1"),
    ("SELECT 1; /* c */ SELECT 2", True, 2, None),
    ("/* c */;", False, 1, None),
])
def test_statements_split_as_com_query(sql, multi, statements, error):
    scan = split(sql, version=V, multi=multi)
    assert len(scan.statements) == statements
    if error is None:
        assert scan.error is None
    else:
        assert scan.error.code == 1064 and scan.error.message.endswith(error)


def test_comment_only_statement_is_empty():
    scan = split("SELECT 1; -- c", version=V, multi=True)
    assert [s.empty for s in scan.statements] == [False, True]
    assert split("-- x", version=V, multi=False).statements[0].empty


@pytest.mark.parametrize("sql", ["", " ", ";", " ;\n;"])
def test_empty_query(sql):
    with pytest.raises(QservError) as e:
        split(sql, version=V, multi=False)
    assert e.value.code == 1065


@pytest.mark.parametrize("sql, near", [
    ("SELECT 'abc", "''abc'"),
    ('SELECT "abc', "'\"abc'"),
    ("SELECT `a``b", "'`a``b'"),
    ("SELECT '\\'", "''\\''"),
    ("SELECT 1 /* x", "'/* x'"),
    ("SELECT 1 /*!99999 x", "'/*!99999 x'"),
    ("SELECT 1 /*! +1", "''"),
    ("SELECT 1 /*!50000 /* x */", "''"),
    ("SELECT 1 /*! # x */ +1", "''"),
])
def test_unterminated_text_is_mariadb_1064(sql, near):
    scan = split(sql, version=V, multi=False)
    assert scan.statements == [] and scan.error.code == 1064
    assert scan.error.message.endswith(f"near {near} at line 1")


def test_long_near_text_is_cut_as_mariadb_does():
    scan = split("SELECT 1; " + "é" * 100, version=V, multi=False)
    assert scan.error.message.endswith("near '" + "é" * 38 + "...' at line 1")


def test_raw_text_kept_for_mariadb():
    [s] = split("  SELECT 1 /*!50000 +1 */ ;  ", version=V, multi=False).statements
    assert s.raw == "SELECT 1 /*!50000 +1 */" and " ".join(s.text.split()) == "SELECT 1 +1"


def test_nesting_depth():
    [s] = split("SELECT " + "(" * 600 + "1" + ")" * 600, version=V, multi=False).statements
    assert s.depth == 600 < MAX_NESTING
    [s] = split("SELECT '(((', `((`, 1 /* ((( */", version=V, multi=False).statements
    assert s.depth == 0


def test_version_number():
    assert version_number("10.11.19-MariaDB-0+deb12u1") == 101119
    assert version_number("11.4.2-MariaDB") == 110402
