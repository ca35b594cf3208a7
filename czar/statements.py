"""The client's text as MariaDB reads it, before any parser sees it.

sqlglot drops comments, including MariaDB's *executable* ones, which MariaDB runs: without this
module `WHERE flags = 1 /*!50000 AND objectId < 1000 */` was answered without its second
condition. And mysql-mimic runs every statement of a string and answers only the last. So the
czar first scans the text once, with MariaDB's own lexical rules (sql_lex.cc), and gets:

- comments resolved: `# ...` and `-- ...` (a `--` followed by a blank or control character)
  and `/* ... */` are dropped; `/*! ... */`, `/*!NNNNN ... */`, `/*M! ... */` and
  `/*M!NNNNNN ... */` are *executed* (their content kept) when MariaDB would run them: no version,
  or a version up to the server's own, except MySQL 5.7+ versions (50700-99999) in the plain
  `/*!` form; otherwise dropped. A `--` that is not a comment (`2--1` is 2 - -1) is spaced out,
  so no parser downstream takes it for one;
- the statements, split at `;` as MariaDB's COM_QUERY does: trailing blanks and `;` are cut
  first; without CLIENT_MULTI_STATEMENTS any token after the first `;` is error 1064; with it,
  each statement runs in turn and a statement of comments only answers OK;
- the deepest parenthesis nesting (the czar's parsers recurse on it);
- MariaDB's error 1064, with its message, for an unterminated string, identifier or comment.

Quotes follow the session's sql_mode: ANSI_QUOTES makes "..." an identifier,
NO_BACKSLASH_ESCAPES makes the backslash an ordinary character in strings.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass

from qserv.errors import ER_PARSE_ERROR, QservError

ER_EMPTY_QUERY = 1065
MYSQL_57_VERSIONS = range(50700, 100000)  # plain /*!NNNNN comments MariaDB leaves out
NEAR_BYTES = 80                            # MariaDB's '%-.80T' in ER_PARSE_ERROR
BLANKS = " \t\n\r\v\f"                       # MariaDB's my_isspace (not Unicode's spaces)
# the body of a quoted string or identifier up to its closing quote: doubled quotes, and
# backslash escapes in strings unless NO_BACKSLASH_ESCAPES
QUOTED = {(q, escapes): re.compile((rf"[^{q}\\]*(?:(?:\\.|{q}{q})[^{q}\\]*)*" if escapes else
                                    rf"[^{q}]*(?:{q}{q}[^{q}]*)*"), re.DOTALL)
          for q in "'\"`" for escapes in (True, False)}
PLAIN = r"[^ \t\n\r\v\f'\"`#/*;()\-]+"  # characters with no lexical role here
# The czar's parser and passes recurse about 30 Python frames per level of parentheses; MariaDB
# reads thousands of levels. Up to MAX_NESTING levels are read (allow_nesting() gives Python
# the room); deeper is a clean 1064, as MariaDB's own parser-stack overflow.
MAX_NESTING = 1000
FRAMES_PER_LEVEL = 40


@dataclass
class Statement:
    raw: str            # the client's text of the statement: MariaDB's names and messages use it
    text: str           # comments resolved: what the czar's parsers read
    depth: int          # deepest parenthesis nesting
    first: int | None   # where its first token starts in the text; None: comments only
                        # (MariaDB then answers OK and does nothing)
    next: int | None = None  # where the text after its `;` starts (None: it ends the text)

    @property
    def empty(self) -> bool:
        return self.first is None


@dataclass
class Scan:
    statements: list[Statement]
    # MariaDB's error for the statement after the last one (a syntax error, or a second
    # statement without CLIENT_MULTI_STATEMENTS): raised once the statements before it ran.
    error: QservError | None = None


def allow_nesting() -> None:
    """Python's recursion limit raised so that MAX_NESTING levels of parentheses parse (pure
    Python frames: Python 3.11 keeps them off the C stack)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), MAX_NESTING * FRAMES_PER_LEVEL + 10_000))


def too_deep() -> QservError:
    return QservError(ER_PARSE_ERROR, f"The statement nests expressions deeper than Qserv reads "
                                      f"({MAX_NESTING} levels of parentheses); simplify it")


def syntax_error(sql: str, at: int) -> QservError:
    """MariaDB's 1064 for text that goes wrong at `sql[at:]`."""
    near = sql[at:].encode("utf-8")
    if len(near) > NEAR_BYTES:
        near = near[:NEAR_BYTES - 3].decode("utf-8", "ignore").encode("utf-8") + b"..."
    line = sql.count("\n", 0, at) + 1
    return QservError(ER_PARSE_ERROR, "You have an error in your SQL syntax; check the manual that "
                      "corresponds to your MariaDB server version for the right syntax to use near "
                      f"'{near.decode('utf-8')}' at line {line}")


def split(sql: str, *, version: int, multi: bool, ansi_quotes: bool = False,
          no_backslash_escapes: bool = False) -> Scan:
    """The statements of one COM_QUERY text (see the module docstring). `version` is the
    MariaDB version as a number (10.11.19 -> 101119)."""
    start, end = 0, len(sql)
    while start < end and sql[start] in BLANKS:
        start += 1
    while end > start and (sql[end - 1] == ";" or sql[end - 1] in BLANKS):
        end -= 1
    if start == end:
        raise QservError(ER_EMPTY_QUERY, "Query was empty")
    scanner = _Scanner(sql[:end], version, ansi_quotes, no_backslash_escapes)
    statements: list[Statement] = []
    pos = start
    while True:
        try:
            statement, stop = scanner.statement(pos)
        except QservError as e:
            return Scan(statements, e)
        statements.append(statement)
        if stop is None:
            return Scan(statements)
        statement.next = stop + 1
        if not multi:  # anything but comments after the `;` is an error
            try:
                rest, rest_stop = scanner.statement(stop + 1)
            except QservError as e:
                return Scan(statements, e)
            at = rest.first if rest.first is not None else rest_stop
            return Scan(statements, None if at is None else syntax_error(scanner.sql, at))
        pos = stop + 1
        while pos < end and sql[pos] in BLANKS:
            pos += 1
        if pos == end:
            return Scan(statements)
        if sql[pos] == ";":
            return Scan(statements, syntax_error(scanner.sql, pos))


class _Scanner:
    def __init__(self, sql: str, version: int, ansi_quotes: bool, no_backslash_escapes: bool):
        self.sql = sql
        self.version = version
        self.string_quotes = "'" if ansi_quotes else "'\""
        self.identifier_quotes = '`"' if ansi_quotes else "`"
        self.escapes = not no_backslash_escapes
        self.plain = _run_pattern(self.string_quotes, self.identifier_quotes, self.escapes)

    def statement(self, pos: int) -> tuple[Statement, int | None]:
        """The statement from `pos` and the index of the `;` that ends it (None: the end)."""
        sql, n = self.sql, len(self.sql)
        out: list[str] = []
        depth = max_depth = 0
        first = None
        executing = False  # inside an executed /*! ... */
        i = start = pos
        while i < n:
            # runs of plain characters (words, numbers, most operators) and complete quoted
            # strings and identifiers are copied at once
            m = self.plain.match(sql, i)
            if m.end() > i:
                out.append(m.group())
                first = i if first is None else first
                i = m.end()
                continue
            c = sql[i]
            nxt = sql[i + 1] if i + 1 < n else ""
            if c in BLANKS:
                out.append(c)
                i += 1
            elif c in self.string_quotes or c in self.identifier_quotes:
                j = self._quoted_end(i)
                out.append(sql[i:j])
                first = i if first is None else first
                i = j
            elif c == "#" or (c == "-" and nxt == "-" and _comment_dash(sql, i + 2)):
                j = sql.find("\n", i)
                i = n if j < 0 else j
                out.append(" ")
            elif c == "/" and nxt == "*":
                i, executing = self._comment(i, executing)
                out.append(" ")
            elif c == "*" and nxt == "/" and executing:
                executing = False
                out.append(" ")
                i += 2
            elif c == ";":
                return self._finish(start, i, out, max_depth, first, executing), i
            else:
                if c == "(":
                    depth += 1
                    max_depth = max(max_depth, depth)
                elif c == ")":
                    depth = max(depth - 1, 0)
                # `--` not followed by a blank is two minus signs for MariaDB: keep it so.
                out.append("- " if c == "-" and nxt == "-" else c)
                first = i if first is None else first
                i += 1
        if executing:  # an executed comment never closed
            raise syntax_error(sql, n)
        return self._finish(start, n, out, max_depth, first, False), None

    def _finish(self, start: int, stop: int, out: list[str], depth: int, first: int | None,
                executing: bool) -> Statement:
        text = "".join(out).strip()
        raw = self.sql[start:stop].strip()
        # A `;` inside an executed comment ends the statement there: its raw text would be
        # cut inside the comment, so MariaDB gets the resolved text instead.
        return Statement(raw=text if executing else raw, text=text, depth=depth, first=first)

    def _quoted_end(self, i: int) -> int:
        """The index after the string or quoted identifier starting at `i`."""
        sql, n, q = self.sql, len(self.sql), self.sql[i]
        end = QUOTED[q, self.escapes and q in self.string_quotes].match(sql, i + 1).end()
        if end >= n or sql[end] != q:
            raise syntax_error(sql, i)
        return end + 1

    def _comment(self, i: int, executing: bool) -> tuple[int, bool]:
        """A comment starting at `i` ("/*"): (where scanning goes on, executing after it)."""
        sql = self.sql
        if _executable(sql, i):
            j = i + (4 if sql[i + 2] == "M" else 3)
            digits = 0
            while digits < 6 and j + digits < len(sql) and sql[j + digits] in "0123456789":
                digits += 1
            if digits < 5:  # no version: always run (MariaDB reads 1-4 digits as content)
                return j, True
            version = int(sql[j:j + digits])
            if version <= self.version and (sql[i + 2] == "M" or version not in MYSQL_57_VERSIONS):
                return j + digits, True
            # a comment for a later version: skipped, one level of /* */ allowed inside
            return self._skip_comment(i, j, nested=1), executing
        return self._skip_comment(i, i + 2, nested=0), executing

    def _skip_comment(self, start: int, j: int, nested: int) -> int:
        sql, n = self.sql, len(self.sql)
        while j < n:
            if nested and sql.startswith("/*", j):
                j = self._skip_comment(start, j + 2, nested - 1)
                continue
            if sql.startswith("*/", j):
                return j + 2
            j += 1
        raise syntax_error(sql, start)


@functools.lru_cache(maxsize=None)
def _run_pattern(string_quotes: str, identifier_quotes: str, escapes: bool) -> re.Pattern:
    """Plain characters and complete quoted texts, in any order."""
    quoted = [f"{q}(?:{QUOTED[q, escapes and q in string_quotes].pattern}){q}(?!{q})"
              for q in string_quotes + identifier_quotes]
    return re.compile(f"(?:{PLAIN}|{'|'.join(quoted)})*", re.DOTALL)


def _executable(sql: str, i: int) -> bool:
    return sql.startswith("/*!", i) or sql.startswith("/*M!", i)


def _comment_dash(sql: str, i: int) -> bool:
    """`--` starts a comment when a blank or a control character (or the end) follows."""
    return i >= len(sql) or sql[i] in BLANKS or ord(sql[i]) < 32


def version_number(server_version: str) -> int:
    """'10.11.19-MariaDB-0+deb12u1' -> 101119, as MariaDB's MYSQL_VERSION_ID."""
    parts = (server_version.split("-", 1)[0].split(".") + ["0", "0"])[:3]
    major, minor, patch = (int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts)
    return major * 10000 + minor * 100 + patch
