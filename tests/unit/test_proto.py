"""The czar-worker contract (proto/qserv/v1/worker.proto): messages survive serialize/parse."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qserv.v1 import worker_pb2 as pb

int32s = st.integers(min_value=-2 ** 31, max_value=2 ** 31 - 1)
int64s = st.integers(min_value=-2 ** 63, max_value=2 ** 63 - 1)


@settings(max_examples=100, deadline=None)
@given(st.text(), st.text(), st.text(), st.text(), st.lists(int32s, max_size=50))
def test_chunk_query_request_round_trip(query_id, database, sql, marker, chunk_ids):
    msg = pb.ChunkQueryRequest(query_id=query_id, database=database, sql_template=sql,
                               chunk_marker=marker, chunk_ids=chunk_ids)
    back = pb.ChunkQueryRequest.FromString(msg.SerializeToString())
    assert back == msg
    assert back.query_id == query_id and back.database == database
    assert back.sql_template == sql and back.chunk_marker == marker
    assert list(back.chunk_ids) == chunk_ids


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=4096), int64s, int32s)
def test_result_batch_round_trip(tsv, row_count, chunks_done):
    msg = pb.ResultBatch(tsv=tsv, row_count=row_count, chunks_done=chunks_done)
    back = pb.ResultBatch()
    back.ParseFromString(msg.SerializeToString())
    assert back.tsv == tsv and back.row_count == row_count and back.chunks_done == chunks_done


def test_result_batch_keeps_large_binary_payload_exactly():
    payload = bytes(range(256)) * 40_000 + b"a\tb\\N\n\x00\xff"  # ~10 MB, every byte value
    back = pb.ResultBatch.FromString(pb.ResultBatch(tsv=payload, row_count=1).SerializeToString())
    assert back.tsv == payload and back.row_count == 1


def test_realistic_request():
    sql = "SELECT COUNT(*) AS `qsa0` FROM `demo`.`Object___QSERV_CHUNK__` AS `Object`"
    msg = pb.ChunkQueryRequest(query_id="ab12_7", database="demo", sql_template=sql,
                               chunk_marker="__QSERV_CHUNK__", chunk_ids=[4864, 4865, 0, 12287])
    data = msg.SerializeToString()
    back = pb.ChunkQueryRequest.FromString(data)
    assert back.sql_template.replace(back.chunk_marker, "4864").endswith("`Object_4864` AS `Object`")
    assert list(back.chunk_ids) == [4864, 4865, 0, 12287]
    # empty chunk list: "run once as is" (replicated tables) stays empty, not absent-vs-[0]
    assert list(pb.ChunkQueryRequest.FromString(
        pb.ChunkQueryRequest(sql_template=sql).SerializeToString()).chunk_ids) == []


def test_contribution_batch_and_small_messages_round_trip():
    cb = pb.ContributionBatch(header=pb.ContributionHeader(
        database="demo", table="Object_4864", trans_id=7, columns=["objectId", "ra"]),
        data=b"13,1.5\n")
    assert pb.ContributionBatch.FromString(cb.SerializeToString()) == cb
    hr = pb.HealthReply(worker_id="worker0", mariadb_ok=True, running_jobs=3, error="")
    assert pb.HealthReply.FromString(hr.SerializeToString()) == hr
    dr = pb.DdlRequest(database="", statements=["CREATE DATABASE x", "CREATE TABLE x.t (a INT)"])
    assert list(pb.DdlRequest.FromString(dr.SerializeToString()).statements) == list(dr.statements)
    assert pb.CancelReply.FromString(pb.CancelReply(killed=2).SerializeToString()).killed == 2
    assert pb.ContributionReply.FromString(
        pb.ContributionReply(rows=2 ** 40).SerializeToString()).rows == 2 ** 40
