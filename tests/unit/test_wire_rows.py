"""czar.wire_rows turns OUTFILE text into exactly the packets mysql-mimic's own row writer
produces for the same values, whatever the values and wherever the text is cut."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from mysql_mimic import ResultColumn
from mysql_mimic.stream import MysqlStream
from mysql_mimic.types import ColumnType

from czar.wire_rows import EncodedRows, RowEncoder, encode
from tests.unit.test_outfile import outfile_field

plain = st.binary(max_size=8).filter(lambda b: b"\\" not in b and b"\t" not in b and b"\n" not in b)
values = st.one_of(st.none(), plain, st.just(b""), st.just(b"x" * 250), st.just(b"y" * 251),
                   st.sampled_from([b"\\", b"\t", b"\n", b"\\N", b"N", b"\x00", b"1.5e-07"]))


def reference_packets(table, ncols: int, first_seq: int) -> bytes:
    stream = MysqlStream(None, None)
    stream.seq.value = first_seq
    stream.write_text_rows(table, [ResultColumn(name=f"c{i}", type=ColumnType.VAR_STRING)
                                   for i in range(ncols)])
    return bytes(stream._buffer)


def encoded_packets(text: bytes, ncols: int, cuts: list[int], first_seq: int) -> tuple[bytes, int]:
    encoder, out, pos, i, seq, fast = RowEncoder(ncols), bytearray(), 0, 0, first_seq, 0
    columns = [ResultColumn(name=f"c{i}", type=ColumnType.VAR_STRING) for i in range(ncols)]
    while pos < len(text):
        step = cuts[i % len(cuts)]
        batch = encoder.feed(text[pos:pos + step])
        pos, i = pos + step, i + 1
        if isinstance(batch, EncodedRows):
            out += batch.numbered(seq)
            seq, fast = (seq + len(batch)) % 256, fast + 1
        elif batch:
            stream = MysqlStream(None, None)
            stream.seq.value = seq
            stream.write_text_rows(batch, columns)
            out += stream._buffer
            seq = stream.seq.value
    encoder.finish()
    return bytes(out), fast


@settings(max_examples=300)
@given(st.lists(st.lists(values, min_size=1, max_size=5).map(tuple), max_size=40),
       st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=6),
       st.integers(min_value=0, max_value=255))
def test_same_packets_as_the_row_writer(table, cuts, first_seq):
    width = max((len(r) for r in table), default=1)
    table = [r + (b"z",) * (width - len(r)) for r in table]
    text = b"".join(b"\t".join(outfile_field(v) for v in r) + b"\n" for r in table)
    got, _ = encoded_packets(text, width, cuts, first_seq)
    assert got == reference_packets(table, width, first_seq)


def test_numbers_and_nulls_take_the_fast_path():
    table = [(b"%d" % i, b"%.6f" % (i / 7), None if i % 3 else b"-1") for i in range(1000)]
    text = b"".join(b"\t".join(outfile_field(v) for v in r) + b"\n" for r in table)
    batch = encode(text, 3)
    assert batch is not None and len(batch) == 1000
    assert bytes(batch.numbered(200)) == reference_packets(table, 3, 200)
    assert batch.rows() == [list(r) for r in table]


def test_escaped_text_and_long_values_fall_back():
    assert encode(b"a\\\tb\tc\n", 2) is None          # an escaped tab inside a value
    assert encode(b"x" * 251 + b"\t1\n", 2) is None    # a value needing a 3-byte length
    assert encode(b"1\t2\t3\n", 2) is None             # a row of another width


def test_sequence_ids_wrap_at_256():
    text = b"".join(b"%d\n" % i for i in range(600))
    batch = encode(text, 1)
    assert bytes(batch.numbered(250)) == reference_packets([(b"%d" % i,) for i in range(600)], 1, 250)


@given(st.lists(st.lists(values, min_size=2, max_size=2).map(tuple), min_size=1, max_size=30),
       st.integers(min_value=0, max_value=35), st.integers(min_value=0, max_value=35))
def test_a_slice_is_the_packets_of_those_rows(table, start, stop):
    text = b"".join(b"\t".join(outfile_field(v) for v in r) + b"\n" for r in table)
    batch = encode(text, 2)
    if batch is None:
        return  # escaped text: the row-by-row path, sliced as a list
    part = batch.slice(min(start, len(table)), min(max(start, stop), len(table)))
    wanted = table[start:max(start, stop)]
    assert part.rows() == [list(r) for r in wanted]
    assert bytes(part.numbered(7)) == reference_packets(wanted, 2, 7)
