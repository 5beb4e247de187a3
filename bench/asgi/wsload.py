"""WebSocket echo load: CONNECTIONS clients, each with one message in flight at a time.

Run as its own process (pinned to the client core by ``run.py``), it opens every
connection with a real upgrade handshake, then for DURATION seconds sends a masked text
frame and waits for the echo before sending the next, and prints one line,
``WSJSON {"messages": N, "seconds": S, "errors": E}``. Frames are prebuilt and replies
parsed with a few byte compares, so the client costs far less per message than any
server it loads; ping frames from the server are answered with a pong.

    python bench/asgi/wsload.py ws://127.0.0.1:8000/ws --connections 64 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from typing import cast
from urllib.parse import urlsplit

MARKER = "WSJSON "
_MASK = b"\x11\x22\x33\x44"


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (RFC 6455 §5.2: clients mask), final, payload under 126 bytes."""
    if len(payload) >= 126:
        raise ValueError("wsload sends messages of up to 125 bytes")
    masked = bytes(b ^ _MASK[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + _MASK + masked


class EchoClient(asyncio.Protocol):
    """One connection: handshake, then send, await the echo, count it, send again."""

    def __init__(self, request: bytes, frame: bytes, stats: dict[str, int]) -> None:
        self.request = request
        self.frame = frame
        self.stats = stats
        self.buffer = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.counting = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats["errors"] += 1 if self.counting else 0
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))

    def start(self) -> None:
        assert self.transport is not None
        self.transport.write(self.frame)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            if b" 101 " not in status + b" ":
                self.ready.set_exception(ConnectionError(f"no upgrade: {status!r}"))
                return
            del buffer[: end + 4]
            self.upgraded = True
            self.ready.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buffer, transport = self.buffer, self.transport
        assert transport is not None
        while len(buffer) >= 2:
            length, start = buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            opcode = buffer[0] & 0x0F
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode in (1, 2):
                if self.counting:
                    self.stats["messages"] += 1
                transport.write(self.frame)
            elif opcode == 9:
                transport.write(masked_frame(0xA, payload))
            elif opcode == 8:
                transport.close()


async def run(url: str, connections: int, duration: float, message: bytes) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    stats = {"messages": 0, "errors": 0}
    frame = masked_frame(0x1, message)
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(connections):
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        _, client = await loop.create_connection(
            lambda r=request: EchoClient(r, frame, stats), host, port
        )
        clients.append(client)
    await asyncio.wait_for(asyncio.gather(*(c.ready for c in clients)), 30)
    for client in clients:
        client.counting = True
        client.start()
    started = time.perf_counter()
    await asyncio.sleep(duration)
    seconds = time.perf_counter() - started
    counted = stats["messages"]
    for client in clients:
        client.counting = False
        assert client.transport is not None
        client.transport.close()
    return {"messages": counted, "seconds": seconds, "errors": stats["errors"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--message", default="Hello, World!")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(run(args.url, args.connections, args.duration, args.message.encode()))
    print(MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
