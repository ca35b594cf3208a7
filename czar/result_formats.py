"""An async query's result as Arrow: one Parquet copy per result, made on its first download,
and the streamed formats of the HTTP API written from it batch by batch.

Why Parquet in between: reading the result table row by row through a MySQL driver costs
microseconds per value in Python; MariaDB writes the table as OUTFILE text at its own speed
and pyarrow's CSV reader parses that text in C++, typed by the result's MariaDB column types
(czar/async_queries.py keeps them). The Parquet file then serves every format and every page
without touching MariaDB again, and a download of the file itself is resumable with Range.

Text columns travel with an IS NULL flag beside `IFNULL(col, '')` (the reader cannot tell
MariaDB's `\\N` from a value "N" once escapes are resolved); binary ones as HEX. A text value
holding a NUL byte travels as HEX, flagged 2 (MariaDB writes NUL as `\\0`, which the reader
would read back as "0").

Every streamed format ends with an explicit end or error marker (`end_marker`, `error_marker`):
typed JSON closes with an "end" object, JSON lines with a last {"end": ...} or {"error": ...}
line, CSV with a last `#END,<rows>` or `#ERROR,<message>` line; Arrow IPC ends with its
end-of-stream marker, never written after an error (the reader then fails), and a Parquet
file without its footer cannot be read.
"""

from __future__ import annotations

import base64
import decimal
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

INT_TYPES = {1, 2, 3, 8, 9, 13}          # TINY SHORT LONG LONGLONG INT24 YEAR
FLOAT_TYPES = {4, 5}
DECIMAL_TYPES = {0, 246}
BIT = 16
TYPE_NAMES = {0: "DECIMAL", 1: "TINYINT", 2: "SMALLINT", 3: "INT", 4: "FLOAT", 5: "DOUBLE",
              6: "NULL", 7: "TIMESTAMP", 8: "BIGINT", 9: "MEDIUMINT", 10: "DATE", 11: "TIME",
              12: "DATETIME", 13: "YEAR", 15: "VARCHAR", 16: "BIT", 245: "JSON", 246: "DECIMAL",
              247: "ENUM", 248: "SET", 249: "TINYBLOB", 250: "MEDIUMBLOB", 251: "LONGBLOB",
              252: "BLOB", 253: "VARCHAR", 254: "CHAR", 255: "GEOMETRY"}
FORMATS = {"json": "application/json", "jsonl": "application/x-ndjson", "csv": "text/csv",
           "arrow": "application/vnd.apache.arrow.stream", "parquet": "application/vnd.apache.parquet"}
BATCH_ROWS = 65_536
ROW_GROUP_ROWS = 131_072


def arrow_type(col: dict) -> pa.DataType:
    t = col["type"]
    if t in INT_TYPES or t == BIT:
        return pa.uint64() if col.get("unsigned") and t == 8 else pa.int64()
    if t in FLOAT_TYPES:
        return pa.float64()
    if t in DECIMAL_TYPES:
        return pa.decimal128(38, min(int(col.get("scale") or 0), 37))
    return pa.binary() if col.get("binary") else pa.string()


def is_text(col: dict) -> bool:
    return pa.types.is_string(arrow_type(col)) or pa.types.is_binary(arrow_type(col))


def arrow_schema(columns: list[dict]) -> pa.Schema:
    names, seen = [], {}
    for c in columns:   # Arrow and Parquet keep duplicate names, pandas does not: number them
        n = seen[c["name"]] = seen.get(c["name"], 0) + 1
        names.append(c["name"] if n == 1 else f"{c['name']}_{n}")
    return pa.schema([pa.field(n, arrow_type(c)) for n, c in zip(names, columns)])


def outfile_select(columns: list[dict], names: list[str], table: str, path: Path) -> str:
    """The SELECT writing the result table as text pyarrow reads back exactly."""
    exprs = []
    for c, name in zip(columns, names):
        q = f"`{name.replace('`', '``')}`"
        if not is_text(c):
            exprs.append(q)
        elif c.get("binary"):
            exprs += [f"{q} IS NULL", f"IFNULL(HEX({q}), '')"]
        else:   # a value holding a NUL byte travels as HEX, flagged 2 (MariaDB's \\0 escape
            #     would read back as "0")
            nul = f"LOCATE(CHAR(0), {q}) > 0"
            exprs += [f"IF({q} IS NULL, 1, IF({nul}, 2, 0))",
                      f"IF({nul}, HEX({q}), IFNULL({q}, ''))"]
    return f"SELECT {', '.join(exprs)} FROM {table} INTO OUTFILE '{path}'"


def text_to_parquet(text_path: Path, columns: list[dict], out: Path) -> int:
    """Parse the OUTFILE text of `outfile_select` and write the Parquet file; its rows."""
    schema = arrow_schema(columns)
    names, types = [], {}
    for i, c in enumerate(columns):
        if is_text(c):
            names += [f"n{i}", f"v{i}"]
            types[f"n{i}"], types[f"v{i}"] = pa.int8(), pa.string()
        else:
            names.append(f"v{i}")
            types[f"v{i}"] = arrow_type(c)
    reader = pacsv.open_csv(
        text_path,
        read_options=pacsv.ReadOptions(column_names=names, block_size=8 << 20),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char="\\",
                                         newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=types, null_values=["\\N", "N"],
                                             strings_can_be_null=False))
    rows = 0
    tmp = out.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema) as writer:
        for batch in reader:
            arrays = []
            for i, c in enumerate(columns):
                value = batch.column(f"v{i}")
                if is_text(c):
                    flag = batch.column(f"n{i}")
                    if c.get("binary"):
                        value = pa.array([None if v is None else bytes.fromhex(v)
                                          for v in value.to_pylist()], pa.binary())
                    elif pc.any(pc.equal(flag, 2)).as_py():
                        value = _with_nul_bytes(value, flag)
                    value = pc.if_else(pc.equal(flag, 1), pa.scalar(None, value.type), value)
                arrays.append(value)
            table = pa.Table.from_arrays(arrays, schema=schema)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            rows += table.num_rows
        if rows == 0:
            writer.write_table(schema.empty_table())
    tmp.rename(out)
    return rows


def _with_nul_bytes(value: pa.Array, flag: pa.Array) -> pa.Array:
    """The text values flagged 2 (holding a NUL byte: sent as HEX) decoded; the rest kept."""
    return pa.array([bytes.fromhex(v).decode("utf-8", "replace") if f == 2 else v
                     for v, f in zip(value.to_pylist(), flag.to_pylist())], pa.string())


def batches(path: Path, offset: int = 0, limit: int | None = None):
    """The Parquet file's rows offset .. offset+limit as record batches (a generator: the
    caller takes them one at a time, in a thread)."""
    pf = pq.ParquetFile(path)
    skip, left = offset, limit
    for batch in pf.iter_batches(batch_size=BATCH_ROWS):
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        if skip:
            batch, skip = batch.slice(skip), 0
        if left is not None:
            if left <= 0:
                return
            batch = batch.slice(0, left)
            left -= batch.num_rows
        yield batch


def schema_json(columns: list[dict]) -> list[dict]:
    """The original's schema entries (table, column, type, is_binary)."""
    return [{"table": "", "column": c["name"], "type": TYPE_NAMES.get(c["type"], "VARCHAR"),
             "is_binary": int(bool(c.get("binary")))} for c in columns]


def _binary(encoding: str):
    if encoding == "b64":
        return lambda v: base64.b64encode(v).decode()
    if encoding == "array":
        return list
    return lambda v: v.hex().upper()


def json_rows(batch: pa.RecordBatch, binary_encoding: str = "hex") -> list[list]:
    """Typed values (numbers as numbers, NULL as null; DECIMAL as a number; binary encoded as
    the original's binary_encoding says)."""
    encode = _binary(binary_encoding)
    cols = []
    for col in batch.columns:
        values = col.to_pylist()
        if pa.types.is_binary(col.type):
            values = [None if v is None else encode(v) for v in values]
        elif pa.types.is_decimal(col.type):
            values = [None if v is None else _number(v) for v in values]
        cols.append(values)
    return [list(r) for r in zip(*cols)]


def _number(d: decimal.Decimal):
    return int(d) if d == d.to_integral_value() and abs(d) < 2 ** 53 else float(d)


def jsonl_line(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def csv_bytes(batch: pa.RecordBatch, header: bool) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(batch, sink, pacsv.WriteOptions(include_header=header))
    return sink.getvalue().to_pybytes()


def csv_header(schema: pa.Schema) -> bytes:
    return csv_bytes(pa.RecordBatch.from_pylist([], schema=schema), True)


class _Pieces:
    """A file-like sink that hands on what was written since the last `take`."""

    closed = False

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


class ArrowStream:
    """Arrow IPC stream bytes, a batch at a time (memory: one batch)."""

    def __init__(self, schema: pa.Schema):
        self.sink = _Pieces()
        self.writer = ipc.new_stream(pa.PythonFile(self.sink, mode="w"), schema)

    def write(self, batch: pa.RecordBatch) -> bytes:
        self.writer.write_batch(batch)
        return self.sink.take()

    def end(self) -> bytes:
        self.writer.close()
        return self.sink.take()
