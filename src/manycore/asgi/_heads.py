"""Response heads from what an ASGI application sends in ``http.response.start``.

Every field the application gives is checked by the HTTP layer's one header
check (:func:`manycore.http.wire.single_line` and a token check for names), so
no value can add fields of its own or end the head early.  The server decides
the framing (RFC 9112 §6): it writes ``Connection`` itself, ignores a
``Transfer-Encoding`` from the application, and keeps an application's
``Content-Length`` only to frame the body by it.

A head is checked once per (status, headers) per second and cached per
parallel context, without its framing lines: a plaintext response costs a
dict lookup and a concatenation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from ..http.wire import (
    CONNECTION_LINES,
    SERVER,
    LocalProtocolError,
    check_field_name,
    single_line,
    status_line,
)

__all__ = ["NO_BODY_STATUSES", "HeadParts", "HeadStore", "head_parts", "head_store"]

NO_BODY_STATUSES = frozenset({204, 304})
_MAX_CACHED = 256
_SERVER_LINE = b"Server: " + SERVER + b"\r\n"
_KEEP_LINE = CONNECTION_LINES[0]


class HeadParts:
    """A checked head up to its framing: what follows it depends on the body."""

    __slots__ = ("close", "keep_head", "length", "no_body", "prefix")

    def __init__(self, prefix: bytes, length: int | None, close: bool, no_body: bool) -> None:
        self.prefix = prefix  # status line and fields, without Connection or framing
        self.length = length  # the application's Content-Length, if it gave one
        self.close = close  # the application asked to close the connection
        self.no_body = no_body  # 1xx, 204, 304: never a body (RFC 9110 §6.4.1)
        # The whole head of the commonest case: a declared length on a kept connection.
        self.keep_head = (
            prefix + b"Content-Length: %d\r\n%s\r\n" % (length, _KEEP_LINE)
            if length is not None and not close
            else None
        )


class HeadStore:
    """One parallel context's checked heads, for the current Date line."""

    __slots__ = ("date_line", "heads")

    def __init__(self) -> None:
        self.date_line = b""
        self.heads: dict[tuple[Any, tuple[Any, ...]], HeadParts] = {}


class _Local(threading.local):
    store: HeadStore | None = None


_local = _Local()


def head_store() -> HeadStore:
    """The calling parallel context's store (a connection fetches it once)."""
    store = _local.store
    if store is None:
        store = _local.store = HeadStore()
    return store


def head_parts(
    status: Any, headers: Iterable[Any], date_line: bytes, store: HeadStore
) -> HeadParts:
    """The checked head for ``status`` and ``headers`` (LocalProtocolError if they are bad).

    ``date_line``: the current ``Date`` field line (see :func:`manycore.http.wire.head_cache`).
    """
    heads = store.heads
    if store.date_line is not date_line:
        heads = store.heads = {}
        store.date_line = date_line
    items = headers if type(headers) is tuple else tuple(headers)
    try:
        parts = heads.get((status, items))
    except TypeError:  # unhashable pieces (lists): checked, not cached
        return _build(status, items, date_line)
    if parts is None:
        parts = _build(status, items, date_line)
        if len(heads) < _MAX_CACHED:
            heads[(status, items)] = parts
    return parts


def _build(status: Any, headers: Iterable[Any], date_line: bytes) -> HeadParts:
    if type(status) is not int or not 200 <= status <= 999:
        raise LocalProtocolError(
            f"http.response.start status must be an int from 200 to 999, got {status!r}"
        )
    lines = [status_line(status)]
    length: int | None = None
    close = server = date = False
    fields: list[bytes] = []
    for pair in headers:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise LocalProtocolError(
                f"a response header must be a [name, value] pair of bytes, got {pair!r}"
            ) from None
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise LocalProtocolError(
                f"response header names and values must be bytes, got {name!r}: {value!r}"
            )
        check_field_name(name)
        single_line(value, f"response header {name.decode('latin-1')} value")
        lower = name.lower()
        if lower == b"content-length":
            text = value.strip()
            if not text.isdigit() or (length is not None and int(text) != length):
                raise LocalProtocolError(f"Content-Length {value!r} is not one byte count")
            length = int(text)
            continue
        if lower == b"connection":
            close = close or b"close" in value.lower()
            continue
        if lower == b"transfer-encoding":
            continue  # the server frames the body itself
        if lower == b"server":
            server = True
        elif lower == b"date":
            date = True
        fields.append(b"%s: %s\r\n" % (name, value))
    if not server:
        lines.append(_SERVER_LINE)
    if not date:
        lines.append(date_line)
    lines += fields
    no_body = status in NO_BODY_STATUSES or status < 200
    return HeadParts(b"".join(lines), None if no_body else length, close, no_body)
