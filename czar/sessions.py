"""How many client sessions may be open at once (issue 15, item 7), with MariaDB's errors:

- at most `max_connections` sessions in all: 1040 "Too many connections";
- the last `reserved_admin_connections` of them only for the admin user, so an operator can
  always log in to look at a czar that clients have filled (MariaDB keeps one extra for SUPER);
- at most `max_user_connections` sessions of one user: 1203 "User u already has more than
  'max_user_connections' active connections".

A session counts from its successful login (the password is checked first: a stranger cannot
use up a user's sessions) to its end; COM_CHANGE_USER moves it to the new user. The count of
each connection is held in a context variable set when its socket opens (`Held`), so the
login plugin can admit it and the server can release it whatever way the connection ends.
"""

from __future__ import annotations

import contextvars
from collections import Counter
from dataclasses import dataclass

from mysql_mimic.errors import SQLSTATES, MysqlError

ER_CON_COUNT_ERROR = 1040
ER_TOO_MANY_USER_CONNECTIONS = 1203
SQLSTATES.update({ER_CON_COUNT_ERROR: b"08004", ER_TOO_MANY_USER_CONNECTIONS: b"42000"})


class SessionRefused(MysqlError):
    """A login over a limit (its text is only the message)."""

    def __str__(self) -> str:
        return self.msg


class LoginEnded(BaseException):
    """The login was refused and answered: the connection ends here. A BaseException so that
    mysql-mimic's connection code, which answers any Exception at login with 1043, lets it by
    (czar/login.py PeerAwareServer catches it)."""


@dataclass
class Held:
    user: str | None = None   # the user this connection counts for (None: not admitted)


HELD: contextvars.ContextVar[Held | None] = contextvars.ContextVar("qserv_session_held",
                                                                   default=None)


class SessionLimits:
    def __init__(self, max_connections: int, max_user_connections: int,
                 reserved_admin: int, admin_user: str):
        self.max_connections = max_connections
        self.max_user_connections = max_user_connections
        self.reserved_admin = max(0, min(reserved_admin, max_connections))
        self.admin_user = admin_user
        self.total = 0
        self.per_user: Counter[str] = Counter()

    def admit(self, user: str) -> None:
        """Count the connection of this context for `user`, or raise SessionRefused."""
        held = HELD.get()
        if held is None:
            held = Held()
            HELD.set(held)
        previous = held.user
        if previous is not None:  # COM_CHANGE_USER: the session moves to the new user
            self.release(held)
        try:
            self._check(user)
        except SessionRefused:
            if previous is not None:
                self._count(previous, held)
            raise
        self._count(user, held)

    def _check(self, user: str) -> None:
        limit = self.max_connections - (0 if user == self.admin_user else self.reserved_admin)
        if self.total >= limit:
            raise SessionRefused("Too many connections", ER_CON_COUNT_ERROR)
        if self.max_user_connections and self.per_user[user] >= self.max_user_connections:
            raise SessionRefused(f"User {user} already has more than 'max_user_connections' "
                                 "active connections", ER_TOO_MANY_USER_CONNECTIONS)

    def _count(self, user: str, held: Held) -> None:
        self.total += 1
        self.per_user[user] += 1
        held.user = user

    def release(self, held: Held | None) -> None:
        if held is None or held.user is None:
            return
        self.total -= 1
        self.per_user[held.user] -= 1
        if not self.per_user[held.user]:
            del self.per_user[held.user]
        held.user = None
