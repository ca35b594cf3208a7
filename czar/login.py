"""Who may log in on the MySQL port: users and passwords, failed-login back-off, TLS.

- Users: the config's default user and its `users` map (qserv/config.py); a password is kept
  as MariaDB keeps it, SHA1(SHA1(password)) (mysql_native_password), or given that way.
- Errors: an unknown user and a wrong password get the same answer, MariaDB's 1045
  "Access denied for user 'u'@'host' (using password: YES)", so a client cannot learn which
  user names exist (mysql-mimic itself says 3162 "User u does not exist").
- Back-off (`LoginThrottle`): after `max_failures` failed logins in a row from one address
  for one user (or 4x as many over all users), that address waits 1 s, then 2, 4, ... up to
  `max_wait_s` before any password of that user is even checked; a success clears it, and
  so does a quiet period of 10 x `max_wait_s` (so typos add up to nothing over a day).
- TLS: with a certificate and key in the config, clients may switch to TLS (mysql-mimic's
  SSLRequest support); `tls_context` builds the context for the HTTP API too.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import secrets
import ssl
import time
from asyncio import sslproto
from dataclasses import dataclass

from mysql_mimic import MysqlServer
from mysql_mimic.errors import MysqlError
from mysql_mimic.stream import ConnectionClosed, MysqlStream
from mysql_mimic import utils as mimic_utils
from mysql_mimic.auth import Forbidden, IdentityProvider, NativePasswordAuthPlugin, Success, User

from czar.sessions import HELD, Held, LoginEnded, SessionLimits

log = logging.getLogger("czar.login")
# The client's address, set when its connection starts (the auth plugin has no other way to it).
PEER_HOST: contextvars.ContextVar[str] = contextvars.ContextVar("peer_host", default="localhost")
MARIADB_HASH = re.compile(r"^\*[0-9A-Fa-f]{40}$")
MAX_ENTRIES = 100_000  # bound on remembered (address, user) pairs: old ones are forgotten
TLS_HANDSHAKE_S = 30


def auth_string(password: str) -> str | None:
    """SHA1(SHA1(password)) in hex, as mysql-mimic compares; a MariaDB hash ("*HEX") as is;
    None for no password."""
    if not password:
        return None
    if MARIADB_HASH.match(password):
        return password[1:].lower()
    return NativePasswordAuthPlugin.create_auth_string(password)


@dataclass
class _Failures:
    count: int = 0
    until: float = 0.0   # no attempt is checked before this time
    last: float = 0.0    # time of the last failure


class LoginThrottle:
    """Failed logins per (address, user) and per address, with an exponential back-off.
    The clock is injectable so the unit test needs no sleeping."""

    def __init__(self, max_failures: int = 5, max_wait_s: float = 60.0, clock=time.monotonic):
        self.max_failures = max(1, max_failures)
        self.max_wait_s = max_wait_s
        self.clock = clock
        self._failures: dict[tuple[str, str | None], _Failures] = {}

    def _limit(self, key) -> int:
        return self.max_failures if key[1] is not None else 4 * self.max_failures

    def wait_s(self, host: str, user: str) -> float:
        """Seconds before an attempt of `user` from `host` is considered again (0: now)."""
        now = self.clock()
        return max([f.until - now for f in (self._failures.get((host, user)),
                                            self._failures.get((host, None))) if f] + [0.0])

    def failed(self, host: str, user: str) -> None:
        now = self.clock()
        if len(self._failures) >= MAX_ENTRIES:
            self._forget_old(now)
        for key in ((host, user), (host, None)):
            f = self._failures.setdefault(key, _Failures())
            if now - f.last > 10 * self.max_wait_s:
                f.count = 0
            f.count, f.last = f.count + 1, now
            over = f.count - self._limit(key)
            if over >= 0:
                f.until = now + min(self.max_wait_s, 2.0 ** over)

    def succeeded(self, host: str, user: str) -> None:
        self._failures.pop((host, user), None)

    def _forget_old(self, now: float) -> None:
        horizon = now - 10 * self.max_wait_s
        kept = sorted(((k, f) for k, f in self._failures.items() if f.last > horizon),
                      key=lambda item: item[1].last)
        self._failures = dict(kept[-MAX_ENTRIES // 2:])


def denied(user: str, host: str, with_password: bool) -> str:
    return (f"Access denied for user '{user}'@'{host}' "
            f"(using password: {'YES' if with_password else 'NO'})")


class ThrottledNativePassword(NativePasswordAuthPlugin):
    """mysql_native_password with MariaDB's 1045 text and the back-off of `LoginThrottle`."""

    def __init__(self, throttle: LoginThrottle, sessions: SessionLimits | None = None):
        self.throttle = throttle
        self.sessions = sessions

    async def auth(self, auth_info=None):
        if auth_info and auth_info.handshake_plugin_name == self.name and auth_info.handshake_auth_data:
            nonce = auth_info.handshake_auth_data.rstrip(b"\x00")  # reuse the handshake's
        else:
            nonce = mimic_utils.nonce(20)
            auth_info = yield nonce + b"\x00"
        host, name = PEER_HOST.get(), auth_info.username
        message = denied(name, host, bool(auth_info.data))
        wait = self.throttle.wait_s(host, name)
        if wait > 0:
            yield Forbidden(f"{message}; too many failed logins: retry in {wait:.0f} s")
        elif self.password_matches(user=auth_info.user, scramble=auth_info.data, nonce=nonce):
            self.throttle.succeeded(host, name)
            if self.sessions is not None:
                self.sessions.admit(name)   # SessionRefused (1040, 1203) when over a limit
            yield Success(auth_info.user.name)
        else:
            self.throttle.failed(host, name)
            yield Forbidden(message)


class QservIdentityProvider(IdentityProvider):
    """The users of the cluster config; an unknown name is a user no password matches, so it
    is refused exactly like a wrong password."""

    def __init__(self, users: dict[str, str], throttle: LoginThrottle | None = None,
                 sessions: SessionLimits | None = None):
        self.auth_strings = {name: auth_string(pw) for name, pw in users.items()}
        self.sessions = sessions
        self.plugins = [ThrottledNativePassword(throttle or LoginThrottle(), sessions)]
        self._nobody = NativePasswordAuthPlugin.create_auth_string(secrets.token_hex(32))

    def get_plugins(self):
        return self.plugins

    async def get_user(self, username: str) -> User:
        known = username in self.auth_strings
        return User(name=username, auth_plugin=NativePasswordAuthPlugin.name,
                    auth_string=self.auth_strings[username] if known else self._nobody)


async def start_tls_keeping_early_bytes(self: MysqlStream, ssl_context: ssl.SSLContext) -> None:
    """mysql-mimic's switch of a client stream to TLS, without losing bytes.

    A client sends its SSLRequest and its TLS ClientHello back to back, so the reader has
    often taken the ClientHello from the socket along with the request; asyncio's start_tls
    (which mysql-mimic 3.0.5 calls) then waits for a ClientHello that already came, and the
    login hangs (60 s, then the connection is dropped). This is asyncio's start_tls with one
    step more: what the reader holds goes to the TLS layer before the socket's next bytes.
    (MysqlStream is compiled, so this replaces its method rather than subclassing it.)"""
    loop = asyncio.get_running_loop()
    transport = self.writer.transport
    early = bytes(self.reader._buffer)
    self.reader._buffer.clear()
    waiter = loop.create_future()
    tls = sslproto.SSLProtocol(loop, transport.get_protocol(), ssl_context, waiter,
                               server_side=True, call_connection_made=False)
    transport.pause_reading()   # nothing reaches the TLS layer before connection_made
    transport.set_protocol(tls)
    loop.call_soon(tls.connection_made, transport)
    if early:
        loop.call_soon(_feed, tls, early)
    loop.call_soon(transport.resume_reading)
    try:
        await asyncio.wait_for(waiter, TLS_HANDSHAKE_S)
    except BaseException:
        transport.close()
        raise
    self.writer._transport = tls._app_transport
    self.reader._transport = tls._app_transport


def _feed(protocol, data: bytes) -> None:
    """Give `data` to a buffered protocol as if it had come from the socket."""
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(len(view))
        n = min(len(buffer), len(view))
        buffer[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]


class PeerAwareServer(MysqlServer):
    """mysql-mimic's server, telling the auth plugin which address a connection comes from
    (and switching to TLS without losing bytes, see start_tls_keeping_early_bytes)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        MysqlStream.start_tls = start_tls_keeping_early_bytes

    async def _client_connected_cb(self, reader, writer):
        peer = writer.get_extra_info("peername")
        PEER_HOST.set(peer[0] if isinstance(peer, tuple) and peer else "localhost")
        held = Held()
        HELD.set(held)
        try:
            return await super()._client_connected_cb(reader, writer)
        except (MysqlError, ConnectionError, TimeoutError, ConnectionClosed, LoginEnded) as e:
            # a login that failed (already answered) or a peer gone: not the server's fault
            log.info("connection from %s ended at login: %s", PEER_HOST.get(), e)
        finally:
            sessions = getattr(self.identity_provider, "sessions", None)
            if sessions is not None:
                sessions.release(held)
            writer.close()


def users_of(config) -> dict[str, str]:
    """Every login of a cluster config: the default user, then `users`."""
    return {config.user: config.password, **(config.users or {})}


def tls_context(cert: str, key: str) -> ssl.SSLContext | None:
    """A server-side TLS context from PEM files (None when TLS is not configured)."""
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key or None)
    return context
