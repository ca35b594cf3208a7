"""czar/login.py without a network: the failed-login back-off, password forms, 1045 texts."""

from __future__ import annotations

import asyncio

from mysql_mimic.auth import AuthInfo, Forbidden, NativePasswordAuthPlugin, Success
from mysql_mimic import utils as mimic_utils

from czar.login import PEER_HOST, LoginThrottle, QservIdentityProvider, auth_string


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_backoff_starts_after_max_failures_and_doubles():
    clock = Clock()
    t = LoginThrottle(max_failures=3, max_wait_s=10, clock=clock)
    for _ in range(2):
        t.failed("10.0.0.1", "alice")
        assert t.wait_s("10.0.0.1", "alice") == 0
    t.failed("10.0.0.1", "alice")                 # the 3rd: wait 1 s
    assert t.wait_s("10.0.0.1", "alice") == 1
    clock.now += 1
    assert t.wait_s("10.0.0.1", "alice") == 0
    t.failed("10.0.0.1", "alice")                 # then 2, 4, 8, 10 (the cap), 10
    waits = [t.wait_s("10.0.0.1", "alice")]
    for _ in range(4):
        clock.now += waits[-1]
        t.failed("10.0.0.1", "alice")
        waits.append(t.wait_s("10.0.0.1", "alice"))
    assert waits == [2, 4, 8, 10, 10]


def test_backoff_is_per_address_and_user():
    clock = Clock()
    t = LoginThrottle(max_failures=2, max_wait_s=60, clock=clock)
    for _ in range(2):
        t.failed("10.0.0.1", "alice")
    assert t.wait_s("10.0.0.1", "alice") > 0
    assert t.wait_s("10.0.0.2", "alice") == 0     # another address
    assert t.wait_s("10.0.0.1", "bob") == 0       # another user from the same address


def test_an_address_trying_many_users_waits_too():
    clock = Clock()
    t = LoginThrottle(max_failures=2, max_wait_s=60, clock=clock)
    for i in range(8):                            # 4 x max_failures over all users
        t.failed("10.0.0.1", f"user{i}")
    assert t.wait_s("10.0.0.1", "someone-else") > 0
    assert t.wait_s("10.0.0.9", "someone-else") == 0


def test_success_clears_and_quiet_time_forgets():
    clock = Clock()
    t = LoginThrottle(max_failures=3, max_wait_s=5, clock=clock)
    for _ in range(2):
        t.failed("h", "alice")
    t.succeeded("h", "alice")
    t.failed("h", "alice")
    assert t.wait_s("h", "alice") == 0            # counting started again
    t.failed("h", "alice")
    clock.now += 51                               # 10 x max_wait_s without a failure
    t.failed("h", "alice")
    assert t.wait_s("h", "alice") == 0


def test_auth_string_forms():
    assert auth_string("") is None
    plain = auth_string("s3cret")
    assert plain == NativePasswordAuthPlugin.create_auth_string("s3cret")
    # MariaDB's PASSWORD('s3cret') form is taken as is
    assert auth_string("*" + plain.upper()) == plain


def _login(provider, user, password, host="192.0.2.7"):
    """Drive the auth plugin as mysql-mimic does for a handshake that names the plugin."""
    async def go():
        PEER_HOST.set(host)
        plugin = provider.get_default_plugin()
        nonce = mimic_utils.nonce(20)
        scramble = _scramble(password, nonce) if password else b""
        info = AuthInfo(username=user, data=scramble, user=await provider.get_user(user),
                        connect_attrs={}, client_plugin_name=plugin.name,
                        handshake_auth_data=nonce + b"\0", handshake_plugin_name=plugin.name)
        decision, _ = await plugin.start(info)
        return decision
    return asyncio.run(go())


def _scramble(password: str, nonce: bytes) -> bytes:
    from hashlib import sha1
    p1 = sha1(password.encode()).digest()
    return mimic_utils.xor(p1, sha1(nonce + sha1(p1).digest()).digest())


def test_unknown_user_and_wrong_password_look_the_same():
    provider = QservIdentityProvider({"alice": "right", "nopw": ""})
    assert isinstance(_login(provider, "alice", "right"), Success)
    assert isinstance(_login(provider, "nopw", ""), Success)
    wrong, unknown = _login(provider, "alice", "wrong"), _login(provider, "mallory", "wrong")
    assert isinstance(wrong, Forbidden) and isinstance(unknown, Forbidden)
    assert wrong.msg == "Access denied for user 'alice'@'192.0.2.7' (using password: YES)"
    assert unknown.msg == "Access denied for user 'mallory'@'192.0.2.7' (using password: YES)"
    assert _login(provider, "mallory", "").msg.endswith("(using password: NO)")
    assert isinstance(_login(provider, "nopw", "something"), Forbidden)


def test_blocked_login_is_refused_even_with_the_right_password():
    clock = Clock()
    provider = QservIdentityProvider({"alice": "right"}, LoginThrottle(2, 60, clock))
    for _ in range(2):
        assert isinstance(_login(provider, "alice", "wrong"), Forbidden)
    blocked = _login(provider, "alice", "right")
    assert isinstance(blocked, Forbidden) and "too many failed logins" in blocked.msg
    assert isinstance(_login(provider, "alice", "right", host="192.0.2.8"), Success)
    clock.now += 1
    assert isinstance(_login(provider, "alice", "right"), Success)
