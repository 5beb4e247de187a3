"""Named states of an HTTP connection.

They are ``IntEnum`` members, and the hot path compares against the module
constants below (bound once), so naming them costs nothing per request: an
``IntEnum`` hashes, compares and indexes as the int it is.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["BIG_BODY", "BIG_FILE", "CLOSE", "KEEP", "NO_BIG_OUTPUT", "BigOutput", "ConnectionMode"]


class ConnectionMode(IntEnum):
    """How a response ends its head, and whether the connection goes on after it.

    A persistent connection says "keep-alive" explicitly (as nginx does): HTTP/1.0
    clients need it, HTTP/1.1 ones ignore it, and the fast path then never needs the
    request's version.
    """

    KEEP = 0  # "Connection: keep-alive": more requests may follow
    CLOSE = 1  # "Connection: close": the server closes after this response


class BigOutput(IntEnum):
    """What one read sent that makes the write buffer worth a look (false: nothing)."""

    NONE = 0
    BODY = 1  # a large body went out in this read
    FILE = 2  # a file did (sent with sendfile, behind the buffered output)


KEEP = ConnectionMode.KEEP
CLOSE = ConnectionMode.CLOSE
NO_BIG_OUTPUT = BigOutput.NONE
BIG_BODY = BigOutput.BODY
BIG_FILE = BigOutput.FILE
