"""Results in the client's character_set_results.

Everything the czar answers is UTF-8 inside (workers, the czar's MariaDB and the shadow speak
utf8mb4), and mysql-mimic sent it as such whatever the client had asked for with
`SET NAMES latin1` or `SET character_set_results = ...`. As MariaDB does, text columns are
converted to the client's character set, a character it cannot represent becoming '?'
(utf8mb3 has no 4-byte characters either). Binary columns and numbers are left alone; the
default (utf8mb4), `binary` and NULL (no conversion) cost nothing.
"""

from __future__ import annotations

import re

from mysql_mimic.charset import CharacterSet
from mysql_mimic.results import ResultColumn, ResultSet, ensure_result_set
from mysql_mimic.types import ColumnType

from czar.mimic_batches import BatchedRows
from czar.wire_rows import EncodedRows

NO_CONVERSION = {None, "utf8mb4", "binary"}
TEXT_TYPES = {ColumnType.VAR_STRING, ColumnType.STRING, ColumnType.VARCHAR, ColumnType.BLOB,
              ColumnType.TINY_BLOB, ColumnType.MEDIUM_BLOB, ColumnType.LONG_BLOB, ColumnType.ENUM,
              ColumnType.SET, ColumnType.JSON}
NON_BMP = re.compile("[\U00010000-\U0010FFFF]")


def _encoder(charset: CharacterSet):
    if charset == CharacterSet.utf8:  # utf8mb3: at most 3 bytes per character
        return lambda text: NON_BMP.sub("?", text).encode("utf-8")
    codec = charset.codec
    return lambda text: text.encode(codec, "replace")


async def convert_results(result, charset_name: str | None):
    """`result` (anything a session may answer) with its text in `charset_name`."""
    if charset_name in NO_CONVERSION or result is None:
        return result
    result_set = await ensure_result_set(result)
    if not result_set.columns:
        return result_set
    target = CharacterSet[charset_name]
    encode = _encoder(target)
    text = [i for i, c in enumerate(result_set.columns)
            if c.type in TEXT_TYPES and c.character_set != CharacterSet.binary]
    if not text:
        return result_set
    columns = [ResultColumn(name=c.name, type=c.type,
                            character_set=target if i in text else c.character_set,
                            text_encoder=c.text_encoder if not c.use_default_text_encoder else None,
                            binary_encoder=c.binary_encoder)
               for i, c in enumerate(result_set.columns)]

    def convert(rows):
        out = []
        for row in rows:
            row = list(row)
            for i in text:
                value = row[i]
                if isinstance(value, bytes):
                    row[i] = encode(value.decode("utf-8", "replace"))
                elif isinstance(value, str):
                    row[i] = encode(value)
            out.append(row)
        return out

    rows = result_set.rows
    if isinstance(rows, BatchedRows):
        async def batches(source=rows.batches):
            async for batch in source:
                yield convert(batch.rows() if isinstance(batch, EncodedRows) else batch)
        return ResultSet(rows=BatchedRows(batches()), columns=columns)
    if hasattr(rows, "__aiter__"):
        async def each(source=rows):
            async for row in source:
                yield convert([row])[0]
        return ResultSet(rows=each(), columns=columns)
    return ResultSet(rows=convert(rows), columns=columns)
