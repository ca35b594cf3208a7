"""Appends to many files, off the critical path.

Why: at chunk order 7 one block of input touches ~12,000 files (chunks and their overlaps).
One locked write per file per block costs more syscalls than the data is worth, and creating
that many files can take seconds on a busy ext4 (journal), time the CPU would spend waiting.
So appends are held in memory (references to the blocks' output buffers, per file, in order)
and written by one background thread, one `writev` per file per flush (`end_block`: once
BUFFER_BYTES are pending); files are created by the same thread as soon as their names are
known (`prepare`), while the CPU works on the block.

Order: a file's pieces are written in the order they were appended (one queue, one thread).
Several processes may append to the same file: each writev holds an exclusive `flock` when
`lock` was asked for, so pieces never interleave. Memory: about BUFFER_BYTES plus one block's
output pending, and one flush being written; `flush` waits while the previous one is written.
An error in the thread (disk full) is raised by the next flush / drain / close_all.

Block-aligned appends: a file written by this process alone (no `lock`) is appended to in
whole 4 KiB blocks; the unaligned tail waits (copied) for the file's next write or close_all.
ext4 zeroes the rest of a block when a write ends inside a new one: with ~12,000 files and a
few KB per file per flush, that zeroing cost as much as the copy itself.

Checksums: a file written only by this process (no `lock`) gets its CRC32 computed piece by
piece as it is written (`crc32_of`), so the manifest's checksums need not read the output
back; a file appended to under `lock` (several processes) has none here."""

from __future__ import annotations

import fcntl
import os
import queue
import random
import threading
import zlib

BUFFER_BYTES = 64 << 20


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


class _State:
    def __init__(self):
        self.fds: dict[str, int] = {}          # used by the I/O thread only (and close, after drain)
        self.requested: set[str] = set()
        self.pending: dict[str, list] = {}
        self.pending_bytes = 0
        self.lock = False
        self.queue: queue.Queue | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.in_flight = threading.Semaphore(1)   # flushes queued but not yet written
        self.crc: dict[str, int] = {}              # path -> CRC32 of all it was sent (no lock)
        self.shared: set[str] = set()              # paths written under lock: no CRC here
        self.sizes: dict[str, int] = {}            # path -> bytes written (I/O thread)
        self.carry: dict[str, bytes] = {}          # path -> unaligned tail not yet written


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


_gate = None    # an Event the I/O thread waits for before its first open (see set_gate)


def set_gate(event) -> None:
    """Open no file before `event` is set (a pool worker: the parent is creating them)."""
    global _gate
    _gate = event


def _fd(key: str) -> int:
    global _gate
    fd = _s.fds.get(key)
    if fd is None:
        if _gate is not None:
            _gate.wait()
            _gate = None
        if len(_s.fds) >= MAX_OPEN:
            _close_fds()
        fd = _s.fds[key] = os.open(key, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    return fd


def prepare(paths) -> None:
    """Create (open) these files in the background, ahead of their first write."""
    new = [str(p) for p in paths if str(p) not in _s.requested]
    if new:
        _s.requested.update(new)
        _submit(lambda: _s.error is None and [_fd(k) for k in new])


def append(path, data, lock: bool) -> None:
    """Append `data` (bytes-like, kept by reference until written) to `path`."""
    n = memoryview(data).nbytes
    if not n:
        return
    _s.pending.setdefault(str(path), []).append(data)
    _s.pending_bytes += n
    _s.lock = _s.lock or lock
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
    (with `final`, the unaligned tails too)."""
    _check()
    if _s.pending:
        items, lock = list(_s.pending.items()), _s.lock
        _s.pending, _s.pending_bytes, _s.lock = {}, 0, False
        if lock and len(items) > 1:   # other processes write the same files: start elsewhere
            k = random.randrange(len(items))      # than they do (no convoy on locks/inodes)
            items = items[k:] + items[:k]
        _s.in_flight.acquire()           # bounded memory: one flush written at a time

        def job():
            try:
                for key, pieces in items:
                    if _s.error is None:
                        _write_aligned(key, pieces, lock)
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


_BLOCK = 4096


def _write_aligned(key: str, pieces: list, lock: bool) -> None:
    """Append pieces (after the file's waiting tail); alone on the file, only up to a block
    boundary of the file, the rest waits (see module doc)."""
    head = _s.carry.pop(key, None)
    if head is not None:
        pieces = [head] + pieces
    if not lock and key not in _s.shared:
        size = _s.sizes.get(key, 0)
        total = sum(memoryview(p).nbytes for p in pieces)
        keep = (size + total) % _BLOCK
        if keep:
            tail, cut = [], keep
            while cut:
                last = memoryview(pieces.pop())
                if last.nbytes > cut:
                    tail.append(last[last.nbytes - cut:])
                    pieces.append(last[:last.nbytes - cut])
                    cut = 0
                else:
                    tail.append(last)
                    cut -= last.nbytes
            _s.carry[key] = b"".join(reversed(tail))
        _s.sizes[key] = size + total - keep
        if not pieces:
            return
    _write(_fd(key), pieces, lock)
    _follow_crc(key, pieces, lock)


def _write_carries() -> None:
    while _s.carry and _s.error is None:
        key, tail = _s.carry.popitem()
        _write(_fd(key), [tail], False)
        _follow_crc(key, [tail], False)
        _s.sizes[key] = _s.sizes.get(key, 0) + len(tail)


def _follow_crc(key: str, pieces: list, lock: bool) -> None:
    if lock or key in _s.shared:
        _s.shared.add(key)
        _s.crc.pop(key, None)
        return
    crc = _s.crc.get(key, 0)
    for p in pieces:
        crc = zlib.crc32(p, crc)
    _s.crc[key] = crc


def crc32_of(path) -> int | None:
    """CRC32 of everything this process wrote to `path` (call after close_all), or None when
    unknown (written under lock, or not by this process)."""
    return _s.crc.get(str(path))


def forget_checksums() -> None:
    """A new run: files of the same names start empty again."""
    _s.crc.clear()
    _s.shared.clear()
    _s.sizes.clear()


def _write(fd: int, pieces: list, lock: bool) -> None:
    if lock:
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
        if lock:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _close_fds() -> None:
    for fd in _s.fds.values():
        os.close(fd)
    _s.fds.clear()
    _s.requested.clear()


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
    _s.pending, _s.pending_bytes, _s.lock = {}, 0, False
    if _s.queue is not None:
        _s.queue.join()
    _s.error = None
    _s.carry.clear()
    _close_fds()
