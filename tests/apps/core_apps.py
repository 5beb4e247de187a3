"""Protocol classes the core tests serve through ``manycore serve`` (real sockets)."""

from __future__ import annotations

import asyncio
import json
import os

import manycore
from manycore import aio

STATE = manycore.share({"colours": ["red", "green"], "limits": {"max": 10}})
COUNTER = 0
PLAIN_LIST: list[int] = []


def _reply(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


class Boom:
    """Echo, except that b"boom" raises inside the callback."""

    def data_received(self, transport, data):
        if data.startswith(b"boom"):
            raise RuntimeError("boom requested")
        return data


class BoomHandled(Boom):
    def exception_handler(self, transport, exc):
        return b"handled: " + str(exc).encode() + b"\n"


class AsyncOrdered:
    """Lines "DELAY TEXT": answers TEXT after DELAY seconds, in line order."""

    lines_mode = True

    async def line_received(self, transport, line):
        delay, text = line.split(b" ", 1)
        await asyncio.sleep(float(delay))
        return text + b"\n"


class FileSender:
    """Lines "PATH OFFSET NBYTES" (NBYTES may be -): that range, framed by < and >."""

    lines_mode = True

    def line_received(self, transport, line):
        path, offset, nbytes = line.decode().split(" ")
        transport.sendfile_ranged(
            b"<", path, b">", int(offset), None if nbytes == "-" else int(nbytes)
        )


class WholeFile:
    """Any read: the file named by the read, with the transport's sendfile()."""

    def data_received(self, transport, data):
        transport.sendfile(b"[", data.decode().strip(), b"]")
        transport.close()


def where_am_i(tag):
    return {
        "tag": tag,
        "parallel": manycore.in_parallel_context(),
        "worker": manycore.worker_index(),
        "pid": os.getpid(),
    }


class Context:
    """Lines: "who" -> this context; "main" / "main-wait" -> the main context, via the link."""

    lines_mode = True

    async def line_received(self, transport, line):
        here = where_am_i("here")
        if line == b"who":
            return _reply(here)
        if line == b"main":
            there = await asyncio.wrap_future(manycore.call_from_main_thread(where_am_i, "main"))
            return _reply([here, there])
        if line == b"main-wait":
            return _reply([here, manycore.call_from_main_thread_and_wait(where_am_i, "wait")])
        if line == b"lambda":
            try:
                manycore.call_from_main_thread(lambda: 1)
            except TypeError as exc:
                return _reply({"error": str(exc)})
        if line == b"main-only":
            try:
                manycore.run()
            except manycore.ParallelContextError as exc:
                return _reply({"error": str(exc)})
        if line == b"stats":
            return _reply(manycore.stats.snapshot())
        return b"?\n"


class Mutator:
    """Lines name a mutation of shared state; the answer is the error it raised."""

    lines_mode = True

    def line_received(self, transport, line):
        attempts = {
            b"dict-set": lambda: STATE.__setitem__("new", 1),
            b"dict-update": lambda: STATE.update(x=1),
            b"list-append": lambda: STATE["colours"].append("blue"),
            b"nested-set": lambda: STATE["limits"].__setitem__("max", 99),
        }
        try:
            attempts[line]()
        except manycore.ParallelContextError as exc:
            return _reply({"error": str(exc), "state": STATE})
        return _reply({"error": None})


class Rebinder:
    """Lines: "rebind" rebinds a module global; "mutate" appends to a plain global list."""

    lines_mode = True

    def line_received(self, transport, line):
        global COUNTER
        if line == b"rebind":
            COUNTER += 1
        elif line == b"mutate":
            PLAIN_LIST.append(1)
        return _reply({"counter": COUNTER, "list": len(PLAIN_LIST)})


class SlowAsync:
    """Each read is answered after one second (graceful-stop tests)."""

    async def data_received(self, transport, data):
        print(f"slow callback started: {data.decode(errors='replace')}", flush=True)
        await asyncio.sleep(1.0)
        return b"done:" + data


class Crash:
    """ "die" ends this worker process abruptly; anything else reports the pid."""

    lines_mode = True

    def line_received(self, transport, line):
        if line == b"die":
            os._exit(3)
        return _reply({"pid": os.getpid()})


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Work:
    """ "N" -> fib(N) computed by submit_work, with the callback's context reported."""

    lines_mode = True

    async def line_received(self, transport, line):
        seen = {}
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def callback(result):
            seen["callback_parallel"] = manycore.in_parallel_context()
            done.set_result(result)

        manycore.submit_work(fib, int(line), callback=callback)
        return _reply({"fib": await done, **seen})


class Ticker:
    """Sends "tick N" three times, 50 ms apart, from a timer; then closes."""

    def connection_made(self, transport):
        self.ticks = 0

        def tick():
            self.ticks += 1
            transport.write(b"tick %d\n" % self.ticks)
            if self.ticks == 3:
                self.timer.cancel()
                transport.close()

        self.timer = manycore.timer(0.05, tick, repeat=True)


class AioWriter:
    """Lines "write PATH N" / "read PATH" use manycore.aio; "ping" answers at once."""

    lines_mode = True

    async def line_received(self, transport, line):
        if line == b"ping":
            return b"pong\n"
        command, path, *size = line.decode().split(" ")
        if command == "read":
            return _reply({"read": len(await aio.read_file(path))})
        async with await aio.open(path, "wb") as f:
            written = await f.write(b"x" * int(size[0]))
        return _reply({"written": written})


_main_ticks = []  # main-context-only state: touched only by main-context code


def _main_tick():
    _main_ticks.append(manycore.in_parallel_context())


def main_ticks():
    return list(_main_ticks)


manycore.timer(0.05, _main_tick, repeat=True)  # made in the main context at import


class MainTimer:
    """Any line: the main context's timer ticks so far (each records its context)."""

    lines_mode = True

    async def line_received(self, transport, line):
        return _reply(await asyncio.wrap_future(manycore.call_from_main_thread(main_ticks)))
