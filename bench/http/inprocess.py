"""The Python cost of a request, in process: no sockets, no system calls, no other load.

What compiling changes is Python work, which a loaded two-core machine hides in wrk's
figures; this measures it alone, in CPU time of the calling thread (so another process
taking the core does not count), best of several rounds.  Reads go where the event loop
would send them (``manycore.testing``: the adapter's ``data_received``, which is the
connection's own reader once it reads directly), answers are dropped.  ``bare`` is the bare
protocol's ``data_received`` with its writes dropped, for scale.

    python bench/http/inprocess.py        # the build on sys.path: see `manycore --version`
    PYTHONPATH=/other/src python bench/http/inprocess.py
    python bench/http/inprocess.py --c-io # the clock and the write in C, as on the wire

By default the in-memory transport's clock and write are Python functions, which cost
manycore about 0.2 us per read that a socket does not (bare's write is one Python
function).  ``--c-io`` gives both sides C ones, as uvloop does: manycore reads uvloop's
``loop.time`` and writes with a list's ``append``, and so does bare.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bare_protocol
from manycore_app import App

from manycore.http import HttpServer, Request, Response, route
from manycore.http._build import hot_path_build
from manycore.testing import MemoryTransport, connect

HEAD = b" HTTP/1.1\r\nHost: localhost:8080\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n"
READS = 2000
ROUNDS = 7


class Routed(HttpServer):
    """The full path: a parameter, a query string, a header, no cached answer."""

    @route("/items/{id:int}")
    def item(self, request: Request, id: int) -> Response:
        return Response(b"item %d" % id, headers=[("X-Id", str(id))], content_type="text/plain")


def per_request(feed: Callable[[bytes], object], data: bytes, requests: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.thread_time()
        for _ in range(READS):
            feed(data)
        best = min(best, (time.thread_time() - start) / (READS * requests))
    return best * 1e6


def manycore(app: HttpServer, data: bytes, requests: int, c_io: bool = False) -> float:
    transport = MemoryTransport(loop=_uvloop_loop() if c_io else None)
    output: Any = transport.output
    if c_io:
        # What the loop transport's write would get, whichever layer writes (a connection
        # that reads directly takes it when connected; an older adapter holds its own).
        output = []
        transport.direct_write = output.append
    connect(app, transport)
    adapter = transport.adapter
    assert adapter is not None
    if c_io:
        adapter._raw_write = output.append
    clear = output.clear

    def feed(read: bytes) -> None:
        adapter.data_received(read)
        clear()

    return per_request(feed, data, requests)


def _uvloop_loop() -> Any:
    import uvloop

    return uvloop.new_event_loop()


class _Sink:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


class _ListSink:
    """A transport whose write is a list's append (C), emptied after each read."""

    __slots__ = ("write",)

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.write = write


def bare(data: bytes, requests: int, c_io: bool = False) -> float:
    bare_protocol._Responses.refresh()
    protocol = bare_protocol.BareHttp()
    if not c_io:
        protocol.connection_made(_Sink())  # type: ignore[arg-type]
        return per_request(protocol.data_received, data, requests)
    written: list[bytes] = []
    protocol.connection_made(_ListSink(written.append))  # type: ignore[arg-type]
    data_received = protocol.data_received
    clear = written.clear

    def feed(read: bytes) -> None:
        data_received(read)
        clear()

    return per_request(feed, data, requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--c-io", action="store_true", help="a C clock and a C write on both sides, as on the wire"
    )
    c_io = parser.parse_args().c_io
    io = "C clock and write" if c_io else "the in-memory transport"
    print(f"HTTP hot path: {hot_path_build()}; {io}; microseconds of CPU per request")
    print("| test | manycore | bare | manycore ÷ bare (speed) |")
    print("| --- | --: | --: | --: |")
    for path in ("/plaintext", "/json"):
        for depth in (1, 16):
            data = (b"GET " + path.encode() + HEAD) * depth
            ours, theirs = manycore(App(), data, depth, c_io), bare(data, depth, c_io)
            name = f"{path[1:]} x{depth}" if depth > 1 else path[1:]
            print(f"| {name} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f} |")
    for depth in (1, 16):
        data = (b"GET /items/42?x=1" + HEAD) * depth
        print(f"| routed x{depth} | {manycore(Routed(), data, depth, c_io):.2f} | | |")


if __name__ == "__main__":
    main()
