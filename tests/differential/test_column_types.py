"""Clients (pandas, SQLAlchemy, JDBC) convert values by the column types of the result set:
for every corpus query, the czar's column types must be those one MariaDB reports."""

from __future__ import annotations

from tests.differential.test_differential import QUERIES, oracle_text


def _sql(path) -> str:
    return "\n".join(line for line in path.read_text().splitlines()
                     if not line.strip().startswith("--")).strip()


def _types(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        cur.fetchall()
        return [(d[0], d[1]) for d in cur.description or []]


def test_same_column_types_as_single_mariadb(czar, oracle_conn):
    differ = {}
    for path in QUERIES:
        sql = _sql(path)
        got, expected = _types(czar, sql), _types(oracle_conn, oracle_text(path.read_text(), sql))
        if got != expected:
            differ[path.stem] = [(g, e) for g, e in zip(got, expected) if g != e]
    assert not differ, f"(name, type code) czar vs MariaDB: {differ}"
