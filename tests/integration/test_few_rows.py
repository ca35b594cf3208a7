"""The worker's few-rows path (rows fetched over the connection, worker/rows_text.py) must
send exactly the bytes an OUTFILE holds for the same query: the czar parses one format.
Checked on a real MariaDB (the oracle) with awkward values of many types and on demo rows."""

from __future__ import annotations

import asyncio

import pytest

from worker.executor import ChunkQueryError, Executor

TYPES = """CREATE TABLE fewrows.t (
  id INT PRIMARY KEY, i BIGINT, u BIGINT UNSIGNED, d DOUBLE, f FLOAT, m DECIMAL(30, 9),
  s VARCHAR(64), x TEXT, b VARBINARY(16), bl BLOB, dt DATE, ts DATETIME(6), tm TIME(3),
  e ENUM('a', 'b c'), j JSON, y YEAR)"""
ROWS = [
    "(1, -9223372036854775808, 18446744073709551615, 0.1, 0.1, -12345678901234567890.123456789,"
    " 'tab\there', 'line\\nbreak\\\\slash', x'00ff0a09', x'5c4e', '2024-02-29',"
    " '2024-02-29 23:59:59.123456', '-838:59:59.000', 'b c', '{\"a\": [1, 2]}', 2024)",
    "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(3, 0, 0, 1e-300, 3.4e38, 0, '', '', '', '', '0000-00-00', '1970-01-01 00:00:00', '00:00:00',"
    " 'a', 'null', 1901)",
    "(4, 42, 7, -1.7976931348623157e308, -1.17549e-38, 1.5, '\\\\N', 'ünïcødé ✓ \\0 nul',"
    " x'5c', x'', '9999-12-31', '2000-01-01 12:00:00.5', '12:34:56.789', 'a',"
    " '\"\\\\t\"', 2155)",
    "(5, 1, 1, 1/3, 2/3, 1/3, 'trailing backslash \\\\', 'a\\tb\\nc\\rd', x'0d0a', x'0a', NULL,"
    " NULL, NULL, NULL, NULL, NULL)",
]


async def both_ways(server, database: str, sql: str, chunks=()) -> tuple[bytes, bytes]:
    executor = Executor(server.socket, server.outfile_dir)
    try:
        async def run(few_rows):
            return b"".join([p async for p in executor.run("t1", database, sql, "__C__",
                                                           list(chunks), few_rows=few_rows)])
        return await run(True), await run(False)
    finally:
        await executor.close()


@pytest.fixture(scope="module")
def typed_table(oracle):
    conn = oracle.connect()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS fewrows")
        cur.execute("CREATE DATABASE fewrows")
        cur.execute(TYPES)
        cur.execute("INSERT INTO fewrows.t VALUES " + ", ".join(ROWS))
    conn.commit()
    conn.close()
    return oracle


@pytest.mark.parametrize("sql", ["SELECT * FROM fewrows.t ORDER BY id",
                                 "SELECT id, d / 3, CONCAT(s, x), NULL, 1.0e0 / 7"
                                 " FROM t ORDER BY id",
                                 "SELECT * FROM fewrows.t WHERE id = 99"])
def test_same_bytes_as_outfile(typed_table, sql):
    fetched, outfile = asyncio.run(both_ways(typed_table, "fewrows", sql))
    assert fetched == outfile


def test_same_bytes_as_outfile_on_demo_rows(oracle):
    fetched, outfile = asyncio.run(both_ways(
        oracle, "demo", "SELECT * FROM demo.Object ORDER BY objectId LIMIT 3000"))
    assert fetched.count(b"\n") == 3000
    assert fetched == outfile


def test_errors_keep_mariadb_code(oracle):
    with pytest.raises(ChunkQueryError) as e:
        asyncio.run(both_ways(oracle, "demo", "SELECT nope FROM demo.Object"))
    assert e.value.code == 1054


def test_bit_values_are_escaped(oracle):
    """OUTFILE writes BIT values raw (a 0x0A byte would end the row); the few-rows text
    escapes them like strings, so the czar's parser gets the value back."""
    from czar.outfile import OutfileParser
    conn = oracle.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS fewbits")
        cur.execute("CREATE OR REPLACE TABLE fewbits.b (id INT, v BIT(16))")
        cur.execute("INSERT INTO fewbits.b VALUES (1, 0x0a09), (2, 0x5c00), (3, NULL)")
    conn.commit()
    conn.close()
    fetched, _ = asyncio.run(both_ways(oracle, "fewbits", "SELECT v FROM b ORDER BY id"))
    parser = OutfileParser()
    assert parser.feed(fetched) == [[b"\n\t"], [b"\\\x00"], [None]]
