"""Readers: split inputs into tasks (byte ranges of CSV files cut at line breaks, whole gzip
or multi-line-value files, Parquet row groups) and read a task as pyarrow blocks.

CSV values are read as raw bytes (pa.binary(): no UTF-8 check, nothing re-formatted), so the
output carries each value exactly as the input wrote it (after CSV quoting/escaping)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from partitioner.dialect import CsvDialect, unescape_mysql

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


@dataclass
class Task:
    """A piece of one input file: CSV bytes [start, end) (end -1: to the end of the file;
    the whole decompressed stream for gzip), or Parquet row groups."""
    table: str
    path: str
    index: int            # position of this piece in its file (0, 1, ...)
    start: int = 0
    end: int = -1
    row_groups: tuple[int, ...] | None = None
    nbytes: int = 0       # input bytes this task consumes (for progress)


def plan_tasks(table: str, paths: list[Path], dialect: CsvDialect, piece_bytes: int) -> list[Task]:
    tasks = []
    for path in paths:
        size = path.stat().st_size
        if is_parquet(path):
            import pyarrow.parquet as pq     # (imported when needed: ~0.1 s, with ssl)
            f = pq.ParquetFile(path)
            groups, acc, n = [], 0, 0
            meta = f.metadata
            for g in range(meta.num_row_groups):
                groups.append(g)
                acc += meta.row_group(g).total_byte_size
                if acc >= piece_bytes:
                    tasks.append(Task(table, str(path), n, row_groups=tuple(groups), nbytes=acc))
                    groups, acc, n = [], 0, n + 1
            if groups or not tasks or tasks[-1].path != str(path):
                tasks.append(Task(table, str(path), n, row_groups=tuple(groups), nbytes=acc))
            # nbytes of Parquet is uncompressed; scale to the file size for MB/s
            mine = [t for t in tasks if t.path == str(path)]
            total = sum(t.nbytes for t in mine) or 1
            for t in mine:
                t.nbytes = int(size * t.nbytes / total)
            continue
        if is_gzip(path) or not dialect.splittable or size <= piece_bytes:
            tasks.append(Task(table, str(path), 0, 0, -1, nbytes=size))
            continue
        cuts = [0]
        with open(path, "rb") as f:
            pos = piece_bytes
            while pos < size:
                f.seek(pos)
                while True:
                    buf = f.read(1 << 16)
                    if not buf:
                        pos = size
                        break
                    nl = buf.find(b"\n")
                    if nl >= 0:
                        pos += nl + 1
                        break
                    pos += len(buf)
                if pos < size:
                    cuts.append(pos)
                pos += piece_bytes
        cuts.append(size)
        for i in range(len(cuts) - 1):
            tasks.append(Task(table, str(path), i, cuts[i], cuts[i + 1], nbytes=cuts[i + 1] - cuts[i]))
    return tasks


def read_header(path: Path, dialect: CsvDialect) -> list[str]:
    """Column names from a file's first line."""
    import gzip
    with (gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")) as f:
        line = f.readline()
    return pacsv.read_csv(io.BytesIO(line), parse_options=_parse_options(dialect)).schema.names


class _Range(io.RawIOBase):
    """Bytes [start, end) of a file, optionally rewritten by `transform` piece by piece."""

    def __init__(self, path: str, start: int, end: int, transform=None):
        self.f = open(path, "rb")
        self.f.seek(start)
        self.left = (end - start) if end >= 0 else None
        self.transform = transform
        self.pending = b""
        self.carry = b""

    def readable(self):
        return True

    def _fill(self, n: int) -> None:
        while len(self.pending) < n:
            want = max(n, 8 << 20)
            if self.left is not None:
                want = min(want, self.left)
            data = self.f.read(want) if want else b""
            if self.left is not None:
                self.left -= len(data)
            if not data:
                self.pending += self.transform(self.carry) if self.transform else self.carry
                self.carry = b""
                return
            if self.transform:
                data = self.carry + data
                # never cut an escape sequence: hold back an odd run of trailing backslashes
                run = len(data) - len(data.rstrip(b"\\"))
                self.carry = data[-1:] if run % 2 else b""
                data = data[:-1] if run % 2 else data
                data = self.transform(data)
            self.pending += data

    def readinto(self, b):
        self._fill(len(b))
        n = min(len(b), len(self.pending))
        b[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def close(self):
        self.f.close()
        super().close()


def _parse_options(dialect: CsvDialect, handler=None) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(
        delimiter=dialect.delimiter,
        quote_char=dialect.quote if dialect.quote else False,
        escape_char="\\" if dialect.escape else False,
        newlines_in_values=dialect.newlines_in_values or bool(dialect.escape),
        invalid_row_handler=handler)


def open_stream(task: Task, dialect: CsvDialect):
    path = Path(task.path)
    transform = unescape_mysql if dialect.escape else None
    if is_gzip(path):
        raw = pa.input_stream(task.path, compression="gzip")
        if transform is None:
            return raw
        return _Transformed(raw, transform)
    if transform is None and task.start == 0 and task.end < 0:
        return pa.input_stream(task.path)
    return _Range(task.path, task.start, task.end, transform)


class _Transformed(_Range):
    def __init__(self, stream, transform):
        self.f = stream
        self.left = None
        self.transform = transform
        self.pending = b""
        self.carry = b""


def read_csv_blocks(task: Task, dialect: CsvDialect, names: list[str], columns: list[str],
                    block_bytes: int, handler):
    """pa.Table blocks of `columns` (raw bytes) from a CSV task; `names` are the file's
    columns (from its header or the spec). Rows pyarrow cannot split go to `handler`."""
    skip = 1 if (dialect.header and task.start == 0) else 0
    reader = pacsv.open_csv(
        open_stream(task, dialect),
        read_options=pacsv.ReadOptions(block_size=block_bytes, column_names=names, skip_rows=skip,
                                       use_threads=False),
        parse_options=_parse_options(dialect, handler),
        convert_options=_convert_options(dialect, names, columns))
    for batch in reader:
        yield pa.Table.from_batches([batch])


def _convert_options(dialect: CsvDialect, names: list[str], columns: list[str]):
    """Values stay raw bytes (the chunking parses what it needs); the dialect's NULL tokens
    become nulls, quoted values never do; the same for block reads and buffer reads."""
    return pacsv.ConvertOptions(column_types={c: pa.binary() for c in names}, include_columns=columns,
                                null_values=dialect.null_values(), strings_can_be_null=True,
                                quoted_strings_can_be_null=False)


def read_csv_buffer(buf: bytes, dialect: CsvDialect, names: list[str], columns: list[str],
                    handler) -> pa.Table:
    """A block of whole lines (no header) as a pa.Table of `columns` (raw bytes), the same
    conversion as read_csv_blocks."""
    return pacsv.read_csv(
        pa.py_buffer(buf),
        read_options=pacsv.ReadOptions(block_size=max(1 << 20, len(buf) + 1), column_names=names,
                                       use_threads=False),
        parse_options=_parse_options(dialect, handler),
        convert_options=_convert_options(dialect, names, columns))


def read_parquet_blocks(task: Task, columns: list[str], block_rows: int):
    import pyarrow.parquet as pq
    f = pq.ParquetFile(task.path)
    for batch in f.iter_batches(batch_size=block_rows, row_groups=list(task.row_groups or ()),
                                columns=columns):
        yield pa.Table.from_batches([batch])


def count_lines_before(path: str, offset: int) -> int:
    n = 0
    with open(path, "rb") as f:
        left = offset
        while left > 0:
            buf = f.read(min(left, 16 << 20))
            if not buf:
                break
            n += buf.count(b"\n")
            left -= len(buf)
    return n


def file_size(path: str) -> int:
    return os.stat(path).st_size
