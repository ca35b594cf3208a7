"""Every byte of `qserv partition` output, checked by tests/partition_check.py (which uses none
of the partitioner's code), for -j 1, -j 2 and -j 4 at sizes where the relay's slots and the
input's blocks wrap many times.

The -j > 1 runs force the worst interleaving the relay allows instead of waiting for a quiet
machine to produce it: QSERV_RELAY_SLOT_BYTES makes slots small (a block's output is cut into
many pieces) and QSERV_RELAY_INTERLEAVE makes the parent's writer put pieces of other sends
between the pieces of each send (partitioner/relay.py). Issue 14: with pieces cut at fixed
byte offsets, rows were torn across chunk files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qserv.admin.cli import main
from qserv.admin.demo import generate
from tests.partition_check import PartitionCheckError, check


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    # ~2.3 MB of Object and ~7 MB of Source rows: several 1 MiB blocks per table, about 40
    # 64 KiB relay slots per block's output; NULLs and quoted values take the general path
    return generate(tmp_path_factory.mktemp("content"), n_objects=30_000, sources_per_object=3)


@pytest.fixture(scope="module")
def serial(catalog, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "out"
    assert main(["partition", "-q", "-c", str(catalog), "-o", str(out), "--piece-mb", "1"]) == 0
    return out


def partition(catalog, out: Path, jobs: int, monkeypatch) -> Path:
    monkeypatch.setenv("QSERV_RELAY_SLOT_BYTES", str(64 << 10))
    monkeypatch.setenv("QSERV_RELAY_INTERLEAVE", "1")
    assert main(["partition", "-q", "-c", str(catalog), "-o", str(out), "-j", str(jobs),
                 "--piece-mb", "1"]) == 0
    return out


def test_serial_output_is_whole(serial):
    stats = check(serial)
    assert stats.input_rows == stats.primary_rows > 100_000
    assert stats.overlap_rows > 0 and stats.index_rows == 30_000
    assert stats.row_checksums == stats.files > 800        # every file's, recomputed


@pytest.mark.parametrize("jobs", [2, 4])
def test_parallel_output_is_whole_with_pieces_interleaved(catalog, tmp_path, monkeypatch, jobs):
    out = partition(catalog, tmp_path / "out", jobs, monkeypatch)
    stats = check(out)
    assert stats.input_rows == stats.primary_rows > 100_000
    assert stats.overlap_rows > 0 and stats.index_rows == 30_000
    assert stats.row_checksums == stats.files > 800


def test_a_torn_output_does_not_match_its_own_manifest(catalog, tmp_path, monkeypatch):
    """The old cutting put back (fixed byte offsets): rows are torn, every file's CRC32 (of
    the bytes as written) still matches the manifest, the row checksums the producers
    computed do not, and the ingest's check refuses the output."""
    import zlib

    from partitioner import relay
    from qserv.verify import CorruptFile, check_output
    monkeypatch.setattr(relay, "cut", lambda data, bounds, start, limit, unit: limit)
    out = partition(catalog, tmp_path / "out", 2, monkeypatch)
    with pytest.raises(PartitionCheckError, match="fields, expected"):
        check(out)
    m = json.loads((out / "manifest.json").read_text())
    for e in m["tables"]["Source"]["chunks"].values():
        assert e["checksum"] == f"crc32:{zlib.crc32((out / e['file']).read_bytes()):08x}"
    with pytest.raises(CorruptFile, match="rows do not match the manifest"):
        check_output(out / "manifest.json")


# ---- the checker finds what it is meant to find ---------------------------------------------
def _copy(serial: Path, tmp_path: Path) -> tuple[Path, dict]:
    out = tmp_path / "copy"
    shutil.copytree(serial, out)
    return out, json.loads((out / "manifest.json").read_text())


def _biggest(m: dict, table: str, key: str = "file") -> str:
    chunks = m["tables"][table]["chunks"].values()
    return max((e for e in chunks if e.get(key)), key=lambda e: e["rows"])[key]


def test_checker_finds_a_torn_row(serial, tmp_path):
    """The issue's shape: a line's head, other whole lines, its tail later (same bytes, same
    newline count); the manifest's CRC and counts rewritten to match, as the writer did."""
    out, m = _copy(serial, tmp_path)
    rel = _biggest(m, "Source")
    data = (out / rel).read_bytes()
    lines = data.splitlines(keepends=True)
    head, tail = lines[0][:10], lines[0][10:]
    torn = head + b"".join(lines[1:4]) + tail + b"".join(lines[4:])
    assert len(torn) == len(data) and torn.count(b"\n") == data.count(b"\n")
    (out / rel).write_bytes(torn)
    _rewrite_crc(out, m, rel, torn)
    with pytest.raises(PartitionCheckError, match=r"fields, expected 10"):
        check(out)


def test_checker_finds_an_edited_value_a_lost_row_and_a_moved_row(serial, tmp_path):
    out, m = _copy(serial, tmp_path)
    rel = _biggest(m, "Object")
    lines = (out / rel).read_bytes().splitlines(keepends=True)
    first = lines[0].split(b",")
    first[1] = b"abc"                                       # ra is a DOUBLE
    edited = b",".join(first) + b"".join(lines[1:])
    (out / rel).write_bytes(edited)
    _rewrite_crc(out, m, rel, edited)
    with pytest.raises(PartitionCheckError, match=r"column ra \(DOUBLE NOT NULL\): 'abc'"):
        check(out)

    out, m = _copy(serial, tmp_path / "b")
    rel = _biggest(m, "Source")
    data = (out / rel).read_bytes()
    (out / rel).write_bytes(data[:data.rindex(b"\n", 0, len(data) - 1) + 1])   # last row lost
    with pytest.raises(PartitionCheckError, match=r"lines, the manifest says"):
        check(out)

    out, m = _copy(serial, tmp_path / "c")           # a row moved to another chunk's file,
    entries = sorted((e for e in m["tables"]["Source"]["chunks"].values() if e.get("file")),
                     key=lambda e: -e["rows"])        # counts and CRCs rewritten
    a, b = entries[0]["file"], entries[1]["file"]
    la = (out / a).read_bytes().splitlines(keepends=True)
    lb = (out / b).read_bytes().splitlines(keepends=True)
    (out / a).write_bytes(b"".join(la[1:] + lb[:1]))
    (out / b).write_bytes(b"".join(lb[1:] + la[:1]))
    _rewrite_crc(out, m, a, (out / a).read_bytes())
    _rewrite_crc(out, m, b, (out / b).read_bytes())
    with pytest.raises(PartitionCheckError, match=r"chunkId \d+, not \d+"):
        check(out)


def test_checker_finds_a_changed_overlap_row_and_index(serial, tmp_path):
    out, m = _copy(serial, tmp_path)
    rel = _biggest(m, "Object", "overlap_file")
    lines = (out / rel).read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b",", b",9", 1)           # objectId changed: no such row
    (out / rel).write_bytes(b"".join(lines))
    _rewrite_crc(out, m, rel, b"".join(lines))
    with pytest.raises(PartitionCheckError, match=r"overlap rows are no primary row"):
        check(out)

    out, m = _copy(serial, tmp_path / "b")
    idx = out / "Object" / "index.csv"
    lines = idx.read_bytes().splitlines(keepends=True)
    key, chunk, sub = lines[0].rstrip(b"\n").split(b",")
    lines[0] = b",".join([key, chunk, b"%d" % ((int(sub) + 1) % 64)]) + b"\n"
    idx.write_bytes(b"".join(lines))
    with pytest.raises(PartitionCheckError, match=r"index and chunk rows differ"):
        check(out)


def _rewrite_crc(out: Path, m: dict, rel: str, data: bytes) -> None:
    """Make the manifest agree with a changed file (its CRC32 and line count), as the writer
    would have: the checks left are the content's."""
    import zlib
    for t in m["tables"].values():
        for e in t.get("chunks", {}).values():
            for key, rows, crc in (("file", "rows", "checksum"), ("overlap_file", "overlap_rows",
                                                                  "overlap_checksum")):
                if e.get(key) == rel:
                    e[crc] = f"crc32:{zlib.crc32(data):08x}"
                    e[rows] = data.count(b"\n")
                    e.pop("row_checksum" if key == "file" else "overlap_row_checksum", None)
    (out / "manifest.json").write_text(json.dumps(m))
