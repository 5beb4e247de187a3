"""The cost of handing a request from the event loop to a pool thread and back.

A WSGI request served on an event loop crosses threads twice: the loop gives the app call to a
pool thread, and the thread gives the finished response back.  This measures that round trip
alone (the "app" returns at once) for the ways it can be done, with one request in flight and
with many, as event-loop CPU time per request (what a server core pays for the handoff) and
CPU time of the whole process (the pool's threads too); then the same for ``asgi_from_wsgi``
as a whole, environ to last body message, on an in-memory ASGI server.

    python bench/wsgi/handoff.py [--requests 20000] [--threads 8]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import queue
import resource
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvloop

from manycore.wsgi import asgi_from_wsgi

THREAD, PROCESS = resource.RUSAGE_THREAD, resource.RUSAGE_SELF


def app() -> bytes:
    return b"Hello, World!"


def _executor(threads: int) -> Callable[[], Awaitable[bytes]]:
    """``loop.run_in_executor``: a concurrent future, wrapped in an asyncio one."""
    pool = concurrent.futures.ThreadPoolExecutor(threads)

    def call() -> Awaitable[bytes]:
        return asyncio.get_running_loop().run_in_executor(pool, app)

    return call


def _queue_and_call_soon(threads: int) -> Callable[[], Awaitable[bytes]]:
    """Own threads on a ``SimpleQueue``; each result comes back by ``call_soon_threadsafe``."""
    jobs: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[bytes]]]
    jobs = queue.SimpleQueue()

    def settle(future: asyncio.Future[bytes], value: bytes) -> None:
        if not future.done():
            future.set_result(value)

    def work() -> None:
        while True:
            loop, future = jobs.get()
            loop.call_soon_threadsafe(settle, future, app())

    for _ in range(threads):
        threading.Thread(target=work, daemon=True).start()

    def call() -> Awaitable[bytes]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        jobs.put((loop, future))
        return future

    return call


def _queue_and_batched_wake(threads: int) -> Callable[[], Awaitable[bytes]]:
    """As above, but finished results wait in a deque and one wake-up settles all of them."""
    jobs: queue.SimpleQueue[asyncio.Future[bytes]] = queue.SimpleQueue()
    done: collections.deque[tuple[asyncio.Future[bytes], bytes]] = collections.deque()
    lock = threading.Lock()
    wake_pending = False
    loop_box: list[asyncio.AbstractEventLoop] = []

    def settle_all() -> None:
        nonlocal wake_pending
        with lock:
            wake_pending = False
            ready = list(done)
            done.clear()
        for future, value in ready:
            if not future.done():
                future.set_result(value)

    def work() -> None:
        nonlocal wake_pending
        while True:
            future = jobs.get()
            value = app()
            with lock:
                done.append((future, value))
                wake = not wake_pending
                wake_pending = True
            if wake:
                loop_box[0].call_soon_threadsafe(settle_all)

    for _ in range(threads):
        threading.Thread(target=work, daemon=True).start()

    def call() -> Awaitable[bytes]:
        loop = asyncio.get_running_loop()
        if not loop_box or loop_box[0] is not loop:
            loop_box[:] = [loop]
        future = loop.create_future()
        jobs.put(future)
        return future

    return call


SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/plaintext",
    "raw_path": b"/plaintext",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"localhost:8080"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8080),
}


def _list_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [app()]


def _generator_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield app()


def _adapter(wsgi_app: Any) -> Callable[[int], Callable[[], Awaitable[bytes]]]:
    """The whole adapter, environ to last body message, on an in-memory ASGI server."""

    def make(threads: int) -> Callable[[], Awaitable[bytes]]:
        adapter = asgi_from_wsgi(wsgi_app, threads=threads)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def call() -> bytes:
            body = []

            async def send(message: Any) -> None:
                body.append(message.get("body", b""))

            await adapter(dict(SCOPE), receive, send)
            return b"".join(body)

        return call

    return make


WAYS = {
    "run_in_executor": _executor,
    "SimpleQueue + call_soon_threadsafe": _queue_and_call_soon,
    "SimpleQueue + one wake per batch": _queue_and_batched_wake,
    "asgi_from_wsgi, list result": _adapter(_list_app),
    "asgi_from_wsgi, generator result": _adapter(_generator_app),
}


async def _drive(call: Callable[[], Awaitable[bytes]], requests: int, in_flight: int) -> None:
    async def client(count: int) -> None:
        for _ in range(count):
            assert await call() == b"Hello, World!"

    await asyncio.gather(*(client(requests // in_flight) for _ in range(in_flight)))


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _measure(way: str, threads: int, requests: int, in_flight: int) -> tuple[float, ...]:
    """Microseconds per request: wall time, the loop thread's CPU, the whole process's CPU."""
    call = WAYS[way](threads)
    uvloop.run(_drive(call, 2000, in_flight))  # warm-up: threads started, code paths hot
    wall, loop_cpu, process_cpu = time.perf_counter(), _cpu(THREAD), _cpu(PROCESS)
    uvloop.run(_drive(call, requests, in_flight))
    return tuple(
        (end - start) / requests * 1e6
        for start, end in (
            (wall, time.perf_counter()),
            (loop_cpu, _cpu(THREAD)),
            (process_cpu, _cpu(PROCESS)),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"median of {args.rounds}, microseconds per request")
    print("| handoff | in flight | wall | loop thread CPU | process CPU |")
    print("|---|--:|--:|--:|--:|")
    for in_flight in (1, 64):
        for way in WAYS:
            runs = [
                _measure(way, args.threads, args.requests, in_flight) for _ in range(args.rounds)
            ]
            wall, loop_cpu, process_cpu = (statistics.median(r[i] for r in runs) for i in range(3))
            print(f"| {way} | {in_flight} | {wall:.1f} | {loop_cpu:.1f} | {process_cpu:.1f} |")


if __name__ == "__main__":
    main()
