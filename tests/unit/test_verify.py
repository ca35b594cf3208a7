"""qserv/verify.py: a partitioner output's files against its manifest, before an ingest."""

from __future__ import annotations

import json
import shutil

import pytest

from qserv.admin.cli import main
from qserv.admin.demo import generate
from qserv.verify import CorruptFile, check_output


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    src = generate(tmp_path_factory.mktemp("vsrc"), n_objects=3000, sources_per_object=3)
    out = tmp_path_factory.mktemp("vout") / "out"
    assert main(["partition", "-q", "-c", str(src), "-o", str(out), "-j", "2", "--piece-mb", "1"]) == 0
    return out


def _copy(output, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(output, out)
    m = json.loads((out / "manifest.json").read_text())
    entry = max((e for e in m["tables"]["Source"]["chunks"].values()), key=lambda e: e["rows"])
    return out, out / entry["file"]


def test_a_clean_output_passes(output):
    m = json.loads((output / "manifest.json").read_text())
    files = sum(bool(e.get("file")) + bool(e.get("overlap_file"))
                for t in m["tables"].values() for e in t.get("chunks", {}).values())
    assert check_output(output / "manifest.json") == files + 2      # + index.csv, Filter.csv


def test_a_torn_row_is_named_with_its_line(output, tmp_path):
    """Issue 14's shape: a row's head, three whole rows, then its tail: the same bytes and
    line count, so only the row checksum tells."""
    out, victim = _copy(output, tmp_path)
    lines = victim.read_bytes().splitlines(keepends=True)
    torn = lines[:5] + [lines[5][:12]] + lines[6:9] + [lines[5][12:]] + lines[9:]
    victim.write_bytes(b"".join(torn))
    with pytest.raises(CorruptFile) as e:
        check_output(out / "manifest.json")
    msg = str(e.value)
    assert str(victim) in msg and "rows do not match the manifest" in msg
    assert "line 6 has" in msg and "fields, expected 10" in msg, msg


def test_truncated_and_edited_files(output, tmp_path):
    out, victim = _copy(output, tmp_path)
    good = victim.read_bytes()
    victim.write_bytes(good[:good.rindex(b"\n", 0, len(good) - 1) + 1])
    with pytest.raises(CorruptFile, match=r"lines where the manifest says \d+ rows"):
        check_output(out / "manifest.json")
    lines = good.splitlines(keepends=True)
    fields = lines[3].split(b",")
    fields[5] = b"abc"                                       # mjd, a DOUBLE
    victim.write_bytes(b"".join(lines[:3] + [b",".join(fields)] + lines[4:]))
    with pytest.raises(CorruptFile, match=r"line 4: column mjd \(DOUBLE NOT NULL\): 'abc' is not a number"):
        check_output(out / "manifest.json")
    fields[5] = b"60000.5"                                   # a plausible value: still caught
    victim.write_bytes(b"".join(lines[:3] + [b",".join(fields)] + lines[4:]))
    with pytest.raises(CorruptFile, match=r"rows do not match.*every line has the right fields"):
        check_output(out / "manifest.json")


def test_values_holding_line_breaks_are_rows_not_lines(tmp_path):
    """The original's case01 has text values with line breaks (inside quotes): such a file
    has more lines than rows, and is whole. Found by loading case01 through the ingest: its
    check refused the partitioner's own output."""
    rows = [f'{i},{i * 0.37 % 360:.6f},{(i % 170) - 85:.6f},"note {i}\nsecond line, with a comma"\n'
            for i in range(40)]
    (tmp_path / "obj.csv").write_text("".join(rows))
    spec = {"name": "nl", "chunk_order": 3, "subchunk_bits": 2, "overlap_deg": 0.5, "tables": [{
        "name": "Object", "role": "director", "ra": "ra", "dec": "decl", "director_key": "id",
        "data": [str(tmp_path / "obj.csv")], "csv": {"header": False},
        "columns": [{"name": "id", "type": "BIGINT"}, {"name": "ra", "type": "DOUBLE"},
                    {"name": "decl", "type": "DOUBLE"}, {"name": "note", "type": "TEXT"}]}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "out"
    assert main(["partition", "-q", "-c", str(tmp_path / "spec.json"), "-o", str(out)]) == 0
    assert check_output(out / "manifest.json") > 0
    m = json.loads((out / "manifest.json").read_text())
    entry = max(m["tables"]["Object"]["chunks"].values(), key=lambda e: e["rows"])
    victim = out / entry["file"]
    data = victim.read_bytes()
    assert data.count(b"\n") == 2 * entry["rows"]
    victim.write_bytes(data[:data.index(b"\n") + 1] + data[data.index(b"\n") + 1:].split(b"\n", 1)[1])
    with pytest.raises(CorruptFile):                          # a row's second line cut out
        check_output(out / "manifest.json")
