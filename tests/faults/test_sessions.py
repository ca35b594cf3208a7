"""Issue 15, item 7: idle sessions do not lock everyone out, and one user cannot take them all.

Here the czar's MariaDB takes 100 connections and the sessions share 4 of them; sessions are
capped at 200 in all, the last 5 for the admin (the default user), and 130 per user. Before
the fix each session held a MariaDB connection of its own, so 120 sessions that each ran one
query got 1040 from the czar's MariaDB, and nothing bounded a user's sessions.
"""

from __future__ import annotations

import pymysql
import pytest

from tests.conftest import query

ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS = 1040, 1203


def login(config, user: str | None = None, password: str | None = None, database="demo"):
    return pymysql.connect(host=config.host, port=config.frontend_port,
                           user=user or config.user,
                           password=config.password if password is None else password,
                           database=database, connect_timeout=10, read_timeout=60)


def open_until_refused(config, user, password, most: int):
    """Sessions of `user` until one is refused (or `most`); (sessions, refusal or None)."""
    sessions = []
    try:
        for _ in range(most):
            sessions.append(login(config, user, password))
    except pymysql.err.OperationalError as e:
        return sessions, e
    return sessions, None


def close_all(*groups):
    for group in groups:
        for conn in group:
            conn.close()


def test_idle_sessions_share_the_czar_mariadb(door_cluster):
    sessions = []
    try:
        for i in range(120):
            conn = login(door_cluster)
            sessions.append(conn)
            assert query(conn, "SELECT 1")[1] == [(1,)]
            if i % 10 == 0:
                assert query(conn, "SELECT COUNT(*) FROM Object")[1][0][0] > 0
        # every session still works, one after the other and all open
        for conn in sessions[::7]:
            assert query(conn, "SHOW TABLES")[1]
    finally:
        close_all(sessions)


def test_sessions_per_user_and_the_admin_reserve(door_cluster):
    alice, refused = open_until_refused(door_cluster, "alice", "alice-pw", 140)
    bob = admins = []
    try:
        assert len(alice) == 130 and refused is not None, (len(alice), refused)
        assert refused.args[0] == ER_TOO_MANY_USER_CONNECTIONS, refused.args
        assert "max_user_connections" in refused.args[1]
        # others still log in; bob fills the sessions up to the admin's reserve
        bob, refused = open_until_refused(door_cluster, "bob", "bob-pw", 100)
        assert len(bob) == 200 - 5 - 130 and refused is not None, (len(bob), refused)
        assert refused.args[0] == ER_CON_COUNT_ERROR, refused.args
        # the admin (the default user) has the last 5
        admins, refused = open_until_refused(door_cluster, None, None, 10)
        assert len(admins) == 5 and refused.args[0] == ER_CON_COUNT_ERROR, (len(admins), refused)
        assert query(admins[0], "SELECT COUNT(*) FROM Object")[1][0][0] > 0
        # a wrong password is still 1045, never a count
        with pytest.raises(pymysql.err.OperationalError) as e:
            login(door_cluster, "alice", "wrong")
        assert e.value.args[0] == 1045
    finally:
        close_all(alice, bob, admins)
    # closed sessions are counted out
    conn = login(door_cluster, "alice", "alice-pw")
    assert query(conn, "SELECT 1")[1] == [(1,)]
    conn.close()


def test_running_scans_do_not_hold_the_shared_connections(door_cluster):
    """More slow queries at once than the sessions' pool has connections (4 here): a session
    borrows one only for its statement's checks, so a new client's statements are answered
    while the scans still run (each runs until its 15 s time limit ends it)."""
    import threading
    import time

    ended = []

    def scan():
        conn = login(door_cluster)
        try:
            query(conn, "SET SESSION max_statement_time = 15")
            query(conn, "SELECT COUNT(*) FROM Object WHERE SLEEP(0.05) = 0")
            ended.append("rows")
        except pymysql.err.MySQLError as e:
            ended.append(e.args[0])
        finally:
            conn.close()

    threads = [threading.Thread(target=scan) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.0)   # every scan has passed its checks and runs on the workers
    conn = login(door_cluster)
    assert query(conn, "SELECT 1 + 1")[1] == [(2,)]
    assert query(conn, "SHOW TABLES")[1]
    running = sum(t.is_alive() for t in threads)
    conn.close()
    for t in threads:
        t.join(120)
    assert running == 8, f"the new client waited for {8 - running} scans to end"
    assert ended == [1969] * 8, ended
