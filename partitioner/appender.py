"""Appends to many files, off the critical path.

Why: at chunk order 7 one block of input touches ~12,000 files (chunks and their overlaps).
One write per file per block costs more syscalls than the data is worth, and creating that
many files can take seconds on a busy ext4 (journal), time the CPU would spend waiting. So
appends are held in memory (references to the blocks' output buffers, in order) and written
by one background thread once BUFFER_BYTES are pending (`end_block`); files are created by the
same thread as soon as their names are known (`prepare`), while the CPU works on the block.

Two ways to write:
- alone (`lock` False, the normal case: with -j > 1 the pool workers send their appends to
  the parent, which writes them alone, see partitioner/relay.py): appends are batches (one
  buffer, the bounds of each file's piece in it: `append_groups`) written by a compiled loop
  (kernels.write_groups) that holds no GIL, so a flush costs no Python per file. Files are
  appended to in whole 4 KiB blocks, the unaligned tail waiting for the file's next piece or
  close_all (ext4 zeroes the rest of a block when a write ends inside a new one: as costly as
  the copy itself, with a few KB per file per flush), and each file's CRC32 is computed as it
  is written (`crc32_of`), so the manifest's checksums need not read the output back.
- locked (`lock` True: the rejects file, or no zlib for the compiled loop): one `writev` per
  file per flush under an exclusive `flock`; no CRC here.

Row checksums (qserv/row_checksum.py, the manifest's `row_checksum`): the producer of the rows
sums the CRC-32 of each line of a CSV append before handing it over (`_line_sums`: in the
calling thread with -j 1, in the pool worker before the relay with -j > 1, the sums riding
with the pieces), and the sums are added up per file (`row_checksum_of`): they do not depend
on the order the bytes reach the file in, so the ingest can tell a torn or edited file.

Order: a file's pieces are written in the order they were appended (one queue, one thread);
the carries delay a file's last bytes but never reorder them, since a file is written by
the batch path or by the locked path (`lock`: the rejects file), never by both. What an
append's records are (`unit`: LINES, WHOLE or a size) matters only to the relay, which cuts
pool workers' appends into pieces (partitioner/relay.py).
Memory: about BUFFER_BYTES plus one block's output pending, and one flush being written;
`flush` waits while the previous one is written. An error in the thread (disk full) is raised
by the next flush / drain / close_all."""

from __future__ import annotations

import fcntl
import os
import queue
import threading

import numpy as np

from partitioner.constants import BLOCK
from partitioner import compiled
from qserv import crc

BUFFER_BYTES = 64 << 20
ALIGNED_FILES = 1 << 15     # files with a 4 KiB tail buffer (more files: unaligned appends)

# What a record of an append is, for pool workers' appends, which the relay may cut into
# pieces (partitioner/relay.py: a piece ends on a record boundary of every file it touches):
LINES = -1      # lines: CSV rows, cut after a newline
WHOLE = 0       # one record: a Parquet frame, CSV whose values may hold line breaks
# (a positive number: records of that many bytes, the binary index.part)


def _max_open() -> int:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 65536), hard))
        soft = min(want, 65536)
    except (ValueError, OSError):
        pass
    return max(64, soft - 512)


MAX_OPEN = _max_open()


class Named:
    """Files named by a template and integer ids, e.g. "<dir>/chunk_{}.csv" and a block's
    chunk ids: looked up as an array (a table per template), without making and hashing a
    string per file per block (~12,000 per block at chunk order 7, in each of several calls),
    and sent to the relay's writer as one array."""

    __slots__ = ("template", "ids")

    def __init__(self, template: str, ids: np.ndarray):
        self.template = template
        self.ids = np.asarray(ids, np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index) -> "Named":
        return Named(self.template, self.ids[index])

    def paths(self) -> list[str]:
        return [self.template.format(c) for c in self.ids.tolist()]


_TABLE_IDS = 1 << 22      # ids below this are looked up in a table per template


def paths_of(files) -> list[str]:
    """The paths of a list of paths or a Named."""
    return files.paths() if isinstance(files, Named) else files


def take(files, index):
    """The files at positions `index` (a list of paths or a Named)."""
    if isinstance(files, Named):
        return files.take(index)
    return [files[i] for i in np.asarray(index).tolist()]


class _Files:
    """Per-file state of the single-writer path, indexed by a file id (gid). Ids are handed
    out by the caller's thread (`gid`, `gids_of`); the arrays belong to the I/O thread."""

    def __init__(self):
        self.gids: dict[str, int] = {}
        self.paths: list[str] = []
        self.tables: dict[str, np.ndarray] = {}    # template -> gid by id (-1: none yet)
        self.fd_of = np.full(0, -1, np.int32)
        self.crc = np.zeros(0, np.uint64)
        self.carry_len = np.zeros(0, np.int64)
        self.carry = np.zeros((0, BLOCK), np.uint8)
        self.row_sum = np.zeros(0, np.uint64)     # the producer's row checksums (its thread)

    def add_row_sums(self, gids: np.ndarray, sums: np.ndarray) -> None:
        """Add each file's share of row checksums (modulo 2**64, as uint64 arithmetic wraps)."""
        top = int(gids.max()) + 1 if len(gids) else 0
        if len(self.row_sum) < top:
            self.row_sum = np.concatenate([self.row_sum, np.zeros(max(top, 2 * len(self.row_sum), 1024)
                                                                  - len(self.row_sum), np.uint64)])
        np.add.at(self.row_sum, gids, sums)

    def gid(self, path: str) -> int:
        g = self.gids.get(path)
        if g is None:
            g = self.gids[path] = len(self.paths)
            self.paths.append(path)
        return g

    def gids_of(self, files) -> np.ndarray:
        """File ids (int64) of a list of paths or a Named, new files registered."""
        if not isinstance(files, Named) or not len(files) or files.ids.min() < 0 \
                or files.ids.max() >= _TABLE_IDS:
            paths = paths_of(files)
            return np.fromiter((self.gid(p) for p in paths), np.int64, len(paths))
        table = self.tables.get(files.template)
        top = int(files.ids.max()) + 1
        if table is None or len(table) < top:
            bigger = np.full(max(top, 2 * len(table) if table is not None else 0), -1, np.int64)
            if table is not None:
                bigger[:len(table)] = table
            table = self.tables[files.template] = bigger
        gids = table[files.ids]
        missing = gids < 0
        if missing.any():
            for c in np.unique(files.ids[missing]).tolist():
                table[c] = self.gid(files.template.format(c))
            gids = table[files.ids]
        return gids

    def grow(self, n: int) -> None:
        """Room for file ids below n (I/O thread)."""
        have = len(self.fd_of)
        if n <= have:
            return
        n = max(n, 2 * have, 1024)
        pad = n - have
        self.fd_of = np.concatenate([self.fd_of, np.full(pad, -1, np.int32)])
        self.crc = np.concatenate([self.crc, np.zeros(pad, np.uint64)])
        self.carry_len = np.concatenate([self.carry_len, np.zeros(pad, np.int64)])
        if not len(self.carry):     # mapped once, never copied: untouched rows cost no RAM
            import mmap
            self.carry = np.frombuffer(mmap.mmap(-1, ALIGNED_FILES * BLOCK),
                                       np.uint8).reshape(ALIGNED_FILES, BLOCK)


class _State:
    def __init__(self):
        self.fds: dict[str, int] = {}          # used by the I/O thread only (and close, after drain)
        self.requested: set[str] = set()
        self.pending: dict[str, list] = {}     # shared files: path -> pieces
        self.batches: list = []                # files written alone: (gids, data, bounds)
        self.pending_bytes = 0
        self.files = _Files()
        self.shared: set[str] = set()          # paths written under lock
        self.queue: queue.Queue | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.in_flight = threading.Semaphore(1)   # flushes queued but not yet written


_s = _State()


def _reset_after_fork() -> None:
    global _s
    _s = _State()       # the parent's thread does not exist here; its fds are the parent's


os.register_at_fork(after_in_child=_reset_after_fork)


def _run(q: queue.Queue) -> None:
    while True:
        job = q.get()
        try:
            if job is None:
                return
            job()
        except BaseException as e:   # kept for the caller (raised by the next flush/drain)
            _s.error = e
        finally:
            q.task_done()


def _submit(job) -> None:
    if _s.thread is None or not _s.thread.is_alive():
        _s.queue = queue.Queue()
        _s.thread = threading.Thread(target=_run, args=(_s.queue,), name="appender", daemon=True)
        _s.thread.start()
    _s.queue.put(job)


def _check() -> None:
    if _s.error is not None:
        e, _s.error = _s.error, None
        raise e


_remote = None  # a pool worker's partitioner.relay.Relay: appends go to the parent (set_remote)


def set_remote(relay) -> None:
    """In a pool worker: send every append to the parent, which writes them alone."""
    global _remote
    _remote = relay


def _fd(key: str) -> int:
    fd = _s.fds.get(key)
    if fd is None:
        if len(_s.fds) >= MAX_OPEN:
            _close_fds()
        fd = _s.fds[key] = os.open(key, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    return fd


def prepare(paths) -> None:
    """Create (open) these files (paths, or a Named) in the background, ahead of their first
    write."""
    if _remote is not None:
        return                          # the parent creates and writes them
    if isinstance(paths, Named):
        before = len(_s.files.paths)
        gids = _s.files.gids_of(paths)
        paths = [_s.files.paths[g] for g in np.unique(gids[gids >= before]).tolist()]
    new = [str(p) for p in paths if str(p) not in _s.requested]
    if new:
        _s.requested.update(new)
        _submit(lambda: _s.error is None and [_fd(k) for k in new])


def append(path, data, lock: bool, unit: int = LINES) -> None:
    """Append `data` (bytes-like, kept by reference until written) to `path`; `unit`: what
    its records are (LINES, WHOLE, or their size in bytes)."""
    n = memoryview(data).nbytes
    if not n:
        return
    if _remote is not None:
        paths, bounds = [str(path)], np.array([0, n], np.int64)
        data = np.frombuffer(data, np.uint8)
        _remote.send(paths, data, bounds, unit, _line_sums(paths, data, bounds))
        return
    if lock or crc.address() is None:
        _s.pending.setdefault(str(path), []).append(data)
    else:
        gids, data, bounds = (np.array([_s.files.gid(str(path))], np.int64),
                              np.frombuffer(data, np.uint8), np.array([0, n], np.int64))
        sums = _line_sums([str(path)], data, bounds)
        if sums is not None:
            _s.files.add_row_sums(gids, sums)
        _s.batches.append((gids, data, bounds))
    _added(n)


def _line_sums(paths, data: np.ndarray, bounds: np.ndarray) -> np.ndarray | None:
    """The row checksum of each group of a CSV append (None for other files, or without a
    CRC-32 function: then the manifest has no row checksums)."""
    address = crc.address()
    template = paths.template if isinstance(paths, Named) else None
    if address is None or not (template.endswith(".csv") if template is not None
                               else all(str(p).endswith(".csv") for p in paths)):
        return None
    return compiled.line_sums(np.ascontiguousarray(data, np.uint8),
                              np.ascontiguousarray(bounds, np.int64), address)[0]


def append_groups(paths, data: np.ndarray, bounds: np.ndarray, lock: bool, unit: int = LINES) -> None:
    """Append data[bounds[i]:bounds[i+1]] (uint8, kept by reference) to file i of `paths`
    (a list of paths or a Named), for each i; `unit` as append's."""
    if _remote is not None:
        _remote.send(paths, data, bounds, unit, _line_sums(paths, data, bounds))
        return
    if lock or crc.address() is None:     # (no zlib to call: the Python path, read back)
        paths = paths_of(paths)
        view = memoryview(data)
        cuts = bounds.tolist()
        for i, path in enumerate(paths):
            if cuts[i + 1] > cuts[i]:
                _s.pending.setdefault(path, []).append(view[cuts[i]:cuts[i + 1]])
    else:
        gids, bounds = _s.files.gids_of(paths), np.ascontiguousarray(bounds, np.int64)
        sums = _line_sums(paths, data, bounds)
        if sums is not None:
            _s.files.add_row_sums(gids, sums)
        _s.batches.append((gids, data, bounds))
    _added(int(bounds[-1] - bounds[0]))


def _added(n: int) -> None:
    _s.pending_bytes += n
    if _s.pending_bytes >= 4 * BUFFER_BYTES:     # a block with very many overlap copies
        flush()


def end_block() -> None:
    """A block is done: hand its appends over once BUFFER_BYTES are pending. (At block
    boundaries, so that a flush holds whole blocks: at most one block's output is pending and
    one being written, whatever the input size.)"""
    if _s.pending_bytes >= BUFFER_BYTES:
        flush()


def flush(wait: bool = False, final: bool = False) -> None:
    """Hand the pending pieces to the I/O thread; with `wait`, return once all is written
    (with `final`, the files' waiting tails too)."""
    _check()
    if _s.pending or _s.batches:
        items, batches = list(_s.pending.items()), _s.batches
        _s.pending, _s.batches, _s.pending_bytes = {}, [], 0
        _s.in_flight.acquire()           # bounded memory: one flush written at a time

        def job():
            try:
                for gids, data, bounds in batches:
                    if _s.error is None:
                        _write_batch(gids, data, bounds)
                for key, pieces in items:
                    if _s.error is None:
                        _write_shared(_fd(key), pieces)
                        _s.shared.add(key)
            finally:
                _s.in_flight.release()
        _submit(job)
    if final:                 # after every queued job (the tails exist once they have run)
        _submit(_write_carries)
    if wait:
        drain()


def drain() -> None:
    """Wait until every queued job is done (raises the I/O thread's error, if any)."""
    if _s.queue is not None:
        _s.queue.join()
    _check()


def _open(gids: np.ndarray) -> None:
    """Make sure files `gids` are open (I/O thread)."""
    f = _s.files
    missing = gids[f.fd_of[gids] < 0]
    if not len(missing):
        return
    if len(_s.fds) + len(missing) > MAX_OPEN:
        _close_fds()
        missing = gids
    for g in np.unique(missing).tolist():
        f.fd_of[g] = _fd(f.paths[g])


def _failed(gid: int, data) -> None:
    """Surface the error of a failed write (kernels return no errno): write the same bytes
    from Python, which raises it; if that works, still fail (the file is now unknown)."""
    path = _s.files.paths[gid]
    os.write(_fd(path), bytes(data))
    raise OSError(f"writing {path} failed")


def _open_slices(gids: np.ndarray):
    """(start, part) over `gids` in slices of at most MAX_OPEN / 2 files, each part's files
    open (I/O thread)."""
    step = max(1, MAX_OPEN // 2)
    for s in range(0, len(gids), step):
        part = gids[s:s + step]
        _open(part)
        yield s, part


def _write_batch(gids: np.ndarray, data: np.ndarray, bounds: np.ndarray) -> None:
    f = _s.files
    f.grow(int(gids.max()) + 1)
    for s, part in _open_slices(gids):
        cut = bounds[s:s + len(part) + 1]
        bad = compiled.write_groups(f.fd_of, f.carry, f.carry_len, f.crc, part, data, cut, crc.address())
        if bad:
            _failed(int(part[bad - 1]), data[cut[bad - 1]:cut[bad]])


def _write_carries() -> None:
    f = _s.files
    if _s.error is not None or not len(f.carry_len):
        return
    for _, part in _open_slices(np.flatnonzero(f.carry_len).astype(np.int64)):
        bad = compiled.write_carries(f.fd_of, f.carry, f.carry_len, f.crc, part, crc.address())
        if bad:
            g = int(part[bad - 1])
            _failed(g, f.carry[g, :f.carry_len[g]])


def write_now(paths, data: np.ndarray, bounds: np.ndarray, sums: np.ndarray | None = None) -> None:
    """Append data[bounds[i]:bounds[i+1]] to paths[i] in the calling thread: the single-writer
    path, for the relay's writer in the parent (partitioner/relay.py), which is then the only
    thread touching these files and this state (the I/O thread idles until close_all).
    `sums`: the row checksums the producer computed for each group (see _line_sums)."""
    if crc.address() is None:   # no zlib in compiled code: plain writes, checksums read back
        paths = paths_of(paths)
        view, cuts = memoryview(data), np.asarray(bounds).tolist()
        for i, path in enumerate(paths):
            _write_shared(_fd(path), [view[cuts[i]:cuts[i + 1]]])
            _s.shared.add(path)
        return
    gids = _s.files.gids_of(paths)
    if sums is not None:
        _s.files.add_row_sums(gids, sums)
    if len(gids):
        _write_batch(gids, data, np.ascontiguousarray(bounds, np.int64))


def create_now(paths) -> None:
    """Create (open) these files in the calling thread (see write_now)."""
    for path in paths:
        _fd(str(path))


def crc32_of(path) -> int | None:
    """CRC32 of everything this process wrote to `path` alone (call after close_all), or
    None when unknown (written under lock, or not by this process)."""
    key = str(path)
    g = _s.files.gids.get(key)
    if g is None or key in _s.shared or g >= len(_s.files.crc):
        return None
    return int(_s.files.crc[g])


def row_checksum_of(path) -> int | None:
    """The row checksum of the CSV file `path` (qserv/row_checksum.py), summed from what its
    producers computed (call after close_all), or None when unknown (no CRC-32 function,
    written under lock, or not by this process)."""
    key = str(path)
    g = _s.files.gids.get(key)
    if g is None or key in _s.shared or crc.address() is None or not key.endswith(".csv"):
        return None
    return int(_s.files.row_sum[g]) if g < len(_s.files.row_sum) else 0


def forget_checksums() -> None:
    """A new run (the I/O thread idle): files of the same names start empty again."""
    _s.files = _Files()
    _s.shared.clear()


def _write_shared(fd: int, pieces: list) -> None:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        for i in range(0, len(pieces), 512):          # IOV_MAX is 1024 on Linux
            group = pieces[i:i + 512]
            total = sum(memoryview(p).nbytes for p in group)
            done = os.writev(fd, group)
            if done < total:                           # short write: finish the rest
                view = memoryview(b"".join(bytes(memoryview(p)) for p in group))[done:]
                while view:
                    view = view[os.write(fd, view):]
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _close_fds() -> None:
    for fd in _s.fds.values():
        os.close(fd)
    _s.fds.clear()
    _s.requested.clear()
    _s.files.fd_of[:] = -1


def close_all() -> None:
    """Write everything pending, wait for it, close the files."""
    try:
        flush(wait=True, final=True)
    finally:
        if _s.queue is not None:
            _s.queue.join()
        _close_fds()


def discard() -> None:
    """Drop pending pieces (a failed run), wait for the thread, close the files."""
    _s.pending, _s.batches, _s.pending_bytes = {}, [], 0
    if _s.queue is not None:
        _s.queue.join()
    _s.error = None
    _s.files.carry_len[:] = 0
    _close_fds()
