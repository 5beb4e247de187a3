"""The Python cost of a request, in process: no sockets, no system calls, no other load.

What compiling changes is Python work, which a loaded two-core machine hides in wrk's
figures; this measures it alone, in CPU time of the calling thread (so another process
taking the core does not count), best of several rounds.  Reads go through the same
adapter a server uses (``manycore.testing``), answers are dropped.  ``bare`` is the bare
protocol's ``data_received`` with its writes dropped, for scale.

    python bench/http/inprocess.py        # the build on sys.path: see `manycore --version`
    PYTHONPATH=/other/src python bench/http/inprocess.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

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


def manycore(app: HttpServer, data: bytes, requests: int) -> float:
    transport = MemoryTransport()
    connect(app, transport)
    adapter = transport.adapter
    assert adapter is not None

    def feed(read: bytes) -> None:
        adapter.data_received(read)
        transport.output.clear()

    return per_request(feed, data, requests)


class _Sink:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def bare(data: bytes, requests: int) -> float:
    bare_protocol._Responses.refresh()
    protocol = bare_protocol.BareHttp()
    protocol.connection_made(_Sink())  # type: ignore[arg-type]
    return per_request(protocol.data_received, data, requests)


def main() -> None:
    print(f"HTTP hot path: {hot_path_build()}; microseconds of CPU per request")
    print("| test | manycore | bare | manycore ÷ bare (speed) |")
    print("| --- | --: | --: | --: |")
    for path in ("/plaintext", "/json"):
        for depth in (1, 16):
            data = (b"GET " + path.encode() + HEAD) * depth
            ours, theirs = manycore(App(), data, depth), bare(data, depth)
            name = f"{path[1:]} x{depth}" if depth > 1 else path[1:]
            print(f"| {name} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f} |")
    for depth in (1, 16):
        data = (b"GET /items/42?x=1" + HEAD) * depth
        print(f"| routed x{depth} | {manycore(Routed(), data, depth):.2f} | | |")


if __name__ == "__main__":
    main()
