"""The partitioner end to end through its CLI (`qserv partition`), on real files: every input
row lands once in the chunk of its position (children: of their director), overlap files
follow the geometry, outputs are the same for -j 1 and -j 2, CSV/gzip/Parquet inputs agree,
bad rows stop the run naming the file and line or go to --rejects, --dry-run writes nothing."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from qserv.catalog import DatabaseSpec
from qserv.admin.cli import main
from qserv.admin.demo import generate
from qserv.geometry import Chunker

CASE01 = Path(__file__).resolve().parents[1] / "case01" / "case01.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("pdemo"), n_objects=3000, sources_per_object=3)


def run(*args) -> int:
    return main(["partition", "-q", *map(str, args)])


def read_rows(path: Path) -> list[list[str | None]]:
    """Rows of a partitioner CSV file (quoted values, bare NULL)."""
    out = []
    for line in path.read_text().splitlines():
        row = next(csv.reader(io.StringIO(line)))
        # csv loses the difference between "NULL" and NULL; the raw line keeps it
        raw = line.split(",")
        out.append([None if (r == "NULL") else v for v, r in zip(row, raw)] if "," not in "".join(row)
                   else row)
    return out


def chunk_files(table_dir: Path, overlap=False):
    pat = "chunk_*_overlap.csv" if overlap else "chunk_*[0-9].csv"
    return sorted(table_dir.glob(pat))


def test_every_row_once_in_its_chunk(demo, tmp_path):
    out = tmp_path / "out"
    assert run("-c", demo, "-o", out) == 0
    m = json.loads((out / "manifest.json").read_text())
    spec = DatabaseSpec.read(demo)
    chunker = Chunker(spec.chunk_order, spec.subchunk_bits)
    objects = pacsv.read_csv(demo.parent / "Object.csv")
    assert m["tables"]["Object"]["rows"] == objects.num_rows == m["tables"]["Object"]["rows_out"]
    seen = {}
    for f in chunk_files(out / "Object"):
        cid = int(f.stem.split("_")[1])
        for row in read_rows(f):
            oid, ra, dec, c, s = int(row[0]), float(row[1]), float(row[2]), int(row[-2]), int(row[-1])
            assert c == cid and oid not in seen
            ec, es = chunker.locate(ra, dec)
            assert (c, s) == (int(ec), int(es))
            seen[oid] = (c, s)
    assert sorted(seen) == sorted(objects["objectId"].to_pylist())
    # manifest: per-chunk counts and checksums, input files and their rows
    total = sum(e["rows"] for e in m["tables"]["Object"]["chunks"].values())
    assert total == objects.num_rows
    assert m["tables"]["Object"]["inputs"][0]["rows"] == objects.num_rows
    assert all(e["checksum"].startswith("crc32:") for e in m["tables"]["Object"]["chunks"].values() if e["rows"])
    # the director index file: every object, with its chunk and sub-chunk
    index = read_rows(out / "Object" / "index.csv")
    assert {int(r[0]): (int(r[1]), int(r[2])) for r in index} == seen
    # children in the chunk of their director, every one of them once
    sources = pacsv.read_csv(demo.parent / "Source.csv")
    n = 0
    for f in chunk_files(out / "Source"):
        for row in read_rows(f):
            assert seen[int(row[1])] == (int(row[-2]), int(row[-1]))
            n += 1
    assert n == sources.num_rows == m["tables"]["Source"]["rows_out"]
    assert not chunk_files(out / "Source", overlap=True)
    # replicated: one file, as is
    assert len(read_rows(out / "Filter" / "Filter.csv")) == 6


def test_overlap_files_hold_every_close_neighbour(demo, tmp_path):
    """Brute force on the demo: for every pair of Objects closer than the overlap in different
    chunks, each is in the other's chunk overlap file; overlap rows keep their own chunkId."""
    out = tmp_path / "out"
    assert run("-c", demo, "-o", out, "--overlap", 0.2) == 0
    rows = {}
    for f in chunk_files(out / "Object"):
        for r in read_rows(f):
            rows[int(r[0])] = (float(r[1]), float(r[2]), int(r[-2]))
    overlap = set()
    for f in chunk_files(out / "Object", overlap=True):
        target = int(f.stem.split("_")[1])
        for r in read_rows(f):
            assert int(r[-2]) == rows[int(r[0])][2] != target
            overlap.add((int(r[0]), target))
    ids = np.array(sorted(rows))
    ra = np.radians([rows[i][0] for i in ids])
    dec = np.radians([rows[i][1] for i in ids])
    chunk = np.array([rows[i][2] for i in ids])
    v = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=1)
    cos_r = np.cos(np.radians(0.2))
    close = 0
    for i in range(len(ids)):
        near = np.flatnonzero((v @ v[i] > cos_r) & (chunk != chunk[i]))
        for j in near:
            close += 1
            assert (int(ids[i]), int(chunk[j])) in overlap
    assert close > 0


def test_parallel_output_equals_serial(demo, tmp_path):
    assert run("-c", demo, "-o", tmp_path / "a") == 0
    assert run("-c", demo, "-o", tmp_path / "b", "-j", 2, "--piece-mb", 1) == 0
    for table in ("Object", "Source"):
        for pattern in ("chunk_*.csv",):
            a = {f.name: sorted(f.read_text().splitlines()) for f in (tmp_path / "a" / table).glob(pattern)}
            b = {f.name: sorted(f.read_text().splitlines()) for f in (tmp_path / "b" / table).glob(pattern)}
            assert a == b
    # -j 2: the parent wrote every file alone (partitioner/relay.py) and knows their CRCs
    import json
    import zlib
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    checked = 0
    for table, entry in manifest["tables"].items():
        for c in entry.get("chunks", {}).values():
            for key, crc_key in (("file", "checksum"), ("overlap_file", "overlap_checksum")):
                if key in c:
                    data = (tmp_path / "b" / c[key]).read_bytes()
                    assert c[crc_key] == f"crc32:{zlib.crc32(data):08x}"
                    checked += 1
    assert checked > 10


def test_gzip_and_parquet_inputs_and_parquet_output(demo, tmp_path):
    src = demo.parent
    gz = tmp_path / "Object.csv.gz"
    with open(src / "Object.csv", "rb") as f, gzip.open(gz, "wb") as g:
        shutil.copyfileobj(f, g)
    objects = pacsv.read_csv(src / "Object.csv")
    pq.write_table(objects, tmp_path / "Object.parquet", row_group_size=700)
    common = ["--table", "Object", "--ra", "ra", "--dec", "decl", "--key", "objectId", "--chunk-order", 5]
    assert run(*common, "-o", tmp_path / "csv", src / "Object.csv") == 0
    assert run(*common, "-o", tmp_path / "gz", gz) == 0
    assert run(*common, "-o", tmp_path / "pq", tmp_path / "Object.parquet", "-j", 2, "--piece-mb", 1,
               "--format", "parquet") == 0

    def hist(d):
        return {c: e["rows"] for c, e in json.loads((d / "manifest.json").read_text())
                ["tables"]["Object"]["chunks"].items()}
    assert hist(tmp_path / "csv") == hist(tmp_path / "gz") == hist(tmp_path / "pq")
    assert (tmp_path / "csv" / "Object").exists()
    got = pa.concat_tables([pq.read_table(f) for f in (tmp_path / "pq" / "Object").glob("chunk_*[0-9].parquet")])
    assert sorted(got["objectId"].to_pylist()) == sorted(objects["objectId"].to_pylist())
    assert got.column_names[-2:] == ["chunkId", "subChunkId"]


def _bad_inputs(tmp_path: Path) -> Path:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "Obj.csv").write_text("id,ra,dec\n1,10,20\n2,10,95\n3,10\n4,,5\n5,1,1\n")
    (d / "Src.csv").write_text("sid,id\n10,1\n11,2\n12,5\n13,77\n")
    spec = {"name": "bad", "chunk_order": 3, "tables": [
        {"name": "Obj", "role": "director", "ra": "ra", "dec": "dec", "director_key": "id",
         "data": ["Obj.csv"], "columns": [{"name": c, "type": "DOUBLE"} for c in ("id", "ra", "dec")]},
        {"name": "Src", "role": "child", "director_table": "Obj", "director_key": "id",
         "data": ["Src.csv"], "columns": [{"name": c, "type": "BIGINT"} for c in ("sid", "id")]}]}
    (d / "spec.json").write_text(json.dumps(spec))
    return d


def test_bad_rows_stop_the_run_with_file_and_line(tmp_path, capsys):
    d = _bad_inputs(tmp_path)
    assert run("-c", d / "spec.json", "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    # the first problem met: line 4 lacks a field (found while parsing, before line 3's dec 95)
    assert "Obj.csv" in err and "line 4" in err and "malformed" in err and "--rejects" in err
    (tmp_path / "bad" / "Obj.csv").write_text("id,ra,dec\n1,10,20\n2,10,95\n")
    assert run("-c", tmp_path / "bad" / "spec.json", "-o", tmp_path / "out", "--force") == 1
    err = capsys.readouterr().err
    assert "Obj.csv, line 3" in err and "out of range" in err


def test_rejects_file(tmp_path):
    d = _bad_inputs(tmp_path)
    rejects = tmp_path / "rejects.tsv"
    assert run("-c", d / "spec.json", "-o", tmp_path / "out", "--rejects", rejects) == 0
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert (m["tables"]["Obj"]["rows"], m["tables"]["Obj"]["rows_out"], m["tables"]["Obj"]["rejected"]) == (5, 2, 3)
    # sources of rejected objects have no director any more
    assert (m["tables"]["Src"]["rows_out"], m["tables"]["Src"]["rejected"]) == (2, 2)
    lines = [ln.split("\t") for ln in rejects.read_text().splitlines()]
    assert len(lines) == 5
    by_line = {(t, ln): reason for t, _, ln, reason, _ in lines}
    assert "out of range" in by_line[("Obj", "3")]          # dec 95
    assert "malformed" in by_line[("Obj", "4")]             # missing field
    assert "out of range" in by_line[("Obj", "5")]          # empty ra
    assert "no Obj row" in by_line[("Src", "3")] and "no Obj row" in by_line[("Src", "5")]


def test_dry_run_prints_histogram_and_writes_nothing(demo, tmp_path, capsys):
    out = tmp_path / "never"
    assert run("-c", demo, "-o", out, "--dry-run") == 0
    text = capsys.readouterr().out
    assert "chunkId" in text and "#" in text and "Object (director): 3,000 rows in" in text
    assert not out.exists()


def test_non_empty_output_needs_force(demo, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "x").write_text("x")
    assert run("-c", demo, "-o", out) == 1
    assert run("-c", demo, "-o", out, "--force") == 0 and not (out / "x").exists()


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["partition", "--help"])
    text = capsys.readouterr().out
    for opt in ("--config", "--out", "--jobs", "--format", "--rejects", "--dry-run", "--chunk-order",
                "--subchunk-bits", "--overlap", "--delimiter", "--no-header", "--null", "--quote",
                "--escape", "--director-index", "--piece-mb"):
        assert opt in text


def test_case01_partitions(tmp_path):
    """Qserv's own case01 (mysqldump --tab files: tabs, \\N, backslash escapes, binary blobs)."""
    if not CASE01.exists() or not (CASE01.parent / "../../../shared/qserv-itest/case01/data").exists():
        pytest.skip("case01 data not present")
    out = tmp_path / "c1"
    assert run("-c", CASE01, "-o", out) == 0
    m = json.loads((out / "manifest.json").read_text())
    counts = {t: (e["rows"], e["rows_out"], e["rejected"]) for t, e in m["tables"].items()}
    assert counts == {"Object": (88, 88, 0), "Source": (3339, 3339, 0), "Filter": (9, 9, 0),
                      "LeapSeconds": (38, 38, 0), "Logs": (1000, 1000, 0),
                      "RefSrcMatch": (3344, 3344, 0), "Science_Ccd_Exposure": (3304, 3304, 0),
                      "SimRefObject": (3314, 3314, 0), "sdqa_Metric": (53, 53, 0)}
    assert m["tables"]["Source"]["placed_by_position"] == 36
    assert m["tables"]["Object"]["overlap_rows"] > 0
