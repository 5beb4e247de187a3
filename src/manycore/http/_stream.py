"""Streamed responses: a body produced piece by piece, sent as the client reads it.

An HTTP/1.1 client gets ``Transfer-Encoding: chunked``; an HTTP/1.0 client
gets the bytes as they come and the connection closes at the end (the only
framing HTTP/1.0 has).  Flow control: after each piece, if the transport's
buffer is above ``high_water`` the pump waits for ``transport.drain()``, so a
client that stops reading stops the producer instead of growing memory.  If
the producer fails half-way, the head is already sent and cannot become a
500: the connection is aborted so the client sees a truncated body, not a
complete-looking wrong one.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import LocalProtocolError
from ._head_builder import CLOSE, NO_BODY_STATUSES, build_head, header_block
from ._modes import ConnectionMode
from ._response import RESPONSE_KINDS, Response

__all__ = ["StreamResponse", "pump_stream"]

log = logging.getLogger("manycore.http")


class StreamResponse(Response):
    """See :meth:`Response.stream`."""

    __slots__ = ("chunks",)

    def __init__(
        self,
        chunks: Any,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        content_type: str | None = "application/octet-stream",
    ) -> None:
        if not (hasattr(chunks, "__aiter__") or hasattr(chunks, "__iter__")):
            raise TypeError(
                f"Response.stream() needs an iterable or async iterable of bytes, got "
                f"{type(chunks).__name__}"
            )
        if isinstance(chunks, bytes | str):
            raise TypeError("Response.stream() got bytes/str; use Response(body) instead")
        if status in NO_BODY_STATUSES or (type(status) is int and status < 200):
            # RFC 9112 §6.3: such a response ends with its head; a body would be read
            # as the start of the next response.
            raise LocalProtocolError(
                f"a {status} response has no body; return Response(b'', {status}) "
                "instead of Response.stream()"
            )
        super().__init__(b"", status, headers, content_type)
        self.chunks = chunks

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status}>"

    def head(self, mode: ConnectionMode, chunked: bool) -> tuple[bytes, ConnectionMode]:
        """The response head; HTTP/1.0 (no chunked coding) forces a close at the end."""
        extra = header_block(self.headers)
        if not chunked or (extra is not None and extra.close):
            mode = CLOSE
        content_type = self.content_type or None
        return build_head(self.status, content_type, mode, extra, chunked=chunked), mode


RESPONSE_KINDS["stream"] = StreamResponse


def _as_bytes(chunk: Any) -> bytes:
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise TypeError(f"a streamed response produced {type(chunk).__name__}; yield bytes or str")


async def pump_stream(
    resp: StreamResponse, transport: Any, chunked: bool, head_only: bool, high_water: int
) -> bool:
    """Send the body of ``resp``; True when complete, False when the connection must abort."""
    source = resp.chunks
    try:
        if head_only:
            return True
        if hasattr(source, "__aiter__"):
            async for chunk in source:
                if not await _send(transport, _as_bytes(chunk), chunked, high_water):
                    return False
        else:
            for chunk in source:
                if not await _send(transport, _as_bytes(chunk), chunked, high_water):
                    return False
        if chunked:
            transport.write(b"0\r\n\r\n")
        return True
    except Exception:
        log.exception("streamed response body failed part-way; aborting the connection")
        return False
    finally:
        closer = getattr(source, "aclose", None) or getattr(source, "close", None)
        if closer is not None:
            try:
                result = closer()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("closing a streamed response's source failed")


async def _send(transport: Any, data: bytes, chunked: bool, high_water: int) -> bool:
    if transport.is_closing():
        return False
    if not data:
        return True
    if chunked:
        transport.writelines([b"%x\r\n" % len(data), data, b"\r\n"])
    else:
        transport.write(data)
    if transport.get_write_buffer_size() > high_water:
        await transport.drain()
    return not transport.is_closing()
