"""Flow control: a client that pipelines without reading gets bounded work, not unbounded memory.

One connection runs in memory on a private event loop, over a transport whose
write buffer and file send the test fills and empties, as a slow reader
would.  What a user relies on: past ``max_pipeline`` waiting async handlers,
``write_buffer_limit`` bytes of output, or a file send in flight, the server
stops reading; input that arrives meanwhile is kept, unparsed; once the client
catches up, reading resumes and every request is answered, in order.  Nothing
here waits for time: the loop runs until a condition holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from manycore.http import FileResponse, HttpServer, Request, route
from manycore.testing import MemoryTransport, feed
from manycore.testing import connect as connect_in_memory
from test_http_apps import request, split_responses

pytestmark = pytest.mark.timeout(60)

BIG = 70_000  # above the size that makes an answer "large"
LIMIT = 100_000


class SlowReader(MemoryTransport):
    """A transport whose client reads only when the test says so."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.buffered = 0  # what the client has not read yet
        self.caught_up = asyncio.Event()
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    async def drain(self) -> None:
        await self.caught_up.wait()

    def catch_up(self) -> None:
        """The client reads everything that waits for it."""
        self.buffered = 0
        self.sending_file = False
        self.caught_up.set()


class FlowApp(HttpServer):
    max_pipeline = 4
    write_buffer_limit = LIMIT
    gate: asyncio.Event
    started = 0
    file: Path

    @route("/big/{n:int}")
    def big(self, request: Request, n: int) -> bytes:
        return b"%d:" % n + b"x" * BIG

    @route("/small/{n:int}")
    def small(self, request: Request, n: int) -> bytes:
        return b"%d" % n

    @route("/wait/{n:int}")
    async def wait(self, request: Request, n: int) -> bytes:
        type(self).started += 1
        await type(self).gate.wait()
        return b"%d" % n

    @route("/file")
    def file_(self, request: Request) -> FileResponse:
        return FileResponse(type(self).file)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    FlowApp.started = 0
    try:
        yield loop
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def run_until(loop: asyncio.AbstractEventLoop, condition: Callable[[], bool]) -> None:
    """Run the loop until ``condition()`` holds (a generous deadline: a failure, not a wait)."""

    async def until() -> None:
        deadline = loop.time() + 20
        while not condition():
            assert loop.time() < deadline, "the condition never held"
            await asyncio.sleep(0)

    loop.run_until_complete(until())


def run_a_while(loop: asyncio.AbstractEventLoop) -> None:
    """Give every ready callback and task many turns, to show that nothing more happens."""

    async def turns() -> None:
        for _ in range(100):
            await asyncio.sleep(0)

    loop.run_until_complete(turns())


def connect(loop: asyncio.AbstractEventLoop) -> tuple[FlowApp, SlowReader]:
    transport = SlowReader(loop)
    app = FlowApp()
    connect_in_memory(app, transport)
    return app, transport


def bodies(transport: MemoryTransport) -> list[bytes]:
    return [body for _, _, body in split_responses(bytes(transport.output))]


def numbers(transport: MemoryTransport) -> list[int]:
    return [int(body.split(b":")[0]) for body in bodies(transport)]


# ------------------------------------------------------------------ output bound
def test_many_large_answers_asked_in_one_read_go_out_a_bounded_amount_at_a_time(loop):
    app, transport = connect(loop)
    feed(app, b"".join(request(f"/big/{i}") for i in range(20)), transport)
    assert len(transport.output) <= LIMIT + 2 * (BIG + 200)  # not all twenty at once
    assert transport.paused_reading
    run_until(loop, lambda: len(split_responses(bytes(transport.output))) == 20)
    assert numbers(transport) == list(range(20))
    assert not transport.paused_reading
    assert transport.writes > 1


def test_a_client_that_does_not_read_stops_the_server_producing(loop):
    app, transport = connect(loop)
    transport.buffered = 10 * LIMIT  # nothing read
    feed(app, b"".join(request(f"/big/{i}") for i in range(20)), transport)
    produced = len(transport.output)
    run_a_while(loop)
    assert len(transport.output) == produced
    assert transport.paused_reading
    transport.catch_up()
    run_until(loop, lambda: len(split_responses(bytes(transport.output))) == 20)
    assert numbers(transport) == list(range(20))
    assert not transport.paused_reading


def test_one_large_answer_to_a_client_that_does_not_read_pauses_reading(loop):
    app, transport = connect(loop)
    feed(app, request("/big/0"), transport)
    transport.buffered = 2 * LIMIT  # the answer sits in the buffer, unread
    feed(app, request("/big/1"), transport)
    assert transport.paused_reading
    run_a_while(loop)
    assert transport.paused_reading  # until the client reads
    transport.catch_up()
    run_until(loop, lambda: not transport.paused_reading)
    feed(app, request("/big/2"), transport)
    assert numbers(transport) == [0, 1, 2]


def test_input_that_arrives_while_paused_is_kept_and_answered_after_in_order(loop):
    app, transport = connect(loop)
    transport.buffered = 10 * LIMIT
    feed(app, request("/big/0") + request("/big/1") + request("/big/2"), transport)
    produced = len(transport.output)
    for later in (b"".join(request(f"/small/{i}") for i in range(3, 6)), request("/big/6")):
        feed(app, later, transport)  # a read already in flight when reading paused
    run_a_while(loop)
    assert len(transport.output) == produced
    transport.catch_up()
    run_until(loop, lambda: len(split_responses(bytes(transport.output))) == 7)
    assert numbers(transport) == list(range(7))


@pytest.mark.parametrize("split", [1, 7, 100, 4096])
def test_a_paused_stream_split_anywhere_is_answered_whole(loop, split):
    app, transport = connect(loop)
    transport.buffered = 10 * LIMIT
    data = b"".join(request(f"/big/{i}") for i in range(6))
    for start in range(0, len(data), split):
        feed(app, data[start : start + split], transport)
    transport.catch_up()
    run_until(loop, lambda: len(split_responses(bytes(transport.output))) == 6)
    assert numbers(transport) == list(range(6))


def test_small_answers_to_a_long_pipelined_read_are_not_held_back(loop):
    app, transport = connect(loop)
    feed(app, b"".join(request(f"/small/{i}") for i in range(200)), transport)
    assert bodies(transport) == [b"%d" % i for i in range(200)]
    assert not transport.paused_reading


# ------------------------------------------------------------------ pipeline bound
def test_requests_waiting_on_async_handlers_are_bounded_by_max_pipeline(loop):
    FlowApp.gate = asyncio.Event()
    app, transport = connect(loop)
    feed(app, b"".join(request(f"/wait/{i}") for i in range(12)), transport)
    run_a_while(loop)
    assert FlowApp.started == FlowApp.max_pipeline
    assert transport.paused_reading
    assert transport.output == b""
    FlowApp.gate.set()
    run_until(loop, lambda: len(split_responses(bytes(transport.output))) == 12)
    assert bodies(transport) == [b"%d" % i for i in range(12)]
    assert FlowApp.started == 12
    assert not transport.paused_reading


def test_sync_answers_behind_a_waiting_async_handler_keep_their_place(loop):
    FlowApp.gate = asyncio.Event()
    app, transport = connect(loop)
    data = request("/wait/0") + b"".join(request(f"/small/{i}") for i in range(1, 10))
    feed(app, data, transport)
    run_a_while(loop)
    assert transport.output == b""  # nothing may overtake the first answer
    FlowApp.gate.set()
    run_until(loop, lambda: len(split_responses(bytes(transport.output))) == 10)
    assert bodies(transport) == [b"%d" % i for i in range(10)]


# ------------------------------------------------------------------ file sends
def test_a_file_send_in_flight_holds_the_next_one_back(loop, tmp_path):
    FlowApp.file = tmp_path / "file.bin"
    FlowApp.file.write_bytes(b"f" * 1000)
    app, transport = connect(loop)
    transport.sending_file = True  # the first send does not finish at once
    feed(app, request("/file") + request("/file") + request("/small/3"), transport)
    run_a_while(loop)
    assert len(transport.files) == 1
    assert transport.paused_reading
    transport.catch_up()
    run_until(loop, lambda: len(split_responses(bytes(transport.output))) == 3)
    assert len(transport.files) == 2
    assert bodies(transport) == [b"f" * 1000, b"f" * 1000, b"3"]
