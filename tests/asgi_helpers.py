"""An ASGI application on an in-memory connection with a real event loop, and response parsing."""

from __future__ import annotations

import asyncio
from typing import Any

from manycore.asgi import asgi_server
from manycore.testing import MemoryTransport, connect, feed


class Connection:
    """One in-memory connection to ``app``; what the app awaits runs on a real (idle) loop."""

    def __init__(self, app: Any, **settings: Any) -> None:
        self.loop = asyncio.new_event_loop()
        settings.setdefault("task_per_request", False)
        self.cls = asgi_server(app, lifespan="off", **settings)
        self.protocol = self.cls()
        self.transport = MemoryTransport()
        self.transport.loop = self.loop
        connect(self.protocol, self.transport)

    def send(self, data: bytes) -> None:
        # Fed from a loop callback, as a socket read is: the loop runs, no Task does.
        self.loop.call_soon(feed, self.protocol, data, self.transport)
        self.settle()

    def settle(self) -> None:
        """Let the application run until it waits for input (or ends)."""
        for _ in range(30):
            self.loop.run_until_complete(asyncio.sleep(0))

    def take(self) -> bytes:
        return self.transport.take()

    def run_until(self, predicate: Any, timeout: float = 10.0) -> None:
        """Run the loop until ``predicate()`` holds (work done in threads reports through it)."""

        async def wait() -> None:
            while not predicate():
                await asyncio.sleep(0.005)

        self.loop.run_until_complete(asyncio.wait_for(wait(), timeout))

    @property
    def closing(self) -> bool:
        """The connection answers nothing more (it closes, perhaps after lingering)."""
        return bool(self.protocol._connection.closing)

    def close(self) -> None:
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.settle()
        self.loop.close()


def exchange(app: Any, pieces: list[bytes], **settings: Any) -> tuple[bytes, bool]:
    """Feed ``pieces`` as separate reads; returns what was sent and whether it is closing.

    After an error answer the connection lingers (reads and drops input) for a second
    before it closes; closing means it answers nothing more.
    """
    conn = Connection(app, **settings)
    try:
        for piece in pieces:
            conn.send(piece)
        return conn.take(), conn.transport.closed or conn.closing
    finally:
        conn.close()


def splits(data: bytes) -> list[list[bytes]]:
    """``data`` whole, byte by byte, and split in two at every boundary."""
    ways = [[data], [data[i : i + 1] for i in range(len(data))]]
    ways += [[data[:i], data[i:]] for i in range(1, len(data))]
    return ways


def parse_responses(data: bytes) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Split a byte stream into (status, headers with lower-case names, body) responses."""
    responses = []
    while data:
        end = data.index(b"\r\n\r\n")
        head, data = data[:end], data[end + 4 :]
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if status == 100:
            responses.append((status, headers, b""))
            continue
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            body, data = data[:length], data[length:]
        elif headers.get(b"transfer-encoding") == b"chunked":
            body = b""
            while True:
                eol = data.index(b"\r\n")
                size = int(data[:eol], 16)
                body += data[eol + 2 : eol + 2 + size]
                data = data[eol + 4 + size :]
                if size == 0:
                    break
        else:
            body, data = data, b""
        responses.append((status, headers, body))
    return responses
