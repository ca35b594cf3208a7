"""The statement's clock: NOW(), CURDATE(), CURTIME() and their synonyms, fixed once per
statement in the session's time zone, as typed values.

mysql-mimic puts the current time into the statement in place of these functions (every chunk
query then sees the same instant), but as a *string*: `NOW() + 0` answered 2026 (the string's
leading number) instead of 20261202172248. Here they become typed literals, CAST('...' AS
DATETIME(p)) / DATE / TIME(p), with the fractional digits the call asks for, so arithmetic,
comparisons and formats behave as MariaDB's own functions do. The time zone is the session's
time_zone, which MariaDB reports as SYSTEM (the host's zone) or an offset such as +05:00.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

from mysql_mimic.session import mysql_function_mapping
from mysql_mimic.variable_processor import VariableProcessor
from sqlglot import exp

OFFSET = re.compile(r"^([+-])(\d{1,2}):(\d{2})$")
# function -> (type, format); CURRENT_TIMESTAMP etc. parse as these or as bare columns
CLOCK = {
    "NOW": ("DATETIME", "%Y-%m-%d %H:%M:%S"), "CURRENT_TIMESTAMP": ("DATETIME", "%Y-%m-%d %H:%M:%S"),
    "LOCALTIME": ("DATETIME", "%Y-%m-%d %H:%M:%S"), "LOCALTIMESTAMP": ("DATETIME", "%Y-%m-%d %H:%M:%S"),
    "CURDATE": ("DATE", "%Y-%m-%d"), "CURRENT_DATE": ("DATE", "%Y-%m-%d"),
    "CURTIME": ("TIME", "%H:%M:%S"), "CURRENT_TIME": ("TIME", "%H:%M:%S"),
}


def session_timezone(value: str | None) -> tzinfo:
    """MariaDB's time_zone value as a tzinfo: SYSTEM is the host's zone."""
    text = str(value or "SYSTEM").strip()
    if text.upper() == "SYSTEM":
        return datetime.now().astimezone().tzinfo
    m = OFFSET.match(text)
    if m:
        offset = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return timezone(-offset if m.group(1) == "-" else offset)
    if text.upper() == "UTC":
        return timezone.utc
    raise ValueError(f"time zone {text!r}")


def clock_literal(name: str, now: datetime, precision: int) -> exp.Expression:
    kind, fmt = CLOCK[name]
    text = now.strftime(fmt)
    if kind != "DATE" and precision > 0:
        text += "." + f"{now.microsecond:06d}"[:precision]
    data_type = kind if kind == "DATE" or precision == 0 else f"{kind}({precision})"
    return exp.cast(exp.Literal.string(text), exp.DataType.build(data_type, dialect="mysql"))


class ClockProcessor(VariableProcessor):
    """mysql-mimic's substitution of @@variables and information functions, with the clock
    functions as typed literals."""

    def __init__(self, session, expression: exp.Expression):
        super().__init__(mysql_function_mapping(session), session.variables, expression)
        self._now = session.timestamp

    def _transform(self, node: exp.Expression) -> exp.Expression:
        new = self._value(node)
        if isinstance(new, exp.Literal) and not new.is_string and new is not node and \
                isinstance(node.parent, (exp.Group, exp.Ordered)):
            # a bare number in GROUP BY / ORDER BY would name a column by its position
            return exp.cast(new, exp.DataType.build("SIGNED", dialect="mysql"))
        return new

    def _value(self, node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Func):
            return super()._transform(node)
        anonymous = isinstance(node, exp.Anonymous)
        name = node.name.upper() if anonymous else node.sql_name()
        if name not in CLOCK:
            return super()._transform(node)
        args = list(node.expressions) if anonymous else \
            [a for a in (node.args.get("this"),) if isinstance(a, exp.Expression)]
        precision = 0
        if args:
            if not (isinstance(args[0], exp.Literal) and args[0].is_int):
                return node  # an unusual argument: left for MariaDB, which checks it
            precision = int(args[0].this)
            if not 0 <= precision <= 6:
                return node
        literal = clock_literal(name, self._now, precision)
        if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
            return exp.alias_(literal, exp.to_identifier(node.sql(dialect="mysql")))
        return literal
