"""Before the ingest loads a partitioner output: every CSV file it names, checked against
its manifest.json, so a torn, truncated or edited file stops the ingest with its name and
its first bad line, instead of failing in LOAD DATA (three times: the same bad file is
retried) or, worse, loading rows that were never in the input.

A file matches when its line count is the manifest's row count and its row checksum
(qserv/row_checksum.py: the sum of its lines' CRC-32, computed by the partitioner's row
producers before the bytes reached the file) is the manifest's `row_checksum`. Manifests
without row checksums (written before them) get the line count checked only. One pass of
compiled code over each file (~7 GB/s here, on threads: the loop holds no GIL); only a file
that fails is parsed, in Python, to name its first line with the wrong number of fields or a
value that is not of its column's type (LOAD_FORMAT: ',' between fields, '"' around values,
bare NULL)."""

from __future__ import annotations

import csv
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from qserv import row_checksum


class CorruptFile(Exception):
    """A file does not match the manifest (the message names it and says how)."""


@dataclass
class Expected:
    path: Path
    name: str                      # as the manifest names it (relative to its directory)
    rows: int
    checksum: str | None           # "crc32sum:..." or None (an older manifest)
    columns: list[tuple[str, str]]  # (name, MariaDB type) of each field, in order


def expected_files(manifest_path: str | Path) -> list[Expected]:
    """Every CSV file of a partitioner output, with what its manifest says of it."""
    from qserv.catalog import DatabaseSpec
    path = Path(manifest_path)
    m = json.loads(path.read_text())
    if m.get("format", "csv") != "csv":
        return []
    base = path.parent
    spec = DatabaseSpec.from_json(json.dumps(m["spec"]))
    ids = [("chunkId", "INT NOT NULL"), ("subChunkId", "INT NOT NULL")]
    out = []
    for name, entry in m["tables"].items():
        table = spec.table(name)
        types = {c.name: c.type for c in table.columns}
        columns = [(c, types.get(c, "INT NOT NULL")) for c in entry.get("columns") or types]
        if entry.get("file"):
            rows = entry.get("rows_out", int(entry["rows"]) - int(entry.get("rejected", 0)))
            out.append(Expected(base / entry["file"], entry["file"], int(rows),
                                entry.get("row_checksum"), columns))
        for e in entry.get("chunks", {}).values():
            for key, rows, checksum in (("file", "rows", "row_checksum"),
                                        ("overlap_file", "overlap_rows", "overlap_row_checksum")):
                if e.get(key):
                    out.append(Expected(base / e[key], e[key], int(e[rows]), e.get(checksum), columns))
        index = entry.get("index")
        if index and str(index.get("file", "")).endswith(".csv"):
            index_key = entry.get("director_key") or table.director_key or ""
            out.append(Expected(base / index["file"], index["file"], int(index["rows"]),
                                index.get("row_checksum"),
                                [(index_key, types.get(index_key, "BIGINT"))] + ids))
    return out


def check_output(manifest_path: str | Path, threads: int = 2) -> int:
    """Check every CSV file of a partitioner output against its manifest; returns how many
    were checked, or raises CorruptFile for the first one (in manifest order) that does not
    match."""
    files = expected_files(manifest_path)
    with ThreadPoolExecutor(max(1, threads)) as pool:
        problems = list(pool.map(_problem, files))
    for e, problem in zip(files, problems):
        if problem:
            raise CorruptFile(f"{e.path}: {problem}")
    return len(files)


def check_file(e: Expected) -> None:
    problem = _problem(e)
    if problem:
        raise CorruptFile(f"{e.path}: {problem}")


def _problem(e: Expected) -> str | None:
    try:
        data = e.path.read_bytes()
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    sums, lines = row_checksum.sums(data)
    got, n = row_checksum.text(int(sums[0])), int(lines[0])
    whole = (e.checksum is None or got == e.checksum) and (not data or data.endswith(b"\n"))
    if whole and (n == e.rows or (n > e.rows and records(data) == e.rows)):
        return None         # (more lines than rows: values holding line breaks, inside quotes)
    if n != e.rows:
        what = f"{n} lines where the manifest says {e.rows} rows"
    elif not data.endswith(b"\n"):
        what = "its last line has no newline (truncated?)"
    else:
        what = (f"its rows do not match the manifest (row checksum {got}, the manifest's "
                f"{e.checksum}): rows were torn, changed or moved after the partitioner made them")
    return f"{what}; {first_bad_line(data, e.columns) or 'every line has the right fields and types'}"


def records(data: bytes) -> int:
    """The rows of a CSV file in LOAD_FORMAT, counted as LOAD DATA reads them: a line break
    inside a quoted value does not end a row (the original's case01 has such values)."""
    return sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline="")))


_INT = re.compile(r"[+-]?\d+")
_INT_TYPES = ("BIGINT", "INT", "INTEGER", "MEDIUMINT", "SMALLINT", "TINYINT")
_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")


def first_bad_line(data: bytes, columns: list[tuple[str, str]]) -> str | None:
    """"line N: ..." for the first line whose field count or a value's type is wrong, or None.
    (The error path only: Python's csv module, line by line.)"""
    kinds = [_kind(t) for _, t in columns]
    for number, raw in enumerate(row_checksum.lines_of(data), 1):
        line = raw.rstrip(b"\n")
        text = line.decode("utf-8", "replace")
        fields = next(csv.reader([text]), [])
        shown = text if len(text) <= 160 else text[:160] + "..."
        if len(fields) != len(columns):
            return f"line {number} has {len(fields)} fields, expected {len(columns)}: {shown!r}"
        bare = _bare_fields(line)
        for (name, sql_type), kind, value, is_bare in zip(columns, kinds, fields, bare):
            if is_bare and value == "NULL":
                if "NOT NULL" in sql_type.upper():
                    return f"line {number}: NULL in column {name} ({sql_type}): {shown!r}"
                continue
            if kind is int and not _INT.fullmatch(value.strip()):
                return f"line {number}: column {name} ({sql_type}): {value[:40]!r} is not an integer"
            if kind is float:
                try:
                    float(value)
                except ValueError:
                    return f"line {number}: column {name} ({sql_type}): {value[:40]!r} is not a number"
    return None


def _kind(sql_type: str):
    t = sql_type.strip().upper()
    if t.startswith(_INT_TYPES):
        return int
    if t.startswith(_FLOAT_TYPES):
        return float
    return str


def _bare_fields(line: bytes) -> list[bool]:
    """For each field of the line: is it unquoted (a bare NULL is NULL, "NULL" a string)?"""
    out, i, n = [], 0, len(line)
    while True:
        if i < n and line[i:i + 1] == b'"':
            out.append(False)
            i += 1
            while i < n:
                if line[i:i + 1] == b'"':
                    if line[i + 1:i + 2] == b'"':
                        i += 2
                        continue
                    i += 1
                    break
                i += 1
        else:
            out.append(True)
        j = line.find(b",", i)
        if j < 0:
            return out
        i = j + 1
