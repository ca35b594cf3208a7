"""The SQL dialect the czar writes: what the workers' and its own MariaDB run.

Both the analysis passes (scisql formulas inlined into the user's tree) and the planner (chunk
and merge queries) render SQL with it, so it lives apart from both: neither imports the other
for it.

    render(parse_one("SELECT a FROM t WHERE x REGEXP 'p'", read="mysql"))
    -> SELECT `a` FROM `t` WHERE `x` REGEXP 'p'
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.generators.mysql import MySQLGenerator


class MariaDB(MySQL):
    """sqlglot's MySQL dialect, writing only what MariaDB runs: sqlglot turns `x REGEXP p`
    (and RLIKE) into MySQL 8's REGEXP_LIKE(x, p), a function MariaDB does not have (1305)."""

    class Generator(MySQLGenerator):
        TRANSFORMS = {**MySQLGenerator.TRANSFORMS,
                      exp.RegexpLike: lambda self, e: self.binary(e, "REGEXP")}


def render(node: exp.Expr) -> str:
    """`node` as MariaDB SQL, every identifier quoted."""
    return node.sql(dialect=MariaDB, identify=True)
