"""The ASGI HTTP connection fed bytes in memory: whole, byte by byte, split at every boundary."""

from __future__ import annotations

import json
import logging

import pytest

from asgi_helpers import Connection, exchange, parse_responses, splits


async def scope_echo(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message["body"]
        if not message["more_body"]:
            break
    shown = {
        "type": scope["type"],
        "asgi": dict(scope["asgi"]),
        "http_version": scope["http_version"],
        "method": scope["method"],
        "scheme": scope["scheme"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query_string": scope["query_string"].decode("latin-1"),
        "root_path": scope["root_path"],
        "headers": [[n.decode(), v.decode()] for n, v in scope["headers"]],
        "client": list(scope["client"]),
        "server": list(scope["server"]),
        "extensions": {name: dict(value) for name, value in scope["extensions"].items()},
        "body": body.decode(),
    }
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(shown).encode()})


GET = (
    b"GET /a%20b/c?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\n"
    b"X-Custom: One\r\nx-custom: two\r\n\r\n"
)
POST = b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello world"
CHUNKED = (
    b"POST /chunks HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
)


@pytest.mark.parametrize("pieces", splits(GET), ids=lambda p: f"{len(p)}-reads")
def test_the_scope_is_complete_however_the_request_is_split(pieces):
    output, closed = exchange(scope_echo, pieces)
    [(status, _, body)] = parse_responses(output)
    scope = json.loads(body)
    assert status == 200 and not closed
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/a b/c",
        "raw_path": "/a%20b/c",
        "query_string": "x=1&y=%20",
        "root_path": "",
        "headers": [["host", "example.com"], ["x-custom", "One"], ["x-custom", "two"]],
        "client": ["127.0.0.1", 50000],
        "server": ["127.0.0.1", 8080],
        "extensions": {"http.response.pathsend": {}},
        "body": "",
    }


def test_root_path_is_in_the_scope_and_prefixes_the_path():
    output, _ = exchange(scope_echo, [GET], root_path="/mounted")
    scope = json.loads(parse_responses(output)[0][2])
    assert scope["root_path"] == "/mounted"
    assert scope["path"] == "/mounted/a b/c"
    assert scope["raw_path"] == "/mounted/a%20b/c"


@pytest.mark.parametrize("request_bytes", [POST, CHUNKED], ids=["content-length", "chunked"])
def test_request_bodies_reach_receive_however_they_are_split(request_bytes):
    for pieces in splits(request_bytes):
        output, _ = exchange(scope_echo, pieces)
        [(status, _, body)] = parse_responses(output)
        assert status == 200
        assert json.loads(body)["body"] == "hello world", pieces


@pytest.mark.parametrize("request_bytes", [POST, CHUNKED], ids=["content-length", "chunked"])
def test_the_body_ends_once_then_receive_says_disconnect(request_bytes):
    """Django reads the body to its end, then waits in receive() for the disconnect."""
    for pieces in splits(request_bytes):
        heard: list[dict] = []

        async def read_then_listen(scope, receive, send, heard=heard):
            while True:
                message = await receive()
                heard.append({k: v for k, v in message.items() if k != "body"})
                if not message.get("more_body"):
                    break
            await send({"type": "http.response.start", "status": 204})
            await send({"type": "http.response.body"})
            heard.append(await receive())

        output, _ = exchange(read_then_listen, pieces)
        [(status, _, _)] = parse_responses(output)
        assert status == 204
        finals = [m for m in heard if m == {"type": "http.request", "more_body": False}]
        assert len(finals) == 1 and heard[-1] == {"type": "http.disconnect"}, (pieces, heard)


def test_pipelined_requests_are_answered_in_order_however_split():
    stream = POST + GET + CHUNKED
    for pieces in splits(stream):
        output, closed = exchange(scope_echo, pieces)
        paths = [json.loads(body)["path"] for _, _, body in parse_responses(output)]
        assert paths == ["/upload", "/a b/c", "/chunks"], pieces
        assert not closed


def test_a_body_is_delivered_as_it_arrives_not_buffered_whole():
    seen = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append((message["body"], message["more_body"]))
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body"})

    conn = Connection(app)
    try:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nfirst")
        assert seen == [(b"first", True)]
        assert conn.take() == b""
        conn.send(b"secnd")
        assert seen == [(b"first", True), (b"secnd", False)]
        [(status, _, _)] = parse_responses(conn.take())
        assert status == 204
    finally:
        conn.close()


async def streaming(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"one,", "more_body": True})
    await send({"type": "http.response.body", "body": b"two", "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def test_a_streamed_response_is_chunked_on_http11():
    output, closed = exchange(streaming, [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"])
    [(_, headers, body)] = parse_responses(output)
    assert headers[b"transfer-encoding"] == b"chunked"
    assert b"content-length" not in headers
    assert body == b"one,two" and not closed


def test_a_streamed_response_to_http10_ends_by_closing():
    output, closed = exchange(streaming, [b"GET / HTTP/1.0\r\n\r\n"])
    head, _, body = output.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Content-Length" not in head
    assert b"Connection: close" in head
    assert body == b"one,two" and closed


def test_one_body_message_gets_a_content_length():
    output, _ = exchange(scope_echo, [GET])
    [(_, headers, body)] = parse_responses(output)
    assert int(headers[b"content-length"]) == len(body)


def test_head_requests_get_the_get_headers_and_no_body():
    output, closed = exchange(
        scope_echo, [b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]
    )
    head, _, rest = output.partition(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert length > 0
    assert rest.startswith(b"HTTP/1.1 200 OK")  # no body between the two responses
    assert not closed


def test_an_app_that_raises_before_responding_gets_500_and_a_log_line(caplog):
    async def app(scope, receive, send):
        raise RuntimeError("boom in the app")

    with caplog.at_level(logging.ERROR, logger="manycore.asgi"):
        output, closed = exchange(app, [GET + GET])
    statuses = [status for status, _, _ in parse_responses(output)]
    assert statuses == [500, 500] and not closed
    assert "boom in the app" in caplog.text and "Traceback" in caplog.text


def test_an_app_that_raises_after_its_head_went_out_closes_the_connection(caplog):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom mid-response")

    with caplog.at_level(logging.ERROR, logger="manycore.asgi"):
        output, closed = exchange(app, [GET + GET])
    assert output.count(b"HTTP/1.1") == 1 and output.endswith(b"partial\r\n")
    assert closed
    assert "boom mid-response" in caplog.text


def test_an_app_that_returns_without_responding_gets_500(caplog):
    async def app(scope, receive, send):
        return None

    with caplog.at_level(logging.ERROR, logger="manycore.asgi"):
        output, _ = exchange(app, [GET])
    assert parse_responses(output)[0][0] == 500
    assert "without a response" in caplog.text


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.response.body", "body": b"x"}],
        [{"type": "http.response.start", "status": 200, "headers": [(b"bad name", b"v")]}],
        [{"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\r\nb: c")]}],
        [{"type": "http.response.start", "status": "200", "headers": []}],
        [{"type": "http.response.start", "status": 200, "headers": [("str", "str")]}],
        [{"type": "no.such.message"}],
    ],
    ids=["body-first", "bad-name", "injection", "str-status", "str-headers", "unknown"],
)
def test_an_invalid_message_is_a_logged_error_never_a_crash(messages, caplog):
    async def app(scope, receive, send):
        for message in messages:
            await send(message)
        await send({"type": "http.response.body", "body": b"never"})

    with caplog.at_level(logging.ERROR, logger="manycore.asgi"):
        output, closed = exchange(app, [GET + GET])
    assert [status for status, _, _ in parse_responses(output)] == [500]
    assert closed
    assert b"never" not in output and b"b: c" not in output
    assert "ASGI application raised" in caplog.text


def test_a_declared_body_too_large_is_413_before_the_app_runs():
    calls = []

    async def app(scope, receive, send):
        calls.append(scope)

    output, closed = exchange(
        app, [b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n"], max_body_size=100
    )
    assert parse_responses(output)[0][0] == 413 and closed and calls == []


def test_a_streamed_body_too_large_is_413():
    output, closed = exchange(
        scope_echo,
        [
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"40\r\n" + b"x" * 64 + b"\r\n",
            b"40\r\n" + b"x" * 64 + b"\r\n",
        ],
        max_body_size=100,
    )
    assert parse_responses(output)[-1][0] == 413 and closed


EXPECT = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"


def test_100_continue_is_sent_once_the_app_reads_the_body():
    conn = Connection(scope_echo)
    try:
        conn.send(EXPECT)
        assert conn.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.send(b"hello")
        [(status, _, body)] = parse_responses(conn.take())
        assert status == 200 and json.loads(body)["body"] == "hello"
    finally:
        conn.close()


def test_no_100_continue_when_the_app_answers_without_reading():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})

    output, closed = exchange(app, [EXPECT])
    assert b"100 Continue" not in output
    assert parse_responses(output)[0][0] == 401
    assert closed  # the client may still be waiting to send the body nobody read


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBig: " + b"a" * 17000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"NOT A REQUEST\r\n\r\n", 400),
    ],
    ids=["no-host", "two-hosts", "bad-host", "expect", "long-url", "big-head", "coding", "junk"],
)
def test_bad_requests_get_a_4xx_with_a_reason_and_close(request_bytes, status):
    calls = []

    async def app(scope, receive, send):
        calls.append(scope)

    output, closed = exchange(app, [request_bytes])
    [(answered, _, body)] = parse_responses(output)
    assert answered == status and body and closed and calls == []


def test_a_response_to_http10_without_keep_alive_closes():
    output, closed = exchange(scope_echo, [b"GET / HTTP/1.0\r\n\r\n"])
    assert parse_responses(output)[0][0] == 200 and closed


def test_pathsend_sends_the_file_with_sendfile(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789" * 1000)

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    conn = Connection(app)
    try:
        conn.send(GET + GET)
        responses = parse_responses(conn.take())
        assert [body for _, _, body in responses] == [path.read_bytes()] * 2
        assert [h[b"content-length"] for _, h, _ in responses] == [b"10000"] * 2
        assert len(conn.transport.files) == 2  # sent with sendfile, not read into memory
    finally:
        conn.close()


def test_send_waits_while_the_client_does_not_read():
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"%d" % i, "more_body": True})
            sent.append(i)
        await send({"type": "http.response.body", "body": b""})

    conn = Connection(app)
    try:
        conn.transport.set_writing_paused(True)  # the loop's buffer is over its high-water mark
        conn.send(GET)
        assert sent == []  # the first send() waits until the buffer drains
        conn.transport.set_writing_paused(False)
        conn.settle()
        assert sent == [0, 1, 2]
        assert parse_responses(conn.take())[0][2] == b"012"
    finally:
        conn.close()


def test_the_app_hears_http_disconnect_when_the_client_goes():
    heard = []

    async def app(scope, receive, send):
        heard.append(await receive())
        heard.append(await receive())

    conn = Connection(app)
    try:
        conn.send(GET)
        assert heard == [{"type": "http.request", "body": b"", "more_body": False}]
        conn.protocol.connection_lost(conn.transport, None)
        conn.settle()
        assert heard[1] == {"type": "http.disconnect"}
    finally:
        conn.close()


def test_pipelined_requests_wait_behind_one_that_suspends():
    import asyncio

    async def app(scope, receive, send):
        if scope["path"] == "/slow":
            for _ in range(5):
                await asyncio.sleep(0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    for pieces in splits(
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n"
    ):
        output, _ = exchange(app, pieces)
        assert [body for _, _, body in parse_responses(output)] == [b"/slow", b"/fast"]


def test_reading_pauses_while_the_app_leaves_the_body_unread():
    import asyncio

    async def app(scope, receive, send):
        await receive()
        await asyncio.Event().wait()  # busy elsewhere: the rest of the body waits

    conn = Connection(app)
    try:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n")
        conn.send(b"x" * 100_000)  # the app takes this piece, then reads no more
        assert not conn.transport.paused_reading
        conn.send(b"x" * 100_000)
        assert conn.transport.paused_reading
    finally:
        conn.close()

    conn = Connection(scope_echo)
    try:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n")
        conn.send(b"x" * 100_000)
        assert not conn.transport.paused_reading  # taken as it comes
        conn.send(b"x" * 200_000)
        assert json.loads(parse_responses(conn.take())[0][2])["body"] == "x" * 300_000
    finally:
        conn.close()


def test_the_access_log_has_one_line_per_request(caplog):
    with caplog.at_level(logging.INFO, logger="manycore.access"):
        exchange(scope_echo, [GET + POST], access_log=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "manycore.access"]
    text = "\n".join(lines)
    assert '"GET /a%20b/c?x=1&y=%20 HTTP/1.1" 200' in text
    assert '"POST /upload HTTP/1.1" 200' in text


def test_a_context_variable_set_by_one_request_is_not_seen_by_the_next():
    import contextvars

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
    seen = []

    async def app(scope, receive, send):
        seen.append(request_id.get())
        request_id.set(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body"})

    exchange(app, [b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert seen == ["-", "-"]


def test_pathsend_of_a_missing_file_is_a_500_and_the_connection_goes_on(tmp_path, caplog):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(tmp_path / "missing")})

    with caplog.at_level(logging.ERROR, logger="manycore.asgi"):
        output, closed = exchange(app, [GET])
    assert parse_responses(output)[0][0] == 500 and not closed
    assert "pathsend cannot send" in caplog.text


def test_a_declared_length_frames_a_streamed_body():
    async def app(scope, receive, send):
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]}
        )
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})

    output, closed = exchange(app, [GET])
    [(status, headers, body)] = parse_responses(output)
    assert (status, body) == (200, b"abcdef") and b"transfer-encoding" not in headers
    assert not closed


@pytest.mark.parametrize("parts", [[b"abc"], [b"abc", b"defg"]], ids=["short", "long"])
def test_a_body_that_breaks_its_declared_length_closes_the_connection(parts, caplog):
    async def app(scope, receive, send):
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]}
        )
        for i, part in enumerate(parts):
            more = i < len(parts) - 1
            await send({"type": "http.response.body", "body": part, "more_body": more})

    with caplog.at_level(logging.ERROR, logger="manycore.asgi"):
        output, closed = exchange(app, [GET + GET])
    assert output.count(b"HTTP/1.1 200") == 1 and closed
    assert "Content-Length" in caplog.text


def test_an_app_that_needs_a_task_from_its_first_line_is_told_how_to_get_one(caplog):
    import asyncio

    async def app(scope, receive, send):
        async with asyncio.timeout(5):  # needs current_task()
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body"})

    with caplog.at_level(logging.ERROR, logger="manycore.asgi"):
        output, _ = exchange(app, [GET])
    assert parse_responses(output)[0][0] == 500
    assert "task_per_request=True" in caplog.text
    output, _ = exchange(app, [GET], task_per_request=True)
    assert parse_responses(output)[0][0] == 204


def test_a_first_body_longer_than_its_declared_length_is_a_500(caplog):
    async def app(scope, receive, send):
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"too long"})

    with caplog.at_level(logging.ERROR, logger="manycore.asgi"):
        output, _ = exchange(app, [GET])
    assert parse_responses(output)[0][0] == 500 and b"too long" not in output


def test_a_large_body_the_app_never_reads_does_not_stall_the_connection():
    import asyncio

    release = []

    async def app(scope, receive, send):
        if scope["path"] == "/ignore":
            release.append(asyncio.Event())
            await release[0].wait()  # busy while the body arrives, then answers unread
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    conn = Connection(app)
    try:
        conn.send(b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n")
        conn.send(b"x" * 100_000)
        assert conn.transport.paused_reading  # the app takes nothing: reading waits
        release[0].set()
        conn.settle()
        assert not conn.transport.paused_reading  # answered: the rest is read and dropped
        conn.send(b"x" * 200_000 + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        bodies = [body for _, _, body in parse_responses(conn.take())]
        assert bodies == [b"/ignore", b"/next"]
    finally:
        conn.close()
