"""Ingest pieces that need no cluster: the worker's LOAD DATA statement (names and delimiters
are checked, never pasted blindly), the transactional DDL, the plan read from a manifest."""

from __future__ import annotations

import json

import pytest

from qserv.catalog import TRANS_COLUMN
from qserv.admin.demo import demo_spec
from qserv.admin.ingest_client import IngestClientError, plan_from_manifest
from qserv.v1 import worker_pb2 as pb
from worker.ingest import ContributionError, load_statement


def header(**kw):
    base = dict(database="db", table="Object_12", trans_id=7, columns=["a", "b"],
                fields_terminated_by=",", fields_enclosed_by='"', fields_escaped_by="",
                lines_terminated_by="\n")
    return pb.ContributionHeader(**{**base, **kw})


def test_load_statement():
    sql = load_statement("/spool/f.csv", header())
    assert sql == ("LOAD DATA INFILE '/spool/f.csv' INTO TABLE `db`.`Object_12` CHARACTER SET utf8mb4 "
                   "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                   "LINES TERMINATED BY '\\n' (`a`, `b`) SET `qserv_trans_id` = 7")
    tsv = load_statement("/f", header(fields_terminated_by="\t", fields_enclosed_by="",
                                      fields_escaped_by="\\", ignore_lines=1))
    assert "TERMINATED BY '\\t' ESCAPED BY '\\\\'" in tsv and "IGNORE 1 LINES" in tsv


@pytest.mark.parametrize("bad", [dict(table="t; DROP TABLE x"), dict(database="a`b"),
                                 dict(columns=["a", "b) SET x=1 -- "]),
                                 dict(fields_terminated_by=",,"), dict(fields_enclosed_by="''")])
def test_load_statement_refuses_injection(bad):
    with pytest.raises(ContributionError):
        load_statement("/f", header(**bad))


def test_transactional_ddl():
    t = demo_spec().table("Object")
    ddl = t.ddl("demo", "Object_5", transactional=True, trans_id=42)
    assert f"`{TRANS_COLUMN}` INT NOT NULL DEFAULT 0 INVISIBLE" in ddl
    assert f"PRIMARY KEY (`objectId`, `{TRANS_COLUMN}`)" in ddl
    assert ddl.endswith(f"PARTITION BY LIST (`{TRANS_COLUMN}`) (PARTITION p42 VALUES IN (42))")
    assert TRANS_COLUMN not in t.ddl("demo", "Object_5")


def test_plan_from_manifest(tmp_path):
    spec = demo_spec()
    for t in ("Object", "Source", "Filter"):
        (tmp_path / t).mkdir()
    for name in ("Object/chunk_3.csv", "Object/chunk_3_overlap.csv", "Object/chunk_9.csv",
                 "Source/chunk_3.csv", "Filter/Filter.csv", "Object/index.csv"):
        (tmp_path / name).write_text("x\n")
    manifest = {
        "database": "demo", "chunk_order": 5, "subchunk_bits": 3, "overlap_deg": 0.01667,
        "format": "csv", "spec": json.loads(spec.to_json()), "tables": {
            "Object": {"role": "director", "columns": ["objectId"], "rows": 5, "chunks": {
                "3": {"rows": 2, "overlap_rows": 1, "file": "Object/chunk_3.csv",
                      "overlap_file": "Object/chunk_3_overlap.csv"},
                "9": {"rows": 3, "overlap_rows": 0, "file": "Object/chunk_9.csv"}},
                "index": {"file": "Object/index.csv", "rows": 5,
                          "columns": ["objectId", "chunkId", "subChunkId"]}},
            "Source": {"role": "child", "columns": ["sourceId"], "rows": 4, "chunks": {
                "3": {"rows": 4, "overlap_rows": 0, "file": "Source/chunk_3.csv"},
                "9": {"rows": 0, "overlap_rows": 0}}},
            "Filter": {"role": "replicated", "rows": 7, "rejected": 1, "file": "Filter/Filter.csv"}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    plan = plan_from_manifest(tmp_path, database="other")
    assert plan.database == "other"
    assert [t.name for t in plan.tables] == ["Object", "Source", "Filter"]
    assert [u.key for u in plan.units] == ["chunk:3", "chunk:9", "table:Filter"]
    assert [(f.table, f.overlap, f.rows) for f in plan.units[0].files] == [
        ("Object", False, 2), ("Object", True, 1), ("Source", False, 4)]
    assert plan.expected == {"expected": {"Object": {"3": 2, "9": 3}, "Source": {"3": 4}},
                             "overlap": {"Object": {"3": 1}}, "replicated": {"Filter": 6}}
    assert plan.index_files == [("Object", tmp_path / "Object/index.csv")]
    manifest["format"] = "parquet"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IngestClientError, match="CSV"):
        plan_from_manifest(tmp_path)
