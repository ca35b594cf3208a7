"""The original Qserv's partitioner configs (sph-partition JSON) read by `qserv partition -c`:
the mapping to a DatabaseSpec, and whole runs on a small catalog and on case01's own files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from partitioner.sph_config import healpix_order, is_sph_config, read_configs
from qserv.catalog import CHILD, DIRECTOR, REPLICATED

ROOT = Path(__file__).resolve().parents[2]
CASE01 = ROOT.parent / "shared" / "qserv-itest" / "case01" / "data"
if not CASE01.exists():
    CASE01 = Path("/work/shared/qserv-itest/case01/data")


def qserv(*args):
    return subprocess.run([sys.executable, "-m", "qserv.admin.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture
def configs(tmp_path):
    """common.json + Obj.json + Src.json as the original's integration cases write them, and
    data files without a header line (tab-separated, \\N for NULL)."""
    part = tmp_path / "partition"
    part.mkdir()
    (part / "common.json").write_text(json.dumps({
        "dirDb": "mydb", "dirTable": "Obj",
        "part": {"num-stripes": 85, "num-sub-stripes": 12, "default-overlap": 0.01667},
        "in": {"csv": {"null": "\\N", "delimiter": "\t"}}}))
    (part / "Obj.json").write_text(json.dumps({
        "id": "objId", "part": {"pos": "ra, decl", "overlap": 0.02}, "dirColName": "objId",
        "in": {"csv": {"field": ["objId", "ra", "decl", "mag"]}}}))
    (part / "Src.json").write_text(json.dumps({
        "id": "srcId", "part": {"id": "objId", "pos": "raObj, declObj", "overlap": 0.0},
        "dirTable": "Obj", "in": {"csv": {"field": ["srcId", "objId", "raObj", "declObj"]}}}))
    (part / "Filt.json").write_text(json.dumps({
        "dirTable": "Filt", "in": {"csv": {"field": ["filterId", "name"]}}}))
    data = tmp_path / "Obj.tsv"
    data.write_text("".join(f"{i}\t{(i * 7.3) % 360:.4f}\t{(i * 3.1) % 60 - 30:.4f}\t\\N\n"
                            for i in range(1, 201)))
    return part, data


def test_mapping(configs):
    part, _ = configs
    spec = read_configs([part / "Obj.json"])          # common.json next to it is read first
    assert (spec.name, spec.chunk_order, spec.subchunk_bits, spec.overlap_deg) == ("mydb", 5, 3, 0.01667)
    (obj,) = spec.tables
    assert (obj.name, obj.role, obj.ra, obj.dec, obj.director_key, obj.overlap) == \
        ("Obj", DIRECTOR, "ra", "decl", "objId", 0.02)
    assert obj.column_names == ["objId", "ra", "decl", "mag"]
    assert obj.csv["header"] is False and obj.csv["delimiter"] == "\t" and obj.csv["null"] == "\\N"

    src = read_configs([part / "common.json", part / "Src.json"]).tables[0]
    assert (src.role, src.director_table, src.director_key, src.ra, src.dec) == \
        (CHILD, "Obj", "objId", "raObj", "declObj")
    assert read_configs([part / "Filt.json"]).tables[0].role == REPLICATED
    assert is_sph_config(json.loads((part / "Obj.json").read_text()))
    assert not is_sph_config({"name": "db", "tables": []})
    # the original's stripes -> the HEALPix orders of the nearest sizes
    assert healpix_order(180 / 85) == 5 and healpix_order(180 / 85 / 12) == 8


def test_partition_with_an_sph_config(configs, tmp_path):
    part, data = configs
    proc = qserv("partition", "-q", "-c", str(part / "Obj.json"), "-o", str(tmp_path / "out"),
                 str(data))
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    entry = m["tables"]["Obj"]
    # no header: all 200 lines are rows (a header default would have eaten the first one)
    assert entry["rows"] == entry["rows_out"] == 200 and entry["rejected"] == 0
    assert m["database"] == "mydb"


def test_only_shared_settings_is_a_clear_error(configs, tmp_path):
    part, data = configs
    proc = qserv("partition", "-c", str(part / "common.json"), "-o", str(tmp_path / "o"), str(data))
    assert proc.returncode == 1 and "give a table's config" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not CASE01.exists(), reason="the case01 data set is not on this machine")
def test_case01_partition_configs_match_our_case01_spec(tmp_path):
    """case01's own partition/Object.json gives the chunks that our case01 spec gives."""
    sph = qserv("partition", "-q", "-c", str(CASE01 / "partition" / "Object.json"),
                "-o", str(tmp_path / "sph"), str(CASE01 / "Object.tsv.gz"))
    assert sph.returncode == 0, sph.stderr
    ours = qserv("partition", "-q", "-c", str(ROOT / "tests" / "case01" / "case01.yaml"),
                 "--tables", "Object", "-o", str(tmp_path / "ours"))
    assert ours.returncode == 0, ours.stderr
    a = json.loads((tmp_path / "sph" / "manifest.json").read_text())["tables"]["Object"]
    b = json.loads((tmp_path / "ours" / "manifest.json").read_text())["tables"]["Object"]
    assert a["rows_out"] == b["rows_out"] == 88
    assert {c: e["rows"] for c, e in a["chunks"].items()} == {c: e["rows"] for c, e in b["chunks"].items()}
    assert a["overlap_rows"] == b["overlap_rows"]


def test_a_spec_with_an_unknown_key_is_a_clear_error(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"name": "x", "tables": [], "chunk_size": 3}))
    proc = qserv("partition", "-c", str(spec), "-o", str(tmp_path / "o"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{spec}: not a catalog spec" in proc.stderr and "'chunk_size'" in proc.stderr
