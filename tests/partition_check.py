"""A content checker for `qserv partition` output, independent of the partitioner's code.

It reads the output directory and its manifest.json with pyarrow, zlib and plain Python only
(no module of partitioner/), from what the formats promise, not from how the partitioner
writes them:

- every line of every chunk, overlap, index and replicated file has the table's number of
  fields (the table's columns, plus chunkId and subChunkId for partitioned tables) and parses
  as its column types (qserv.catalog.LOAD_FORMAT: ',' between fields, '"' around values,
  bare NULL); NOT NULL columns hold no NULL;
- each file's row count and CRC32 equal the manifest's, and so does its row checksum when the
  manifest has one (the sum mod 2**64 of the CRC32 of each line, newline included);
- no CSV file on disk is missing from the manifest, and none the manifest names is missing;
- primary rows: the multiset of input rows (parsed with the table's input dialect) equals the
  multiset of rows of the chunk files without their last two fields; every row of
  chunk_<c>.csv has chunkId c, every overlap row of chunk_<c>_overlap.csv another chunk's id;
- overlap rows are copies (ids included) of primary rows;
- the director index: the multiset of (key, chunkId, subChunkId) equals the director's
  primary rows' one.

`check(out_dir)` returns counts of what it looked at and raises PartitionCheckError listing the
first problems found. Values are compared as text (what LOAD DATA receives), NULL apart."""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

NULL = "\x00"            # a NULL in a row's canonical text
SEP = "\x1f"             # between the values of a row's canonical text
MAX_PROBLEMS = 20


class PartitionCheckError(AssertionError):
    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass
class Stats:
    files: int = 0
    lines: int = 0
    input_rows: int = 0
    primary_rows: int = 0
    overlap_rows: int = 0
    index_rows: int = 0
    row_checksums: int = 0          # files whose manifest row checksum was recomputed
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text)


def arrow_type(sql_type: str) -> pa.DataType:
    """The pyarrow type a MariaDB column type's text must parse as."""
    t = sql_type.strip().upper()
    for prefix, typ in (("BIGINT", pa.int64()), ("TINYINT", pa.int8()), ("SMALLINT", pa.int16()),
                        ("MEDIUMINT", pa.int32()), ("INT", pa.int32()), ("INTEGER", pa.int32()),
                        ("DOUBLE", pa.float64()), ("FLOAT", pa.float32()), ("REAL", pa.float64())):
        if t.startswith(prefix):
            if "UNSIGNED" in t:
                return {8: pa.uint8(), 16: pa.uint16(), 32: pa.uint32(), 64: pa.uint64()}[typ.bit_width]
            return typ
    return pa.string()


def nullable(sql_type: str) -> bool:
    return "NOT NULL" not in sql_type.upper()


def field_counts(data: bytes) -> np.ndarray:
    """Fields of each line (LOAD_FORMAT: quoted values may hold commas; no line breaks in
    values): commas + 1 by numpy, lines holding a quote again with Python's csv module."""
    import csv
    raw = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(raw == 10)
    if not len(ends):
        return np.zeros(0, np.int64)
    starts = np.concatenate([[0], ends[:-1] + 1])
    commas = np.concatenate([[0], np.cumsum(raw == 44)])
    quotes = np.concatenate([[0], np.cumsum(raw == 34)])
    counts = commas[ends] - commas[starts] + 1
    for i in np.flatnonzero(quotes[ends] - quotes[starts]).tolist():
        line = data[starts[i]:ends[i]].decode("utf-8", "replace")
        counts[i] = len(next(csv.reader([line]), []))
    return counts


def _read_output(data: bytes, names: list[str]) -> tuple[pa.Table | None, list[str]]:
    """The file's rows as strings (NULL as null), and the problems pyarrow reported with
    their line numbers (wrong field counts, bad quoting)."""
    bad: list[str] = []

    def handler(row):
        number = row.number
        if number is None:                   # (pyarrow counts lines only when asked to)
            at = data.find(row.text.encode())
            number = data.count(b"\n", 0, at) + 1 if at >= 0 else "?"
        bad.append(f"line {number}: {row.actual_columns} fields, expected "
                   f"{row.expected_columns}: {row.text[:120]!r}")
        return "skip"
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, block_size=max(1 << 20, len(data) + 1)),
            parse_options=pacsv.ParseOptions(delimiter=",", quote_char='"', double_quote=True,
                                             escape_char=False, newlines_in_values=False,
                                             invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, null_values=["NULL"],
                strings_can_be_null=True, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as e:
        return None, bad + [f"unreadable: {e}"]
    return table, bad


def _read_input(path: Path, names: list[str], file_names: list[str], csv: dict) -> pa.Table:
    """An input file's rows as strings of the table's columns (NULL as null)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        t = pq.read_table(path, columns=names)
        return pa.table({n: pc.cast(t[n], pa.string()) for n in names})
    header = csv.get("header", True)
    null = csv.get("null", ["\\N"])
    quote = csv.get("quote", '"')
    escape = csv.get("escape")
    t = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=None if header else file_names,
                                       autogenerate_column_names=False),
        parse_options=pacsv.ParseOptions(delimiter=csv.get("delimiter", ","),
                                         quote_char=quote if quote else False,
                                         escape_char=escape or False,
                                         newlines_in_values=bool(csv.get("newlines_in_values"))),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, include_columns=names,
            null_values=[null] if isinstance(null, str) else list(null),
            strings_can_be_null=True, quoted_strings_can_be_null=False))
    return t


def canonical(table: pa.Table, names: list[str]) -> pa.Array:
    """One text per row: the values joined by SEP, NULL as NULL (a binary array)."""
    if table.num_rows == 0:
        return pa.array([], pa.large_string())
    cols = [pc.fill_null(table[n].cast(pa.large_string()), NULL) for n in names]
    sep = pa.scalar(SEP, pa.large_string())
    return pc.binary_join_element_wise(*cols, sep).combine_chunks()


def _multiset_diff(a: pa.Array, b: pa.Array, limit: int = 3) -> list[str]:
    """Up to `limit` rows whose count differs between a and b (empty: same multiset)."""
    if len(a) == len(b):
        sa = a.take(pc.sort_indices(a))
        sb = b.take(pc.sort_indices(b))
        if pc.all(pc.equal(sa, sb)).as_py() is not False:
            return []
    ca = {r["values"]: r["counts"] for r in pc.value_counts(a).to_pylist()}
    cb = {r["values"]: r["counts"] for r in pc.value_counts(b).to_pylist()}
    out = []
    for v in set(ca) | set(cb):
        if ca.get(v, 0) != cb.get(v, 0):
            out.append(f"{v.replace(SEP, ',').replace(NULL, 'NULL')!r}: {ca.get(v, 0)} vs {cb.get(v, 0)}")
            if len(out) >= limit:
                break
    return out


def row_checksum(data: bytes) -> int:
    """Sum mod 2**64 of the CRC32 of each line (newline included)."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return sum(map(zlib.crc32, lines)) % (1 << 64)


class _Table:
    def __init__(self, out: Path, name: str, entry: dict, spec_table: dict, bits: int, stats: Stats):
        self.out, self.name, self.entry, self.stats = out, name, entry, stats
        self.columns = [c["name"] for c in spec_table["columns"]]
        self.types = {c["name"]: c["type"] for c in spec_table["columns"]}
        self.partitioned = entry["role"] != "replicated"
        self.names = self.columns + (["chunkId", "subChunkId"] if self.partitioned else [])
        self.types.update({"chunkId": "INT NOT NULL", "subChunkId": "INT NOT NULL"})
        self.n_subs = 4 ** bits

    def file(self, rel: str, rows: int, crc: str | None, rsum: str | None,
             names: list[str] | None = None) -> pa.Table | None:
        """Check one output file; its rows (strings) or None when unreadable."""
        names = names or self.names
        path = self.out / rel
        st = self.stats
        st.files += 1
        if not path.exists():
            st.problem(f"{rel}: named by the manifest, missing on disk")
            return None
        data = path.read_bytes()
        lines = data.count(b"\n")
        st.lines += lines
        if data and not data.endswith(b"\n"):
            st.problem(f"{rel}: does not end with a newline (truncated?)")
        if lines != rows:
            st.problem(f"{rel}: {lines} lines, the manifest says {rows} rows")
        if crc is not None and crc != f"crc32:{zlib.crc32(data):08x}":
            st.problem(f"{rel}: CRC32 crc32:{zlib.crc32(data):08x}, the manifest says {crc}")
        if rsum is not None:
            st.row_checksums += 1
            got = f"crc32sum:{row_checksum(data):016x}"
            if got != rsum:
                st.problem(f"{rel}: row checksum {got}, the manifest says {rsum}")
        counts = field_counts(data)
        wrong = np.flatnonzero(counts != len(names))
        for i in wrong[:3].tolist():
            line = data.split(b"\n", i + 1)[i]
            st.problem(f"{rel}: line {i + 1}: {counts[i]} fields, expected {len(names)}: {line[:120]!r}")
        table, bad = _read_output(data, names)
        for b in bad[:3]:
            st.problem(f"{rel}: {b}")
        if table is None:
            return None
        if table.num_rows != lines:
            st.problem(f"{rel}: {table.num_rows} rows parsed from {lines} lines (a value "
                       "swallowed line breaks: an open quote?)")
        for n in names:
            self._types(rel, table, n)
        return table

    def _types(self, rel: str, table: pa.Table, n: str) -> None:
        col = table[n]
        typ = arrow_type(self.types[n])
        if col.null_count and not nullable(self.types[n]):
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            self.stats.problem(f"{rel}: line {row + 1}: NULL in NOT NULL column {n}")
        if typ == pa.string():
            return
        try:
            pc.cast(col, typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            for i, v in enumerate(col.to_pylist()):
                try:
                    pc.cast(pa.array([v], pa.string()), typ)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    self.stats.problem(f"{rel}: line {i + 1}: column {n} ({self.types[n]}): {v!r}")
                    return

    def ids(self, rel: str, table: pa.Table, chunk: int, overlap: bool) -> None:
        cid = pc.cast(table["chunkId"], pa.int64(), safe=False).to_numpy(zero_copy_only=False)
        sub = pc.cast(table["subChunkId"], pa.int64(), safe=False).to_numpy(zero_copy_only=False)
        wrong = (cid == chunk) if overlap else (cid != chunk)
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            self.stats.problem(f"{rel}: line {i + 1}: chunkId {cid[i]}"
                               + (" is the overlap's own chunk" if overlap else f", not {chunk}"))
        out = (sub < 0) | (sub >= self.n_subs)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            self.stats.problem(f"{rel}: line {i + 1}: subChunkId {sub[i]} out of range")


def _csv_on_disk(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("*.csv")} if directory.exists() else set()


def check(out_dir: str | Path) -> Stats:
    """Check a partitioner output directory (see the module doc). Returns what was looked at;
    raises PartitionCheckError with the first problems found."""
    out = Path(out_dir)
    m = json.loads((out / "manifest.json").read_text())
    if m.get("format", "csv") != "csv":
        raise PartitionCheckError(f"{out}: only CSV output is checked (format {m.get('format')})")
    stats = Stats()
    spec_tables = {t["name"]: t for t in m["spec"]["tables"]}
    bits = int(m["subchunk_bits"])
    directors: dict[str, tuple[pa.Array, str]] = {}
    for name, entry in m["tables"].items():
        t = _Table(out, name, entry, spec_tables[name], bits, stats)
        listed: set[str] = set()
        primary: list[pa.Table] = []
        overlap: list[pa.Array] = []
        if not t.partitioned:
            listed.add(Path(entry["file"]).name)
            table = t.file(entry["file"], entry["rows_out"], entry.get("checksum"), entry.get("row_checksum"))
            if table is not None:
                primary.append(table)
        for c, e in sorted(entry.get("chunks", {}).items(), key=lambda kv: int(kv[0])):
            for key, rows, crc, rsum, is_overlap in (("file", "rows", "checksum", "row_checksum", False),
                                                     ("overlap_file", "overlap_rows", "overlap_checksum",
                                                      "overlap_row_checksum", True)):
                if not e.get(key):
                    if e.get(rows):
                        stats.problem(f"{name} chunk {c}: {e[rows]} {rows} but no {key}")
                    continue
                listed.add(Path(e[key]).name)
                table = t.file(e[key], e[rows], e.get(crc), e.get(rsum))
                if table is None:
                    continue
                t.ids(e[key], table, int(c), is_overlap)
                if is_overlap:
                    stats.overlap_rows += table.num_rows
                    overlap.append(canonical(table, t.names))
                else:
                    primary.append(table)
        if entry.get("index"):
            idx = entry["index"]
            listed.add(Path(idx["file"]).name)
            key = entry["director_key"]
            t.types[key] = t.types.get(key, "BIGINT NOT NULL")
            itable = t.file(idx["file"], idx["rows"], idx.get("checksum"), idx.get("row_checksum"),
                            names=[key, "chunkId", "subChunkId"])
            if itable is not None:
                stats.index_rows += itable.num_rows
                directors[name] = (canonical(itable, [key, "chunkId", "subChunkId"]), key)
        extra = _csv_on_disk(out / name) - listed
        if extra:
            stats.problem(f"{name}: files not in the manifest: {sorted(extra)[:5]}")
        rows = pa.concat_tables(primary) if primary else None
        n_primary = rows.num_rows if rows is not None else 0
        stats.primary_rows += n_primary
        if n_primary != entry["rows_out"]:
            stats.problem(f"{name}: {n_primary} primary rows, the manifest says {entry['rows_out']}")
        # input rows == primary rows without the chunk columns
        inputs = []
        for inp in entry["inputs"]:
            inputs.append(_read_input(Path(inp["path"]), t.columns, t.columns,
                                      spec_tables[name].get("csv") or {}))
        given = pa.concat_tables(inputs) if inputs else pa.table({n: pa.array([], pa.string()) for n in t.columns})
        stats.input_rows += given.num_rows
        if rows is not None:
            if entry.get("rejected"):
                stats.problem(f"{name}: {entry['rejected']} rejected rows: not supported by this checker")
            diff = _multiset_diff(canonical(given, t.columns), canonical(rows, t.columns))
            for d in diff:
                stats.problem(f"{name}: input rows and chunk rows differ: {d} (input vs chunks)")
            if overlap and t.partitioned:
                full = canonical(rows, t.names)
                ov = pa.concat_arrays([o.cast(pa.large_string()) for o in overlap])
                missing = pc.invert(pc.is_in(ov, value_set=full))
                if pc.any(missing).as_py():
                    first = ov.filter(missing)[0].as_py()
                    stats.problem(f"{name}: {pc.sum(missing).as_py()} overlap rows are no primary row, "
                                  f"e.g. {first.replace(SEP, ',').replace(NULL, 'NULL')!r}")
            if name in directors:
                idx, key = directors[name]
                for d in _multiset_diff(idx, canonical(rows, [key, "chunkId", "subChunkId"])):
                    stats.problem(f"{name}: index and chunk rows differ: {d} (index vs chunks)")
    if stats.problems:
        more = len(stats.problems) - MAX_PROBLEMS
        raise PartitionCheckError(f"{out}: {len(stats.problems)} problems:\n  "
                                  + "\n  ".join(stats.problems[:MAX_PROBLEMS])
                                  + (f"\n  ... and {more} more" if more > 0 else ""), stats.problems)
    return stats
