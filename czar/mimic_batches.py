"""Batched row streaming for mysql-mimic.

mysql-mimic streams an async result row by row through three nested async generators,
which costs more than everything else on the czar (about 60% of CPU for a 100k-row result).
It also has a fast, compiled writer for lists of rows (`stream.write_text_rows`), which it
uses only when the whole result is one in-memory list. `BatchedRows` gives us both: the
rows arrive as an async iterator of batches (one per MariaDB fetch or worker piece), each goes
to the compiled writer, and memory stays bounded by one batch. A batch that is already row
packets (czar/wire_rows.EncodedRows) is only numbered and appended.

The wire sequence is the same as mysql-mimic's own text result set: column count, column
definitions, EOF (unless the client deprecates it), rows, then OK/EOF.
"""

from __future__ import annotations

from typing import AsyncIterator, Sequence

from mysql_mimic import packets
from mysql_mimic.connection import Connection
from mysql_mimic.results import ResultSet
from mysql_mimic.types import ColumnType

from czar.wire_rows import EncodedRows


class BatchedRows:
    """Marks a result whose rows come as an async iterator of row lists."""

    def __init__(self, batches: AsyncIterator[Sequence[Sequence]]):
        self.batches = batches


_original_write = Connection.write_text_resultset


async def _write_text_resultset(self: Connection, result_set: ResultSet) -> None:
    if not isinstance(result_set.rows, BatchedRows):
        return await _original_write(self, result_set)
    header = [packets.make_column_count(capabilities=self.capabilities,
                                        column_count=len(result_set.columns))]
    for column in result_set.columns:
        header.append(packets.make_column_definition_41(
            server_charset=self.server_charset, name=column.name, column_type=column.type,
            character_set=column.character_set))
    if not self.deprecate_eof():
        header.append(self.eof())
    self.stream.write_many(header)
    count = 0
    # Ready-made packets (czar/wire_rows.py) carry every value as its text; a column type
    # whose mysql-mimic encoder would change that text needs the values instead.
    packets_ok = all(c.use_default_text_encoder or c.type == ColumnType.TINY
                     for c in result_set.columns)
    stream = self.stream
    async for batch in result_set.rows.batches:
        if isinstance(batch, EncodedRows) and packets_ok:
            stream._buffer.extend(batch.numbered(stream.seq.value))
            stream.seq.value = (stream.seq.value + len(batch)) % stream.seq.size
            count += len(batch)
        else:
            rows = batch.rows() if isinstance(batch, EncodedRows) else batch
            count += stream.write_text_rows(rows, result_set.columns)
        await stream.drain()  # back-pressure: a slow client slows the fetch, memory stays flat
    await self.stream.write(self.ok_or_eof(affected_rows=count), drain=False)
    await self.stream.drain()


def install() -> None:
    """Route BatchedRows results through the batch writer (idempotent)."""
    Connection.write_text_resultset = _write_text_resultset
