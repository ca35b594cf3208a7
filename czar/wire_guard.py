"""The MySQL port's guard against malformed or never-ending input (issue 15, items 4 and 5).

mysql-mimic 3.0.5 reads the NUL-terminated strings of client packets with a loop that stops
only at a NUL byte: a login packet whose user name lacks its terminator (44 bytes are enough)
spun the czar's event loop at 100% CPU forever, and with it the MySQL port and the HTTP API.
Its packets module is compiled, so its string reader cannot be replaced inside it; instead
the three parsers that read such strings from a client (the login packet, COM_CHANGE_USER and
COM_FIELD_LIST) are carried here, each read bounded by the packet's end. A short or malformed
packet is MariaDB's 1043 "Bad handshake" at login and 1835 "Malformed communication packet"
afterwards. (Offered upstream: docs/mysql-mimic-upstream.md.)

Two limits bound what one client may hold:
- `connect_timeout` (MariaDB's variable, 10 s by default): a connection that has not finished
  its login (TLS included) by then is answered 1043 and closed, so silent or slow-dripping
  sockets cannot pile up;
- `max_allowed_packet` (MariaDB's, 16 MiB): a client packet larger than that (a statement,
  after the joining of 16 MiB wire pieces) is never held in memory: its bytes are read and
  dropped, the client gets MariaDB's 1153 "Got a packet bigger than 'max_allowed_packet'
  bytes", and the connection is closed, as MariaDB does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from mysql_mimic import connection as mimic_connection
from mysql_mimic import packets
from mysql_mimic.charset import CharacterSet, Collation
from mysql_mimic.connection import Connection
from mysql_mimic.errors import SQLSTATES, ErrorCode, MysqlError
from mysql_mimic.packets import ComChangeUser, ComFieldList, HandshakeResponse41, SSLRequest
from mysql_mimic.stream import ConnectionClosed, MysqlStream
from mysql_mimic.types import Capabilities

from czar.sessions import LoginEnded, SessionRefused

log = logging.getLogger("czar.wire_guard")

ER_HANDSHAKE_ERROR = 1043
ER_NET_PACKET_TOO_LARGE = 1153
ER_MALFORMED_PACKET = 1835
WIRE_PIECE = 0xFFFFFF          # a wire packet's largest payload; a longer one continues
NET_READ_TIMEOUT_S = 30.0      # MariaDB's net_read_timeout: how long an oversize packet is drained
DRAIN_PIECE = 1 << 20
SQLSTATES.update({ER_NET_PACKET_TOO_LARGE: b"08S01", ER_MALFORMED_PACKET: b"08S01"})


@dataclass
class Limits:
    connect_timeout: float = 10.0
    max_allowed_packet: int = 16 << 20


LIMITS = Limits()


class Refused(MysqlError):
    """A MySQL error whose text is only its message (mysql-mimic writes str(e) at login)."""

    def __str__(self) -> str:
        return self.msg


class Malformed(Exception):
    """A field ran past the end of the packet (or could not be decoded)."""


class PacketReader:
    """Reads the fields of one client packet; every read stays within the packet."""

    def __init__(self, data: bytes):
        self.data = bytes(data)
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def fixed(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise Malformed(f"a {n}-byte field runs past the packet's end")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.fixed(n), "little")

    def lenenc_int(self) -> int:
        first = self.uint(1)
        return {0xFC: lambda: self.uint(2), 0xFD: lambda: self.uint(3),
                0xFE: lambda: self.uint(8)}.get(first, lambda: first)()

    def lenenc_bytes(self) -> bytes:
        return self.fixed(self.lenenc_int())

    def nul_bytes(self) -> bytes:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise Malformed("a string lacks its NUL terminator")
        out = self.data[self.pos:end]
        self.pos = end + 1
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out


def _text(charset: CharacterSet, data: bytes) -> str:
    return charset.decode(data)


def _connect_attrs(r: PacketReader, charset: CharacterSet) -> dict[str, str]:
    """Key/value pairs within a length-prefixed block (the block's length bounds them)."""
    block = PacketReader(r.lenenc_bytes())
    attrs = {}
    while not block.at_end():
        key = block.lenenc_bytes()
        attrs[_text(charset, key)] = _text(charset, block.lenenc_bytes())
    return attrs


def _guarded(code: int, message: str):
    """Turn any read or decode failure of a parser into the MySQL error `code`."""
    def wrap(parse):
        def parse_or_refuse(*args, **kw):
            try:
                return parse(*args, **kw)
            except MysqlError:
                raise
            except Exception as e:  # Malformed, a bad collation id, undecodable text
                raise Refused(f"{message} ({e})", code) from None
        parse_or_refuse.__doc__ = parse.__doc__
        return parse_or_refuse
    return wrap


@_guarded(ER_HANDSHAKE_ERROR, "Bad handshake")
def parse_handshake_response(capabilities: Capabilities, data: bytes):
    """The client's login packet (HandshakeResponse41), or its SSLRequest (no user part)."""
    r = PacketReader(data)
    capabilities = capabilities & Capabilities(r.uint(4))
    max_packet_size = r.uint(4)
    charset = Collation(r.uint(1)).charset
    r.fixed(23)  # reserved
    if r.at_end():
        return SSLRequest(max_packet_size=max_packet_size, capabilities=capabilities,
                          client_charset=charset)
    username = _text(charset, r.nul_bytes())
    if Capabilities.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA in capabilities:
        auth_response = r.lenenc_bytes()
    else:
        auth_response = r.fixed(r.uint(1))
    response = HandshakeResponse41(max_packet_size=max_packet_size, capabilities=capabilities,
                                   client_charset=charset, username=username,
                                   auth_response=auth_response)
    if Capabilities.CLIENT_CONNECT_WITH_DB in capabilities:
        response.database = _text(charset, r.nul_bytes())
    if Capabilities.CLIENT_PLUGIN_AUTH in capabilities:
        response.client_plugin = _text(charset, r.nul_bytes())
    if Capabilities.CLIENT_CONNECT_ATTRS in capabilities:
        response.connect_attrs = _connect_attrs(r, charset)
    if Capabilities.CLIENT_ZSTD_COMPRESSION_ALGORITHM in capabilities:
        response.zstd_compression_level = r.uint(1)
    return response


def parse_handshake_response_41(capabilities: Capabilities, data: bytes) -> HandshakeResponse41:
    """The login packet that follows a TLS switch: an SSLRequest again is a bad handshake."""
    response = parse_handshake_response(capabilities, data)
    if not isinstance(response, HandshakeResponse41):
        raise Refused("Bad handshake (a second SSLRequest)", ER_HANDSHAKE_ERROR)
    return response


@_guarded(ER_MALFORMED_PACKET, "Malformed communication packet")
def parse_com_change_user(capabilities: Capabilities, client_charset: CharacterSet,
                          data: bytes) -> ComChangeUser:
    r = PacketReader(data)
    username = _text(client_charset, r.nul_bytes())
    if Capabilities.CLIENT_SECURE_CONNECTION in capabilities:
        auth_response = r.fixed(r.uint(1))
    else:
        auth_response = r.nul_bytes()
    response = ComChangeUser(username=username, auth_response=auth_response,
                             database=_text(client_charset, r.nul_bytes()))
    if not r.at_end():
        if Capabilities.CLIENT_PROTOCOL_41 in capabilities:
            client_charset = Collation(r.uint(2)).charset
            response.client_charset = client_charset
        if Capabilities.CLIENT_PLUGIN_AUTH in capabilities:
            response.client_plugin = _text(client_charset, r.nul_bytes())
        if Capabilities.CLIENT_CONNECT_ATTRS in capabilities:
            response.connect_attrs = _connect_attrs(r, client_charset)
    return response


@_guarded(ER_MALFORMED_PACKET, "Malformed communication packet")
def parse_com_field_list(client_charset: CharacterSet, data: bytes) -> ComFieldList:
    r = PacketReader(data)
    table = _text(client_charset, r.nul_bytes())
    return ComFieldList(table=table, wildcard=_text(client_charset, r.rest()))


# ---- the stream: whole packets, at most max_allowed_packet ---------------------------------
async def read_packet(self: MysqlStream) -> bytes:
    """One client packet (its wire pieces joined). Unlike mysql-mimic's reader it waits for a
    whole header (a 4-byte read may return less), treats a peer gone mid-packet as a closed
    connection, and never holds more than max_allowed_packet bytes."""
    pieces, total = [], 0
    while True:
        try:
            header = await self.reader.readexactly(4)
        except asyncio.IncompleteReadError:
            raise ConnectionClosed() from None
        word = int.from_bytes(header, "little")
        length, sequence_id = word & WIRE_PIECE, word >> 24
        expected = next(self.seq)
        if sequence_id != expected:
            raise MysqlError(f"Expected seq({expected}) got seq({sequence_id})",
                             ErrorCode.MALFORMED_PACKET)
        total += length
        if total > LIMITS.max_allowed_packet:
            pieces.clear()
            await _refuse_oversize(self, length)
        if length:
            try:
                pieces.append(await self.reader.readexactly(length))
            except asyncio.IncompleteReadError:
                raise ConnectionClosed() from None
        if length < WIRE_PIECE:
            return b"".join(pieces)


async def _refuse_oversize(self: MysqlStream, length: int) -> None:
    """Drop the rest of an oversize packet (so the client, which is still sending it, reads
    the answer), answer 1153 and close, as MariaDB does."""
    try:
        async with asyncio.timeout(NET_READ_TIMEOUT_S):
            while True:
                left = length
                while left:
                    data = await self.reader.read(min(left, DRAIN_PIECE))
                    if not data:
                        raise ConnectionClosed()
                    left -= len(data)
                if length < WIRE_PIECE:
                    break
                header = await self.reader.readexactly(4)
                length = int.from_bytes(header, "little") & WIRE_PIECE
                next(self.seq)
        await self.write(packets.make_error(
            msg="Got a packet bigger than 'max_allowed_packet' bytes", code=ER_NET_PACKET_TOO_LARGE))
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass
    log.warning("a client packet exceeded max_allowed_packet (%d bytes): connection closed",
                LIMITS.max_allowed_packet)
    self.writer.close()
    raise ConnectionClosed()


_original_connection_phase = Connection.connection_phase


async def connection_phase_in_time(self: Connection) -> None:
    """mysql-mimic's login, which must end within connect_timeout."""
    try:
        async with asyncio.timeout(LIMITS.connect_timeout):
            await _original_connection_phase(self)
    except SessionRefused as e:  # over a session limit (czar/sessions.py): its own code
        await self.stream.write(self.error(msg=e.msg, code=e.code))
        raise LoginEnded(e.msg) from None
    except TimeoutError:
        raise Refused(f"Bad handshake: no login within connect_timeout "
                         f"({LIMITS.connect_timeout:g} s)", ER_HANDSHAKE_ERROR) from None


def install(connect_timeout: float = 10.0, max_allowed_packet: int = 16 << 20) -> None:
    """Replace mysql-mimic's unbounded readers (idempotent; the limits are the last given)."""
    LIMITS.connect_timeout = connect_timeout
    LIMITS.max_allowed_packet = max_allowed_packet
    packets.parse_handshake_response = parse_handshake_response
    packets.parse_handshake_response_41 = parse_handshake_response_41
    packets.parse_com_change_user = parse_com_change_user
    mimic_connection.parse_com_field_list = parse_com_field_list
    MysqlStream.read = read_packet
    Connection.connection_phase = connection_phase_in_time
