"""Issue 15, item 8: the HTTP API checks the token before it reads a body, and reads small
JSON bodies only; file contributions stream.

Before the fix, a JSON body without a token was read whole (and parsed) to look for an
`auth_key` in it, up to 1 TiB: 300 MB took the czar to 1 GB. Now a request without a valid
token is refused (401) after at most 64 KiB, and an admin's JSON body is capped (413). Also a
fuzz of a few hundred malformed bodies: every one gets a 4xx JSON answer, never a 500.
"""

from __future__ import annotations

import http.client
import json
import random

from qserv.mariadb import read_pid

MB = 1 << 20


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def post(config, path: str, body, *, token: str | None = None, length: int | None = None,
         content_type: str = "application/json") -> tuple[int | None, dict | None]:
    """POST `body` (bytes, or an iterable of bytes with `length`); (status, JSON answer), or
    (None, None) when the czar closed the connection while the body was still being sent."""
    conn = http.client.HTTPConnection(config.host, config.http_port, timeout=60)
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if length is not None:
        headers["Content-Length"] = str(length)
    try:
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    except (BrokenPipeError, ConnectionResetError):
        return None, None
    finally:
        conn.close()


def big_json(megabytes: int):
    """A JSON object of `megabytes` MB, generated piece by piece (never held by the test)."""
    yield b'{"database": "x", "pad": "'
    for _ in range(megabytes):
        yield b"a" * MB
    yield b'"}'


def big_length(megabytes: int) -> int:
    return len(b'{"database": "x", "pad": "') + megabytes * MB + 2


def test_big_json_without_token_is_refused_before_reading(door_cluster):
    pid = read_pid(door_cluster.pid_file("czar"))
    before = rss_mb(pid)
    status, answer = post(door_cluster, "/ingest/database", big_json(150), length=big_length(150))
    grown = rss_mb(pid) - before
    assert status in (401, None), (status, answer)
    if answer is not None:
        assert answer["success"] == 0 and "token" in answer["error"]
    assert grown < 40, f"the czar grew by {grown:.0f} MB reading a body it should refuse"


def test_wrong_token_is_refused_before_reading(door_cluster):
    status, answer = post(door_cluster, "/ingest/database", big_json(20), length=big_length(20),
                          token="not-the-token")
    assert status in (401, None), (status, answer)


def test_admin_json_body_is_capped(door_cluster):
    """With the token, a JSON body over http_max_json_bytes (1 MiB here) is 413."""
    pid = read_pid(door_cluster.pid_file("czar"))
    before = rss_mb(pid)
    status, answer = post(door_cluster, "/ingest/database", big_json(50), length=big_length(50),
                          token=door_cluster.admin_token)
    assert status in (413, None), (status, answer)
    assert rss_mb(pid) - before < 40


def test_small_body_auth_key_still_works(door_cluster):
    """The original's way (auth_key in a small JSON body) passes the check: the answer is the
    route's own (no such database), not 401."""
    status, answer = post(door_cluster, "/ingest/database/no_such_db/validate",
                          json.dumps({"auth_key": door_cluster.admin_token}).encode())
    assert status != 401 and answer["success"] == 0, (status, answer)
    status, answer = post(door_cluster, "/ingest/database/no_such_db/validate",
                          json.dumps({"auth_key": "wrong"}).encode())
    assert status == 401, (status, answer)


def malformed_bodies(rng: random.Random, n: int):
    good = json.dumps({"database": "fuzz_db", "chunk": 5, "chunks": [1, 2, 3],
                       "auth_key": "k"}).encode()
    for i in range(n):
        kind = i % 6
        if kind == 0:
            yield good[:rng.randrange(len(good))]
        elif kind == 1:
            b = bytearray(good)
            for _ in range(rng.randint(1, 5)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            yield bytes(b)
        elif kind == 2:
            yield rng.randbytes(rng.randrange(1, 300))
        elif kind == 3:
            depth = rng.choice([100, 5000, 60000])
            yield b"[" * depth + b"]" * depth
        elif kind == 4:
            yield json.dumps(rng.choice([[], 1, "s", None, [1, 2], {"chunk": "x"},
                                         {"chunks": "x", "database": 5}])).encode()
        else:
            yield b'{"database": "\\ud800", "chunk": 1e999999}'


def test_fuzz_malformed_bodies(door_cluster):
    """Malformed JSON bodies, with and without the token, on the JSON routes: every answer is
    a 4xx with success = 0 (never a 500, never a hang), and the API keeps answering."""
    rng = random.Random(8)
    routes = ["/ingest/chunk", "/ingest/chunks", "/ingest/trans", "/ingest/table",
              "/ingest/database/fuzz_db/validate"]
    for i, body in enumerate(malformed_bodies(rng, 300)):
        token = door_cluster.admin_token if i % 2 else None
        status, answer = post(door_cluster, routes[i % len(routes)], body, token=token)
        assert status is not None and 400 <= status < 500, (i, body[:80], status, answer)
        assert answer["success"] == 0, (i, answer)
    conn = http.client.HTTPConnection(door_cluster.host, door_cluster.http_port, timeout=10)
    conn.request("GET", "/meta/version")
    assert conn.getresponse().status == 200
