"""Errors that reach MySQL clients: every failure carries a MariaDB error code.

Clients (the `mariadb` CLI, pymysql, SQLAlchemy) branch on the numeric code, so we reuse
MariaDB's own numbers wherever a MariaDB server would have failed the same way.
"""

from __future__ import annotations

# MariaDB error codes we raise ourselves (the rest are passed through from MariaDB).
ER_UNKNOWN_ERROR = 1105
ER_BAD_DB_ERROR = 1049
ER_NO_DB_ERROR = 1046
ER_PARSE_ERROR = 1064
ER_NO_SUCH_TABLE = 1146
ER_BAD_FIELD_ERROR = 1054
ER_NOT_SUPPORTED_YET = 1235
ER_OPTION_PREVENTS_STATEMENT = 1290
ER_QUERY_INTERRUPTED = 1317
ER_TOO_BIG_RESULT = 1104  # ER_TOO_BIG_SELECT: the closest MariaDB code for "result too large"
ER_WORKER_FAILED = 1105


class QservError(Exception):
    """A failure with a MariaDB error code and a message meant for the person who typed the SQL."""

    def __init__(self, code: int, message: str):
        super().__init__(f"({code}) {message}")
        self.code = code
        self.message = message


def not_supported(construct: str, hint: str = "") -> QservError:
    """The error for valid SQL that Qserv cannot (yet) run distributed; names the construct."""
    text = f"Qserv does not support {construct}"
    if hint:
        text += f": {hint}"
    return QservError(ER_NOT_SUPPORTED_YET, text)
