"""Issue 15, item 4: one malformed login packet must not stop the czar, and a connection that
never finishes its login is closed after connect_timeout.

Before the fix, the 44-byte packet below (a user name without its NUL terminator) put the
czar's event loop into an endless loop: no other client could log in, the HTTP API stopped
answering. Also a fuzz of a few hundred malformed login packets (truncations, flipped bytes,
missing terminators, absurd lengths), each answered or closed in time while the port serves.
"""

from __future__ import annotations

import random
import socket
import struct
import time
import urllib.request

import pymysql

from tests.conftest import czar_connect, query

# capability bits (MySQL protocol)
PROTOCOL_41, CONNECT_WITH_DB, SECURE_CONNECTION = 0x200, 0x8, 0x8000
PLUGIN_AUTH, CONNECT_ATTRS, LENENC_AUTH = 0x80000, 0x100000, 0x200000
CAPS = PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LENENC_AUTH | CONNECT_ATTRS | CONNECT_WITH_DB
ANSWER_S = 10.0   # any bad connection is answered or closed within this (connect_timeout = 2 s)


def packet(payload: bytes, seq: int = 1) -> bytes:
    return struct.pack("<I", len(payload) | (seq << 24)) + payload


def login_payload(user: bytes = b"qsmaster", caps: int = CAPS) -> bytes:
    """A well-formed login packet (with a wrong password: the content does not matter)."""
    attrs = b"\x04name\x04fuzz"
    return (struct.pack("<IIB", caps, 16 << 20, 45) + bytes(23) + user + b"\x00"
            + b"\x14" + bytes(range(20)) + b"demo\x00" + b"mysql_native_password\x00"
            + bytes([len(attrs)]) + attrs)


def exchange(config, payload: bytes | None) -> bytes:
    """Connect, read the greeting, send `payload` (None: send nothing), return what the czar
    answers until it closes the connection (asserting it does, in time)."""
    s = socket.create_connection((config.host, config.frontend_port), timeout=ANSWER_S)
    try:
        s.recv(65536)  # the greeting
        if payload is not None:
            s.sendall(packet(payload))
        started, got = time.monotonic(), b""
        while time.monotonic() - started < ANSWER_S:
            try:
                data = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                return got
            got += data
            if payload is not None and len(got) > 4 and got[4] in (0x00, 0xFF):
                return got  # an OK or an error: answered
        raise AssertionError(f"no answer and not closed after {ANSWER_S} s (got {got!r})")
    finally:
        s.close()


def serves(config) -> None:
    """The MySQL port and the HTTP API both answer at once."""
    conn = czar_connect(config, None, connect_timeout=5, read_timeout=10)
    try:
        assert query(conn, "SELECT 1")[1] == [(1,)]
    finally:
        conn.close()
    with urllib.request.urlopen(f"http://{config.host}:{config.http_port}/meta/version",
                                timeout=5) as r:
        assert r.status == 200


def error_code(answer: bytes) -> int | None:
    if len(answer) >= 7 and answer[4] == 0xFF:
        return struct.unpack("<H", answer[5:7])[0]
    return None


def test_user_name_without_terminator(door_cluster):
    """The packet of the report: flags, max packet, charset, 23 zeros, `qsmaster`, no NUL."""
    bad = struct.pack("<IIB", CAPS, 16 << 20, 45) + bytes(23) + b"qsmaster"
    assert len(packet(bad)) == 44
    answer = exchange(door_cluster, bad)
    assert error_code(answer) == 1043, answer
    assert b"Bad handshake" in answer
    serves(door_cluster)


def test_silent_connection_is_closed_after_connect_timeout(door_cluster):
    """A client that connects and sends nothing holds nothing for long (MariaDB's
    connect_timeout): it gets 1043 and the connection is closed."""
    started = time.monotonic()
    answer = exchange(door_cluster, None)
    assert time.monotonic() - started >= door_cluster.connect_timeout * 0.9
    assert error_code(answer) == 1043, answer
    serves(door_cluster)


def test_many_stalled_logins_do_not_block_others(door_cluster):
    """Twenty half-open logins (greeting read, nothing sent) while others log in normally."""
    stalled = [socket.create_connection((door_cluster.host, door_cluster.frontend_port))
               for _ in range(20)]
    try:
        serves(door_cluster)
    finally:
        for s in stalled:
            s.close()


def mutations(rng: random.Random, n: int):
    """Malformed variants of a login packet: truncations, flipped bytes, NULs removed,
    lengths made absurd, random bytes after the fixed part."""
    good = login_payload()
    for i in range(n):
        kind = i % 5
        if kind == 0:
            yield good[:rng.randrange(0, len(good))]
        elif kind == 1:
            b = bytearray(good)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            yield bytes(b)
        elif kind == 2:
            yield good.replace(b"\x00", b"x")[:rng.randrange(33, len(good) + 1)]
        elif kind == 3:
            b = bytearray(good)
            at = rng.choice([41, len(good) - 11, 47])   # auth length, attrs length, db
            b[at:at + 1] = rng.choice([b"\xfe", b"\xfd", b"\xfc", b"\xff"]) + bytes(rng.randrange(4))
            yield bytes(b)
        else:
            yield good[:32] + rng.randbytes(rng.randrange(0, 80))


def test_fuzz_malformed_login_packets(door_cluster):
    rng = random.Random(15)
    for i, payload in enumerate(mutations(rng, 300)):
        try:
            exchange(door_cluster, payload)
        except AssertionError as e:
            raise AssertionError(f"case {i} ({payload.hex()}): {e}") from None
        if i % 50 == 0:
            serves(door_cluster)
    serves(door_cluster)


def test_valid_logins_still_work(door_cluster):
    """The bounded parser reads what real clients send: pymysql with a database, with
    connection attributes, and the mariadb-style login without a database."""
    for database in ("demo", None):
        conn = czar_connect(door_cluster, database, program_name="door-test")
        try:
            assert query(conn, "SELECT 2")[1] == [(2,)]
        finally:
            conn.close()
    try:
        pymysql.connect(host=door_cluster.host, port=door_cluster.frontend_port,
                        user=door_cluster.user, password="wrong")
    except pymysql.err.OperationalError as e:
        assert e.args[0] == 1045
    else:
        raise AssertionError("a wrong password logged in")
