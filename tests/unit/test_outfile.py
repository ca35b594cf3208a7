"""czar.outfile.OutfileParser reads back what MariaDB's SELECT ... INTO OUTFILE writes."""

from __future__ import annotations

from hypothesis import given, strategies as st

from czar.outfile import OutfileParser


def outfile_field(value: bytes | None) -> bytes:
    """MariaDB's default OUTFILE escaping (ESCAPED BY '\\\\')."""
    if value is None:
        return b"\\N"
    return (value.replace(b"\\", b"\\\\").replace(b"\t", b"\\\t").replace(b"\n", b"\\\n")
            .replace(b"\x00", b"\\0"))


values = st.one_of(st.none(), st.binary(max_size=12),
                   st.sampled_from([b"\\", b"\t", b"\n", b"\\N", b"N", b"\\\\\n", b""]))
rows = st.lists(st.lists(values, min_size=1, max_size=4).map(tuple), max_size=20)


@given(rows, st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=10))
def test_round_trip_whatever_the_cuts(table, cuts):
    width = max((len(r) for r in table), default=1)
    table = [r + (b"x",) * (width - len(r)) for r in table]
    text = b"".join(b"\t".join(outfile_field(v) for v in r) + b"\n" for r in table)
    parser, got, pos, i = OutfileParser(), [], 0, 0
    while pos < len(text):
        step = cuts[i % len(cuts)]
        got += parser.feed(text[pos:pos + step])
        pos, i = pos + step, i + 1
    parser.finish()
    assert [tuple(r) for r in got] == table


def test_unfinished_row_is_an_error():
    parser = OutfileParser()
    parser.feed(b"1\t2\n3\t")
    try:
        parser.finish()
    except ValueError:
        return
    raise AssertionError("a cut row must not pass silently")
