"""The line path of the partitioner (partitioner/lines.py): a row's output is its input line
plus ",chunkId,subChunkId" when that reads back the same (plain), else every value quoted; the
choice depends on the row alone, so block sizes and -j never change a file's content, and
both forms load as the same values with qserv.catalog.LOAD_FORMAT."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyarrow as pa

from partitioner import lines
from partitioner.dialect import CsvDialect
from qserv.admin.cli import main
from qserv.geometry import Chunker

NAMES = ["id", "ra", "dec", "note"]


def _load_format_values(line: str) -> list[str | None]:
    """Values as LOAD DATA ... FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''
    reads them: quotes stripped (doubled quotes inside), the bare word NULL is NULL."""
    row = next(csv.reader(io.StringIO(line)))
    raw = line.split(",")
    return [None if r == "NULL" else v for v, r in zip(row, raw)] if len(raw) == len(row) else row


def test_fast_block_declines_what_it_cannot_pass_through():
    d = CsvDialect(header=False)
    want = {"id": int, "ra": float, "dec": float}
    ok = lines.fast_block(b"1,10.5,-3.25,x\n2,11,4,y z\n", d, NAMES, want)
    assert ok is not None and ok.n == 2
    assert ok.values["id"].tolist() == [1, 2] and ok.values["ra"].tolist() == [10.5, 11.0]
    assert [ok.lines[2 * i].as_py() for i in range(2)] == [b"1,10.5,-3.25,x", b"2,11,4,y z"]
    for bad in (b'1,10,3,"q"\n', b"1,10,3,NULL\n", b"1,10,3,\\N\n", b"1,10,3\n",
                b"1,10,3,x\r\n", b"1,x,3,a\n", b"1.5,10,3,a\n", b"1,10,3,a,b\n", b"1,10,3,a\n\n"):
        assert lines.fast_block(bad, d, NAMES, want) is None, bad
    tsv = lines.fast_block(b"1\t10\t3\ta b\n", CsvDialect(delimiter="\t", header=False), NAMES, want)
    assert tsv.lines[0].as_py() == b"1,10,3,a b"
    assert lines.fast_block(b"1\t10\t3\ta,b\n", CsvDialect(delimiter="\t", header=False), NAMES, want) is None


def test_general_path_applies_the_same_rule_row_by_row():
    t = pa.table({"id": pa.array([b"1", b"2", b"3", b"4", b"5"], pa.binary()),
                  "note": pa.array([b"plain", b'say "hi"', None, b"NULL", b"a,b"], pa.binary())})
    got = [v.as_py() for v in lines.base_lines(t)]
    assert got == [b"1,plain", b'"2","say ""hi"""', b'"3",NULL', b'"4","NULL"', b'"5","a,b"']
    assert [_load_format_values(x.decode()) for x in got] == [
        ["1", "plain"], ["2", 'say "hi"'], ["3", None], ["4", "NULL"], ["5", "a,b"]]


def test_output_does_not_depend_on_blocks_or_jobs(tmp_path):
    """Mixed rows (plain ones and ones needing quotes) in blocks of different sizes: the same
    lines in every chunk file, and each line reads back as the input row plus its ids."""
    rng = np.random.default_rng(5)
    n = 60000
    ra, dec = rng.uniform(0, 40, n), rng.uniform(-20, 20, n)
    notes = ["x", 'q"uote', "\\N", "NULL", "a,b", "", "sp ace"]
    src = tmp_path / "Obj.csv"
    with open(src, "w") as f:
        f.write("id,ra,dec,note\n")
        for i in range(n):
            note = notes[i % len(notes)] if i % 500 < 10 else "v"
            if '"' in note or "," in note:
                note = '"' + note.replace('"', '""') + '"'
            f.write(f"{i},{ra[i]:.6f},{dec[i]:.6f},{note}\n")
    spec = {"name": "db", "chunk_order": 4, "overlap_deg": 0.5, "tables": [
        {"name": "Obj", "role": "director", "ra": "ra", "dec": "dec", "director_key": "id",
         "data": [str(src)], "columns": [{"name": c, "type": "TEXT"} for c in NAMES]}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    outs = []
    for k, extra in enumerate([[], ["-j", 2, "--piece-mb", 1]]):
        out = tmp_path / f"o{k}"
        assert main(["partition", "-q", "-c", str(tmp_path / "spec.json"), "-o", str(out),
                     *map(str, extra)]) == 0
        outs.append({f.name: sorted(f.read_text().splitlines()) for f in (out / "Obj").glob("chunk_*.csv")})
    assert outs[0] == outs[1]
    rows = {}
    with open(src) as f:
        for r in csv.DictReader(f):
            rows[int(r["id"])] = r
    chunker = Chunker(4, 3)
    seen = 0
    for name, content in outs[0].items():
        if "overlap" in name:
            continue
        for line in content:
            v = _load_format_values(line)
            r = rows[int(v[0])]
            note = None if r["note"] == "\\N" else r["note"]
            assert v[1:4] == [r["ra"], r["dec"], note]
            c, s = chunker.locate(float(r["ra"]), float(r["dec"]))
            assert (int(v[4]), int(v[5])) == (int(c), int(s))
            seen += 1
    assert seen == n


def test_mapped_blocks_are_the_tasks_lines(tmp_path):
    """lines.mapped_blocks over random files (lines longer than a block, no final newline,
    header or not, tasks starting and ending mid-file): the blocks end on newlines, hold every line
    of the task once, in order, and the header is dropped."""
    from partitioner import readers
    rng = np.random.default_rng(11)
    for case in range(40):
        header = bool(case % 2)
        rows = [b"x" * int(rng.integers(0, 300)) + b"," + str(i).encode() for i in range(int(rng.integers(0, 60)))]
        text = (b"h1,h2\n" if header else b"") + b"\n".join(rows) + (b"\n" if rng.random() < 0.5 else b"")
        path = tmp_path / f"f{case}.csv"
        path.write_bytes(text)
        d = CsvDialect(header=header)
        # a task from a line start to the end, as plan_tasks cuts them
        starts = [0] + [i + 1 for i in range(len(text)) if text[i:i + 1] == b"\n" and i + 1 < len(text)]
        start = int(rng.choice(starts))
        ends = [e for e in starts if e > start]
        end = int(rng.choice(ends)) if ends and rng.random() < 0.5 else -1
        task = readers.Task("T", str(path), 0, start, end, nbytes=len(text) - start)
        blocks = [bytes(b) for b in lines.mapped_blocks(task, d, int(rng.integers(1, 400)))]
        assert all(b.endswith(b"\n") for b in blocks)
        body = text[start:] if end < 0 else text[start:end]
        if header and start == 0:
            body = body[len(b"h1,h2\n"):]
        expect = body.splitlines()
        assert b"".join(blocks).splitlines() == expect, (case, start)
