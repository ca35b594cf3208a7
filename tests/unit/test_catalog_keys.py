"""Secondary keys of a schema file (`KEY`, `INDEX`, `UNIQUE KEY` lines) reach the tables the
ingest creates on workers (issue 18: only the primary key did)."""

from __future__ import annotations

from qserv.catalog import DatabaseSpec, keys_from_ddl

SCHEMA = """CREATE TABLE `Source` (
  `sourceId` bigint(20) NOT NULL,
  `objectId` bigint(20) DEFAULT NULL,
  `runId` int(11) NOT NULL,
  `note` varchar(64) DEFAULT NULL,
  PRIMARY KEY (`sourceId`),
  KEY `objectId` (`objectId`),
  UNIQUE KEY `UQ_run` (`runId`, `sourceId`),
  INDEX note_prefix (`note`(10))
) ENGINE=MyISAM;
"""


def test_keys_are_read_with_their_columns_and_prefixes():
    assert keys_from_ddl(SCHEMA) == [["objectId"], ["runId", "sourceId"], ["note(10)"]]
    assert keys_from_ddl("CREATE TABLE t (`a` INT, PRIMARY KEY (`a`))") == []


def test_a_schema_files_keys_are_in_every_ddl_of_the_table(tmp_path):
    (tmp_path / "Source.schema").write_text(SCHEMA)
    spec = DatabaseSpec(name="db", source_dir=str(tmp_path), tables=[{
        "name": "Source", "role": "replicated", "schema": "Source.schema"}])
    t = spec.table("Source")
    for ddl in (t.ddl("db"), t.ddl("db", "Source", transactional=True, trans_id=3)):
        assert "KEY (`objectId`)" in ddl and "KEY (`runId`, `sourceId`)" in ddl
        assert "KEY (`note`(10))" in ddl and "UNIQUE" not in ddl


def test_keys_given_in_the_spec_win(tmp_path):
    (tmp_path / "Source.schema").write_text(SCHEMA)
    spec = DatabaseSpec(name="db", source_dir=str(tmp_path), tables=[{
        "name": "Source", "role": "replicated", "schema": "Source.schema",
        "indexes": [["runId"]]}])
    assert spec.table("Source").indexes == [["runId"]]
