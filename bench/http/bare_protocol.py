"""The Python ceiling: a bare asyncio.Protocol on uvloop with the httptools parser.

Serves the two TechEmpower endpoints and nothing else, doing the least work per request
that still answers correctly:

- routing is one bytes compare on the URL;
- the whole plaintext response, and the json header block, are rebuilt once a second
  (only the Date header changes), never per request;
- the json body is a new dict serialised by msgspec on every request, as the TechEmpower
  rules require;
- every response produced by one read (a pipelined batch) leaves in one ``write``.

It keeps just enough HTTP to be honest: keep-alive follows ``should_keep_alive()``
(HTTP/1.0 and ``Connection: close`` close after the answer), a URL split across reads is
joined, unknown paths get 404 and a malformed request gets 400 and a close.

Run: ``python bench/http/bare_protocol.py --port 8080`` (prints a ``listening on`` line).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from email.utils import formatdate

import httptools
import msgspec
import uvloop

_encode_json = msgspec.json.Encoder().encode

_PLAIN_BODY = b"Hello, World!"
_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nServer: bare\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 9\r\n\r\nNot Found"
)
_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nServer: bare\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 11\r\nConnection: close\r\n\r\nBad Request"
)


class _Responses:
    """Response bytes that depend only on the current second (the Date header)."""

    plaintext = b""
    json_head = b""

    @classmethod
    def refresh(cls) -> None:
        date = formatdate(usegmt=True).encode("ascii")
        common = b"HTTP/1.1 200 OK\r\nServer: bare\r\nDate: " + date + b"\r\n"
        cls.plaintext = (
            common
            + b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(_PLAIN_BODY)
            + _PLAIN_BODY
        )
        cls.json_head = common + b"Content-Type: application/json\r\nContent-Length: "


def _refresh_every_second(loop: asyncio.AbstractEventLoop) -> None:
    _Responses.refresh()
    loop.call_later(1.0, _refresh_every_second, loop)


class BareHttp(asyncio.Protocol):
    """One instance per connection; the parser calls back into it (on_url, on_message_complete)."""

    __slots__ = ("close_after", "out", "parser", "transport", "url")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.url: bytes | None = None
        self.out: list[bytes] = []
        self.close_after = False

    # httptools callbacks ------------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        # Called more than once only when the request line is split across reads.
        self.url = url if self.url is None else self.url + url

    def on_message_complete(self) -> None:
        url = self.url
        self.url = None
        if url == b"/plaintext":
            self.out.append(_Responses.plaintext)
        elif url == b"/json":
            body = _encode_json({"message": "Hello, World!"})
            self.out.append(_Responses.json_head + b"%d\r\n\r\n" % len(body) + body)
        else:
            self.out.append(_NOT_FOUND)
        if not self.parser.should_keep_alive():
            self.close_after = True

    # asyncio callbacks --------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            # Malformed input, or an Upgrade/CONNECT this server does not speak.
            self.out.append(_BAD_REQUEST)
            self.close_after = True
        out = self.out
        if out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
        if self.close_after:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    """Listen until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    _refresh_every_second(loop)
    server = await loop.create_server(BareHttp, host, port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()
    print(f"bare: listening on http://{bound[0]}:{bound[1]}", file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
