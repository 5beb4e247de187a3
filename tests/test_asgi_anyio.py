"""Applications that find their Task with ``asyncio.current_task()`` (anyio, and so
Starlette and FastAPI), over real sockets on every engine: each request has a Task
from its first line, keeps it across its waits, and cancel scopes, the thread pool
and pipelining work as under a Task per request."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import anyio
import pytest

from asgi_helpers import parse_responses
from conftest import recv_until
from manycore.testing import ServerProcess

pytestmark = pytest.mark.timeout(120)

DEADLINE = 20.0


def _task_id() -> int | None:
    task = asyncio.current_task()
    return None if task is None else id(task)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/task``: the Task before and after a wait inside a cancel scope; ``/move-on``: a
    cancel scope that expires; ``/fail``: a failure after a wait; ``/thread``: anyio's
    thread pool; ``/linger``: work after the response; the query string is echoed to tell
    pipelined answers apart."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    first = _task_id()
    answer: dict[str, Any] = {"query": scope["query_string"].decode(), "first": first}
    if path == "/task":
        with anyio.fail_after(DEADLINE):
            await anyio.sleep(0.01)
        answer["after"] = _task_id()
    elif path == "/move-on":
        with anyio.move_on_after(0.05) as scope_:
            await anyio.sleep(DEADLINE)
        answer["cancelled"] = scope_.cancelled_caught
    elif path == "/fail":
        await anyio.sleep(0.01)
        raise RuntimeError("the application failed after waiting")
    elif path == "/thread":
        answer["thread"] = await anyio.to_thread.run_sync(lambda: 6 * 7)
    body = json.dumps(answer).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
    if path == "/linger":
        await anyio.sleep(0.3)  # still running while the next request is served


def request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def exchange(server: ServerProcess, wire: bytes, count: int) -> list[dict[str, Any]]:
    """Send ``wire`` in one write; the JSON bodies of the ``count`` answers, in order."""
    with socket.create_connection(server.address, timeout=DEADLINE) as sock:
        sock.sendall(wire)
        data = recv_until(sock, lambda d: d.count(b"HTTP/1.1 200") >= count and d.endswith(b"}"))
    responses = parse_responses(data)
    assert [status for status, _, _ in responses] == [200] * count
    return [json.loads(body) for _, _, body in responses]


@pytest.fixture
def server(engine: str) -> Any:
    with ServerProcess(f"{__file__}:app", engine=engine) as proc:
        yield proc


def test_a_request_keeps_its_task_across_waits_in_a_cancel_scope(server):
    (answer,) = exchange(server, request("/task"), 1)
    assert answer["first"] is not None
    assert answer["after"] == answer["first"]


def test_an_expired_cancel_scope_leaves_the_connection_serving(server):
    answers = exchange(server, request("/move-on?1") + request("/task?2"), 2)
    assert answers[0]["cancelled"] is True
    assert answers[1]["query"] == "2"
    assert answers[1]["after"] == answers[1]["first"] is not None


def test_the_thread_pool_answers(server):
    (answer,) = exchange(server, request("/thread"), 1)
    assert answer["thread"] == 42


def test_pipelined_requests_that_wait_or_not_are_answered_in_order(server):
    paths = [("/task" if i % 3 == 0 else "/plain") + f"?{i}" for i in range(16)]
    answers = exchange(server, b"".join(request(path) for path in paths), 16)
    assert [answer["query"] for answer in answers] == [str(i) for i in range(16)]
    assert all(answer["first"] is not None for answer in answers)


def test_a_request_served_while_the_previous_one_still_runs_has_a_task(server):
    answers = exchange(server, request("/linger?1") + request("/task?2"), 2)
    assert [answer["query"] for answer in answers] == ["1", "2"]
    assert answers[1]["after"] == answers[1]["first"] is not None


def test_a_failure_after_a_wait_is_a_500_and_the_connection_serves_on(server):
    with socket.create_connection(server.address, timeout=DEADLINE) as sock:
        sock.sendall(request("/fail") + request("/task"))
        data = recv_until(sock, lambda d: d.endswith(b"}"))
    (failed, _, _), (status, _, body) = parse_responses(data)
    assert (failed, status) == (500, 200)
    answer = json.loads(body)
    assert answer["after"] == answer["first"] is not None
