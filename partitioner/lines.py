"""Rows as lines: the input's own bytes go to the output whenever that is safe.

Output rule (per row, the same whichever path a block takes, so -j and block sizes never change
a file's content): a row is written *plain*, its values joined by ',' exactly as read, when no
value is NULL, empty, the word NULL, or holds one of , " CR LF; otherwise *quoted*: every value
in double quotes (quotes doubled), NULL as bare NULL. Both read back the same values with
qserv.catalog.LOAD_FORMAT (FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY '').

Fast path (`fast_block`): for a block of whole lines of a splittable CSV (no multi-line values)
whose bytes hold no quote, CR, NULL token, the word NULL (nor ',' when the delimiter is another
character), every row is plain, so a row's output is its line (delimiter turned into ','). Only
the director key and ra/dec are parsed (one compiled pass: partitioner/kernels.py). Any doubt (field
count, empty field, a value that does not parse, a position out of range, a child whose director
is missing) sends the block to the general path (pyarrow parse, `base_lines`), which applies
the same rule row by row and reports bad rows with file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from partitioner import readers
from partitioner.constants import POW10, SUSPECTS
from partitioner.dialect import CsvDialect
from partitioner.emit import pieces_array
from partitioner import compiled

_UNSAFE = [b",", b'"', b"\r", b"\n"]


def raw_blocks(task: readers.Task, dialect: CsvDialect, block_bytes: int):
    """Blocks of whole lines of a splittable CSV task, header line dropped, each ending with a
    newline: read-only memoryviews of the mapped file for a plain file (mapped_blocks),
    bytearrays read from the stream for a gzip'd one."""
    path = Path(task.path)
    if not readers.is_gzip(path):
        yield from mapped_blocks(task, dialect, block_bytes)
        return
    stream = readers.open_stream(task, dialect)
    skip_header = dialect.header and task.start == 0
    carry = b""
    try:
        while True:
            buf = bytearray(len(carry) + block_bytes)     # read in place: no copies of the block
            buf[:len(carry)] = carry
            got = _read_into(stream, memoryview(buf)[len(carry):])
            if not got:
                break
            if got < block_bytes:
                del buf[len(carry) + got:]
            if skip_header:
                nl = buf.find(b"\n")
                if nl < 0:
                    carry = bytes(buf)
                    continue
                del buf[:nl + 1]
                skip_header = False
            end = buf.rfind(b"\n") + 1
            if end == 0:
                carry = bytes(buf)
                continue
            carry = bytes(buf[end:])
            del buf[end:]
            yield buf
        if carry and not skip_header:
            yield carry + b"\n"
    finally:
        stream.close()


def mapped_blocks(task: readers.Task, dialect: CsvDialect, block_bytes: int):
    """raw_blocks of a plain file: each block a memoryview of a read-only mapping of its bytes
    (unmapped once nothing refers to it any more), so the input is never copied.

    Why: reading 32 MB blocks into fresh buffers cost a copy out of the page cache and a page
    fault per 4 KiB of the buffer, 0.5-0.7 s per 10M-row run on the main thread; the pages of
    a mapping are the page cache's own. Only a final line without its newline is copied (to
    add one). The file must not shrink while it is read (as for any reader of a mapped file,
    the kernel would stop the process)."""
    import mmap
    import os
    path = Path(task.path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        end = size if task.end < 0 else min(task.end, size)
        pos = task.start
        if dialect.header and task.start == 0:
            pos = len(f.readline())           # the header's length (the mapping uses the fd)
        if end - pos <= block_bytes + (block_bytes >> 2):
            block_bytes = max(1, end - pos)   # one block for a task a little over the block size
        grain = mmap.ALLOCATIONGRANULARITY
        while pos < end:
            stop = min(end, pos + block_bytes)
            while True:
                base = pos - pos % grain      # a mapping starts on a page boundary
                mapped = mmap.mmap(f.fileno(), stop - base, prot=mmap.PROT_READ, offset=base)
                cut = stop - base if stop == end else mapped.rfind(b"\n", pos - base) + 1
                if cut > 0:
                    break
                stop = min(end, stop + block_bytes)    # a line longer than a block
            block = memoryview(mapped)[pos - base:cut]
            pos = base + cut
            if block[-1] != 10:                        # the file's last line has no newline
                block = memoryview(bytes(block) + b"\n")
            yield block


def _read_into(stream, view: memoryview) -> int:
    """Fill `view` from `stream` (fewer bytes only at the end of the stream)."""
    done = 0
    while done < len(view):
        n = stream.readinto(view[done:]) if hasattr(stream, "readinto") else None
        if n is None:
            data = stream.read(len(view) - done)
            n = len(data)
            view[done:done + n] = data
        if not n:
            break
        done += n
    return done


@dataclass
class FastBlock:
    buf: np.ndarray        # uint8: the block, its delimiter turned into ','
    starts: np.ndarray     # line i is buf[starts[i]:ends[i]] (ends[i]: its newline)
    ends: np.ndarray
    n: int
    values: dict           # column name -> numpy array (parsed ra/dec/key)
    source: bytes          # the block as read (for the general path, if it must take over)

    @property
    def lines(self) -> pa.Array:
        """The lines as a binary array: line i (no newline) is value 2*i."""
        n = self.n
        off = np.empty(2 * n + 1, np.int64)
        off[0:2 * n:2] = self.starts
        off[1:2 * n:2] = self.ends
        off[2 * n] = len(self.buf)
        return pieces_array(pa.py_buffer(self.buf), off)


def fast_block(buf, dialect: CsvDialect, names: list[str], want: dict) -> FastBlock | None:
    """Parse only the columns of `want` (name -> float or int) of a block of lines (bytes-like)
    whose file columns are `names`; None when the block needs the general path (see module
    doc)."""
    if dialect.escape or not len(buf):
        return None
    arr = np.frombuffer(buf, np.uint8)
    delim = dialect.delimiter.encode()
    tokens = [b"\r", b'"', b"NULL"] + [t.encode() for t in dialect.null_values() if t]
    if dialect.quote:
        tokens.append(dialect.quote.encode())
    tokens = list(dict.fromkeys(tokens))
    source = buf
    if delim != b",":     # before the delimiter becomes ','
        if compiled.contains(arr, np.frombuffer(b",", np.uint8)):
            return None
        arr = np.frombuffer(bytes(buf).replace(delim, b","), np.uint8)
        tokens = [t.replace(delim, b",") for t in tokens]
    # the first bytes of up to SUSPECTS tokens are looked for by the scan itself, the others'
    # tokens before it; a token is looked for in full only when its first byte occurs
    firsts = list(dict.fromkeys(t[:1] for t in tokens))
    scanned, before = firsts[:SUSPECTS], firsts[SUSPECTS:]
    for token in tokens:
        if token[:1] in before and compiled.contains(arr, np.frombuffer(token, np.uint8)):
            return None
    suspects = np.frombuffer(b"".join(scanned[i % len(scanned)] for i in range(SUSPECTS)), np.uint8)
    cols = np.array([names.index(name) for name in want], np.int64)
    floats = np.array([kind is float for kind in want.values()], np.bool_)
    status, starts, ends, fstart, fend, parsed, parsed_ok, suspect = compiled.scan_lines(
        arr, len(names), cols, floats, POW10, suspects, _line_capacity(arr))
    if status == 3:      # more lines than the sample suggested: count them
        status, starts, ends, fstart, fend, parsed, parsed_ok, suspect = compiled.scan_lines(
            arr, len(names), cols, floats, POW10, suspects, -1)
    if status or not len(starts):
        return None
    if suspect:
        for token in tokens:
            if token[:1] in scanned and compiled.contains(arr, np.frombuffer(token, np.uint8)):
                return None
    values = {}
    for j, (name, kind) in enumerate(want.items()):
        vals, ok = (parsed[j] if kind is float else parsed[j].view(np.int64)), parsed_ok[j]
        if not ok.all():     # forms the compiled parser leaves to pyarrow (its cast decides)
            bad = np.flatnonzero(~ok)
            try:
                vals[bad] = _parse(pa.py_buffer(arr), fstart[j][bad], fend[j][bad], kind)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
        values[name] = vals
    return FastBlock(arr, starts, ends, len(starts), values, source)


def _line_capacity(arr: np.ndarray, sample: int = 1 << 16) -> int:
    """Room for the lines of a block, from the newlines in its first `sample` bytes (with 25%
    to spare): kernels.scan_lines then needs no counting pass first, and says when a block
    holds more lines than this (it is then scanned again with an exact count)."""
    head = arr[:sample]
    if not len(head):
        return 0
    return int(len(arr) * int(np.count_nonzero(head == 10)) / len(head) * 1.25) + 256


def _parse(data: pa.Buffer, start: np.ndarray, end: np.ndarray, kind) -> np.ndarray:
    """Values data[start[i]:end[i]] as float64 or int64 (the general path's cast: pc.cast of
    the text), raising ArrowInvalid when one does not parse."""
    n = len(start)
    off = np.empty(2 * n + 1, np.int64)
    off[0:2 * n:2] = start
    off[1:2 * n:2] = end
    off[2 * n] = end[-1]
    small = off[-1] < (1 << 31) - 1
    texts = pa.Array.from_buffers(pa.string() if small else pa.large_string(), 2 * n,
                                  [None, pa.py_buffer(off.astype(np.int32) if small else off), data])
    texts = texts.take(pa.array(np.arange(0, 2 * n, 2, dtype=np.int32 if small else np.int64)))
    import pyarrow.compute as pc     # the general path only (imported when needed)
    out = pc.cast(texts, pa.float64() if kind is float else pa.int64())
    return out.to_numpy()


def base_lines(table: pa.Table) -> pa.Array:
    """General path: each row's output line (no newline) by the rule of the module doc, for a
    table of raw-byte (binary) columns."""
    import pyarrow.compute as pc
    cols = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in table.columns]
    cols = [c.cast(pa.large_binary()) for c in cols]
    n = table.num_rows
    if not cols:
        return pa.array([b""] * n, pa.large_binary())
    plain_ok = np.ones(n, bool)
    for c in cols:
        bad = pc.is_null(c)
        bad = pc.or_(bad, pc.equal(pc.binary_length(c), 0))
        bad = pc.or_(bad, pc.equal(c, pa.scalar(b"NULL", pa.large_binary())))
        for ch in _UNSAFE:
            bad = pc.or_(bad, pc.match_substring(c, ch.decode()))
        plain_ok &= ~np.asarray(bad.fill_null(True).to_numpy(zero_copy_only=False), bool)
    sep = pa.scalar(b",", pa.large_binary())
    if plain_ok.all():
        return pc.binary_join_element_wise(*cols, sep)
    q = pa.scalar(b'"', pa.large_binary())
    empty = pa.scalar(b"", pa.large_binary())
    quoted = [pc.fill_null(pc.binary_join_element_wise(
        q, pc.replace_substring(c, '"', '""'), q, empty), pa.scalar(b"NULL", pa.large_binary()))
        for c in cols]
    plain = pc.binary_join_element_wise(*[c.fill_null(b"") for c in cols], sep)
    return pc.if_else(pa.array(plain_ok), plain, pc.binary_join_element_wise(*quoted, sep))
