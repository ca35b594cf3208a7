"""Issue 15, item 12: logging in on the czar.

On the session cluster: the default user has a generated password (kept 0600 with the other
secrets, and in a my.cnf that clients read); no password, a wrong one and an unknown user all
get MariaDB's 1045. On a cluster of its own: several users from the config, the failed-login
back-off, and TLS on the MySQL port and the HTTP API with a certificate made here.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import stat
import subprocess
import time
import urllib.error
import urllib.request

import aiohttp
import pymysql
import pytest

from qserv.config import CLIENT_CNF, CONFIG_FILE, SECRET_FIELDS, SECRETS_FILE
from qserv.admin.ingest_client import IngestClient
from tests.conftest import BASE_PORT, running_cluster

ER_ACCESS_DENIED = 1045
OWN_BASE = BASE_PORT + 700
OWN_FRONTEND = BASE_PORT + 1700


def _connect(config, user, password, **kw):
    return pymysql.connect(host=config.host, port=config.frontend_port, user=user,
                           password=password, connect_timeout=10, **kw)


def _denied(config, user, password) -> str:
    with pytest.raises(pymysql.err.OperationalError) as e:
        _connect(config, user, password)
    assert e.value.args[0] == ER_ACCESS_DENIED, e.value.args
    return e.value.args[1]


def test_default_user_has_a_generated_password(cluster):
    assert len(cluster.password) >= 12
    _connect(cluster, cluster.user, cluster.password).close()
    assert _denied(cluster, cluster.user, "") == \
        f"Access denied for user '{cluster.user}'@'127.0.0.1' (using password: NO)"


def test_unknown_user_and_wrong_password_get_the_same_1045(cluster):
    assert _denied(cluster, cluster.user, "wrong") == \
        f"Access denied for user '{cluster.user}'@'127.0.0.1' (using password: YES)"
    assert _denied(cluster, "nobody", "wrong") == \
        "Access denied for user 'nobody'@'127.0.0.1' (using password: YES)"


def test_secrets_are_private_and_not_in_the_config(cluster):
    root = cluster.root
    for name in (SECRETS_FILE, CLIENT_CNF):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name
    public = json.loads((root / CONFIG_FILE).read_text())
    assert not set(SECRET_FIELDS) & set(public)
    assert cluster.password not in (root / CONFIG_FILE).read_text()
    assert cluster.grpc_token not in (root / CONFIG_FILE).read_text()


def test_clients_log_in_with_the_cluster_option_file(demo_cluster):
    cnf = str(demo_cluster.root / CLIENT_CNF)
    conn = pymysql.connect(read_default_file=cnf, database="demo")
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM Filter")
        assert cur.fetchone()[0] == 6
    conn.close()
    cli = shutil.which("mariadb")
    if cli:
        out = subprocess.run([cli, f"--defaults-extra-file={cnf}", "--batch", "--skip-column-names",
                              "demo", "-e", "SELECT COUNT(*) FROM Filter"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.strip() == "6", out.stderr


# ---- a cluster of its own: users, back-off, TLS ------------------------------------------
def _certificate(directory) -> tuple[str, str]:
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory):
    from hashlib import sha1
    certs = tmp_path_factory.mktemp("certs")
    cert, key = _certificate(certs)
    bob_hash = "*" + sha1(sha1(b"bobs-secret").digest()).hexdigest().upper()  # PASSWORD('...')
    with running_cluster(tmp_path_factory.mktemp("login-cluster"), 1, OWN_FRONTEND, OWN_BASE,
                         users={"alice": "alices-secret", "bob": bob_hash},
                         tls_cert=cert, tls_key=key,
                         login_max_failures=3, login_max_wait_s=30) as config:
        yield config


def test_several_users_from_the_config(own_cluster):
    for user, password in ((own_cluster.user, own_cluster.password),
                           ("alice", "alices-secret"), ("bob", "bobs-secret")):
        conn = _connect(own_cluster, user, password)
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0].split("@")[0] == user
        conn.close()
    _denied(own_cluster, "bob", "alices-secret")


def test_failed_logins_back_off(own_cluster):
    for _ in range(3):
        _denied(own_cluster, "alice", "guess")
    # blocked: even the right password is not checked now
    message = _denied(own_cluster, "alice", "alices-secret")
    assert "too many failed logins" in message
    # other users from the same address are not locked out
    _connect(own_cluster, "bob", "bobs-secret").close()
    time.sleep(1.2)   # the first wait is 1 s
    _connect(own_cluster, "alice", "alices-secret").close()


def test_tls_on_the_mysql_port(own_cluster):
    """(mysql-mimic 3.0.5 alone hangs here: czar/login.py, start_tls_keeping_early_bytes.)"""
    conn = _connect(own_cluster, own_cluster.user, own_cluster.password,
                    ssl={"ca": own_cluster.tls_cert})
    assert isinstance(conn._sock, ssl.SSLSocket) and conn._sock.version().startswith("TLS")
    with conn.cursor() as cur:
        cur.execute("SELECT 1 + 1")
        assert cur.fetchone()[0] == 2
    conn.close()
    # a client that does not use TLS still logs in (the native password is never sent)
    plain = _connect(own_cluster, own_cluster.user, own_cluster.password, ssl_disabled=True)
    assert not isinstance(plain._sock, ssl.SSLSocket)
    plain.close()


def test_tls_on_the_http_api(own_cluster):
    url = f"://{own_cluster.host}:{own_cluster.http_port}/meta/version"
    context = ssl.create_default_context(cafile=own_cluster.tls_cert)
    with urllib.request.urlopen("https" + url, context=context, timeout=10) as r:
        assert json.loads(r.read())["success"] == 1
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen("http" + url, timeout=10).read()

    async def through_the_ingest_client():   # what `qserv ingest` uses
        async with aiohttp.ClientSession() as session:
            client = IngestClient.for_config(own_cluster, session)
            assert client.base.startswith("https://")
            return await client.call("GET", "/meta/version")
    assert asyncio.run(through_the_ingest_client())["success"] == 1
