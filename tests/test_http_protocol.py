"""HttpServer as a protocol, in memory: what goes out for what comes in.

No sockets: ``MemoryTransport`` records the output.  Requests are fed all at
once, one byte at a time, and with trailing bytes, and the answers compared.
Async handlers run on a private event loop given to the transport.
"""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
from email.utils import parsedate_to_datetime

import pytest

from manycore.http import HTTPError, HttpServer, Request, Response, route
from manycore.testing import MemoryTransport, feed
from test_http_apps import App, TinyLimits, feed_all, feed_bytewise, request, split_responses


class CountingTransport(MemoryTransport):
    def __init__(self, loop=None):
        super().__init__(loop=loop)
        self.writes = 0

    def write(self, data):
        self.writes += 1
        super().write(data)


def answers(data: bytes, app: HttpServer | None = None):
    return split_responses(bytes(feed_all(app or App(), data).output))


def one(data: bytes, app: HttpServer | None = None):
    (response,) = answers(data, app)
    return response


# ------------------------------------------------------------------ feeding styles
MIXED = (
    request("/plaintext")
    + request("/json")
    + request("/items/7", "PUT")
    + request("/echo", "POST", body=b"some body")
    + request("/nope")
    + request("/json", "DELETE")
    + b"PUT /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
)


def _strip_dates(data: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*\r\n", b"", data)


def test_all_at_once_and_byte_by_byte_give_the_same_answers():
    whole = bytes(feed_all(App(), MIXED).output)
    bytewise = bytes(feed_bytewise(App(), MIXED).output)
    assert _strip_dates(whole) == _strip_dates(bytewise)
    assert [s for s, _, _ in split_responses(whole)] == [200, 200, 200, 200, 404, 405, 200]
    bodies = [b for _, _, b in split_responses(whole)]
    assert bodies[0] == b"Hello, World!"
    assert bodies[3] == b"some body" and bodies[6] == b"abcd"


def test_trailing_partial_request_is_answered_when_it_completes():
    app = App()
    transport = feed_all(app, request("/plaintext") + b"GET /json HTTP/1.1\r\nHo")
    assert len(split_responses(bytes(transport.output))) == 1
    feed_all(app, b"st: h\r\n\r\n", transport)
    assert [b for _, _, b in split_responses(bytes(transport.output))][1] == (
        b'{"message":"Hello, World!"}'
    )


def test_pipelined_requests_are_answered_in_order_with_one_write():
    transport = CountingTransport()
    paths = [f"/items/{i}" for i in range(24)]
    feed(App(), b"".join(request(p) for p in paths), transport)
    got = split_responses(bytes(transport.output))
    assert [b for _, _, b in got] == [b'{"id":%d,"method":"GET"}' % i for i in range(24)]
    assert transport.writes == 1


class Varying(HttpServer):
    """One route whose answers differ call by call, as a run of copies reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    @route("/v")
    def varying(self, request: Request) -> object:
        self.calls += 1
        n = self.calls
        if n <= 3:
            return Response(b"same", content_type="text/plain")
        if n == 4:
            raise HTTPError(418, "a teapot")
        if n == 5:
            return {"n": n}
        if n == 6:
            return Response(b"x" * 100_000, content_type="text/plain")
        if n == 7:
            return Response(b"bye", headers={"Connection": "close"})
        return Response(b"never", content_type="text/plain")


@pytest.mark.parametrize(
    "reads", [[1, 8], [2, 3, 3], [9], [1] * 9], ids=["1+8", "2+3+3", "9", "1 each"]
)
def test_copies_of_one_request_get_each_their_own_answer_and_a_close_ends_them(reads):
    app = Varying()
    transport = MemoryTransport()
    for count in reads:
        feed(app, request("/v") * count, transport)
    got = split_responses(bytes(transport.output))
    assert [(status, body) for status, _, body in got] == [
        *[(200, b"same")] * 3,
        (418, b"418 I'm a Teapot: a teapot\n"),
        (200, b'{"n":5}'),
        (200, b"x" * 100_000),
        (200, b"bye"),
    ]
    assert got[6][1]["connection"] == "close" and transport.closed
    assert app.calls == 7


@pytest.mark.parametrize("path", ["/plaintext", "/json"])
def test_a_head_request_repeated_read_by_read_gets_heads_only(path):
    # The GETs first: their answer is the last remembered one when the HEADs come.
    transport = MemoryTransport()
    app = App()
    for method in ("GET", "GET", "HEAD", "HEAD", "HEAD", "GET"):
        feed(app, request(path, method), transport)
    wire = _strip_dates(bytes(transport.output))
    get = _strip_dates(bytes(feed_all(App(), request(path)).output))
    head = get[: get.index(b"\r\n\r\n") + 4]
    assert wire == get * 2 + head * 3 + get


class Keeping(HttpServer):
    """One handler keeps every request it is given, another changes what it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[Request] = []
        self.seen: list[tuple[int, dict, str | None]] = []

    @route("/keep")
    def keep(self, request: Request) -> Response:
        self.kept.append(request)
        return Response(b"kept", content_type="text/plain")

    @route("/change")
    def change(self, request: Request) -> Response:
        self.seen.append((id(request), request.params, request.headers.get("x-n")))
        request.params = {"left": "by the last handler"}
        return Response(b"changed", content_type="text/plain")


def test_a_request_kept_by_its_handler_is_never_given_again():
    app = Keeping()
    transport = MemoryTransport()
    for path in ["/keep"] * 6 + ["/change"] * 6 + ["/keep"] * 2:
        feed(app, request(path), transport)
    assert len({id(kept) for kept in app.kept}) == 8
    assert [(kept.method, kept.target) for kept in app.kept] == [("GET", b"/keep")] * 8


def test_a_request_its_handler_did_not_keep_is_given_again_emptied():
    """Read by read, copies of one request are answered with one Request object, from
    which what the last handler filled in or set is gone."""
    app = Keeping()
    transport = MemoryTransport()
    for _ in range(6):
        feed(app, request("/change", headers="X-N: 7\r\n"), transport)
    assert [status for status, _, _ in split_responses(bytes(transport.output))] == [200] * 6
    assert [(params, n) for _, params, n in app.seen] == [({}, "7")] * 6
    if sys.version_info < (3, 14):  # where a reference count is exact at that call
        # The first read is parsed; from the second on, the copies share one object.
        assert len({ident for ident, _, _ in app.seen[1:]}) == 1


class Counting(HttpServer):
    """A dict per call, one of which cannot be sent as JSON."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    @route("/d")
    def d(self, request: Request) -> dict[str, object]:
        self.calls += 1
        return {"bad": object()} if self.calls == 4 else {"n": self.calls}


def test_a_json_request_repeated_read_by_read_is_encoded_each_time(caplog):
    app = Counting()
    transport = MemoryTransport()
    with caplog.at_level(logging.ERROR, logger="manycore.http"):
        for _ in range(5):
            feed(app, request("/d"), transport)
    got = [(status, body) for status, _, body in split_responses(bytes(transport.output))]
    assert got[:3] == [(200, b'{"n":1}'), (200, b'{"n":2}'), (200, b'{"n":3}')]
    assert got[3][0] == 500 and got[4] == (200, b'{"n":5}')
    assert not transport.closed
    assert any("handler" in record.getMessage() for record in caplog.records)


class Gate(HttpServer):
    """An async route that answers when the test opens it, and a literal sync one."""

    @route("/gate")
    async def gate(self, request: Request) -> bytes:
        await self.opened.wait()
        return b"gate"

    @route("/v")
    def v(self, request: Request) -> Response:
        return Response(b"v", content_type="text/plain")


def test_a_repeat_read_alone_waits_behind_an_async_answer():
    loop = asyncio.new_event_loop()
    try:
        app = Gate()
        app.opened = asyncio.Event()
        transport = MemoryTransport(loop=loop)
        feed(app, request("/v"), transport)
        feed(app, request("/gate") + request("/v"), transport)  # /v waits behind /gate
        feed(app, request("/v"), transport)  # one copy of the last head: it waits too
        loop.run_until_complete(asyncio.sleep(0.01))
        assert [body for _, _, body in split_responses(bytes(transport.output))] == [b"v"]
        app.opened.set()

        async def answered() -> None:
            deadline = loop.time() + 20  # a generous bound on a hang, not a wait
            while app.is_busy():
                assert loop.time() < deadline, "the connection never finished answering"
                await asyncio.sleep(0.001)

        loop.run_until_complete(answered())
        feed(app, request("/v"), transport)
        bodies = [body for _, _, body in split_responses(bytes(transport.output))]
        assert bodies == [b"v", b"gate", b"v", b"v", b"v"]
        app.connection_lost(transport, None)
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()


# ------------------------------------------------------------------ what a response carries
def test_every_response_has_date_and_server():
    for status, headers, _ in answers(request("/plaintext") + request("/nope") + request("/boom")):
        assert headers["server"] == "manycore"
        assert parsedate_to_datetime(headers["date"]).tzinfo is not None, status


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/plaintext", "text/plain", b"Hello, World!"),
        ("/json", "application/json", b'{"message":"Hello, World!"}'),
        ("/list", "application/json", b"[1,2,3]"),
        ("/text", "text/plain; charset=utf-8", "héllo".encode()),
        ("/bytes", "application/octet-stream", b"\x00\x01\x02"),
    ],
)
def test_handler_results_become_responses(path, content_type, body):
    status, headers, got = one(request(path))
    assert (status, headers["content-type"], got) == (200, content_type, body)
    assert headers["content-length"] == str(len(body))


@pytest.mark.parametrize("path", ["/plaintext", "/json", "/list", "/text"])
def test_a_query_string_changes_nothing_about_the_answer(path):
    # Literal routes answer a target with a query on the fast path: same bytes.
    plain = _strip_dates(bytes(feed_all(App(), request(path)).output))
    queried = _strip_dates(bytes(feed_all(App(), request(path + "?a=1&b")).output))
    assert queried == plain
    head = _strip_dates(bytes(feed_all(App(), request(path + "?a=1", "HEAD")).output))
    assert head == plain[: plain.index(b"\r\n\r\n") + 4]


def test_none_is_204_without_body_or_length():
    status, headers, body = one(request("/none"))
    assert status == 204 and body == b"" and "content-length" not in headers


def test_head_has_the_get_headers_and_no_body():
    get = one(request("/plaintext"))
    wire = bytes(feed_all(App(), request("/plaintext", "HEAD") + request("/json")).output)
    head_end = wire.index(b"\r\n\r\n") + 4
    assert wire[head_end:].startswith(b"HTTP/1.1 200")  # no body before the next answer
    assert b"Content-Length: %d" % len(get[2]) in wire[:head_end]
    assert b"Content-Type: text/plain" in wire[:head_end]


def test_head_on_a_json_route():
    wire = bytes(feed_all(App(), request("/json", "HEAD")).output)
    assert wire.endswith(b"\r\n\r\n") and b"Content-Length: 27" in wire


def test_custom_headers_repeat_and_keep_order():
    wire = bytes(feed_all(App(), request("/headers")).output)
    assert wire.count(b"Set-Cookie: ") == 2
    assert wire.index(b"Set-Cookie: a=1") < wire.index(b"Set-Cookie: b=2")


def test_status_codes_pass_through():
    assert one(request("/status/201"))[0] == 201
    assert one(request("/status/418"))[0] == 418
    status, _, body = one(request("/error/403"))
    assert status == 403 and b"as you asked" in body


# ------------------------------------------------------------------ routing
def test_404_and_405_with_allow():
    assert one(request("/missing"))[0] == 404
    status, headers, _ = one(request("/json", "POST"))
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, headers, _ = one(request("/items/3", "POST"))
    assert status == 405 and headers["allow"] == "DELETE, GET, HEAD, PUT"


def test_path_parameters_are_converted():
    assert one(request("/items/42"))[2] == b'{"id":42,"method":"GET"}'
    assert one(request("/items/x"))[0] == 404
    assert one(request("/users/ann%20b/posts/3"))[2] == b'{"name":"ann b","n":3}'
    assert one(request("/files/a/b/c.txt"))[2] == b'{"rest":"a/b/c.txt"}'


def test_query_headers_and_body_reach_the_handler():
    data = request(
        "/inspect?a=1&b=2&a=3&e=%C3%A9",
        "POST",
        headers="X-Custom: Value\r\nContent-Type: text/plain; charset=latin-1\r\n",
        body="caf\xe9".encode("latin-1"),
    )
    body = one(data)[2]
    import json

    got = json.loads(body)
    assert got["query"] == [["a", "1"], ["b", "2"], ["a", "3"], ["e", "é"]]
    assert ["x-custom", "Value"] in got["headers"]
    assert got["body"] == "café" and got["method"] == "POST" and got["version"] == "1.1"
    assert got["path"] == "/inspect"


def test_absolute_form_target_routes_by_path():
    data = b"GET http://example.com/json?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert one(data)[2] == b'{"message":"Hello, World!"}'


def test_percent_encoded_static_path_matches():
    assert one(request("/plain%74ext"))[2] == b"Hello, World!"


def test_json_body_and_bad_json():
    good = request("/echo-json", "POST", body=b'{"a": [1, 2]}')
    assert one(good)[2] == b'{"got":{"a":[1,2]}}'
    status, _, body = one(request("/echo-json", "POST", body=b"{nope"))
    assert status == 400 and b"not valid JSON" in body


# ------------------------------------------------------------------ keep-alive and closing
def test_connection_close_answers_then_closes_and_ignores_the_rest():
    transport = feed_all(
        App(), request("/plaintext", headers="Connection: close\r\n") + request("/json")
    )
    (only,) = split_responses(bytes(transport.output))
    assert only[1]["connection"] == "close" and transport.closed


def test_http10_closes_and_http10_keep_alive_stays_open():
    transport = feed_all(App(), b"GET /plaintext HTTP/1.0\r\n\r\n")
    assert transport.closed and b"Connection: close" in transport.output
    transport = feed_all(App(), b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert not transport.closed and b"Connection: keep-alive" in transport.output


def test_handler_asking_to_close_closes():
    transport = feed_all(App(), request("/close") + request("/json"))
    assert len(split_responses(bytes(transport.output))) == 1 and transport.closed


# ------------------------------------------------------------------ errors
def test_handler_exception_is_500_without_traceback_and_keeps_serving(caplog):
    with caplog.at_level(logging.ERROR, logger="manycore.http"):
        transport = feed_all(App(), request("/boom") + request("/plaintext"))
    (status, _, body), (status2, _, body2) = split_responses(bytes(transport.output))
    assert status == 500 and b"secret" not in body and b"Traceback" not in body
    assert (status2, body2) == (200, b"Hello, World!")
    assert not transport.closed
    assert "secret detail" in caplog.text  # logged on the server


def test_header_injection_from_a_handler_is_refused(caplog):
    with caplog.at_level(logging.ERROR, logger="manycore.http"):
        status, _, body = one(request("/bad-header"))
    assert status == 500 and b"evil" not in body


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    ],
)
def test_protocol_errors_answer_once_and_close(wire, status):
    transport = feed_all(App(), request("/plaintext") + wire + request("/json"))
    got = split_responses(bytes(transport.output))
    assert [s for s, _, _ in got] == [200, status]
    assert got[1][1]["connection"] == "close"
    transport.loop.advance(1.0)  # the linger after an error answer, as on the wire
    assert transport.closed


def test_missing_host_is_400_when_headers_are_read():
    assert one(b"GET /inspect HTTP/1.1\r\n\r\n")[0] == 400


def test_limits(caplog):
    assert one(request("/echo", "POST", body=b"x" * 101), TinyLimits())[0] == 413
    assert one(request("/" + "a" * 200), TinyLimits())[0] == 414
    assert one(request("/json", headers="X-Big: " + "v" * 600 + "\r\n"), TinyLimits())[0] == 431


def test_expect_100_continue():
    app = App()
    transport = feed_all(
        app,
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    assert bytes(transport.output) == b"HTTP/1.1 100 Continue\r\n\r\n"
    feed_all(app, b"data", transport)
    final = bytes(transport.output)[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
    assert split_responses(final)[0][2] == b"data"


def test_expect_100_continue_with_a_body_too_large_gets_413_only():
    transport = feed_all(
        TinyLimits(),
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    )
    assert bytes(transport.output).startswith(b"HTTP/1.1 413")
    assert b"100 Continue" not in transport.output


# ------------------------------------------------------------------ async handlers and streams
def run_with_loop(app: HttpServer, data: bytes) -> CountingTransport:
    """Feed ``data``, then run the loop until every request in it has been answered."""
    loop = asyncio.new_event_loop()

    async def answered() -> None:
        deadline = loop.time() + 20  # a generous bound on a hang, not a wait
        while app.is_busy():
            assert loop.time() < deadline, "the connection never finished answering"
            await asyncio.sleep(0.001)

    try:
        transport = CountingTransport(loop)
        app.connection_made(transport)
        feed(app, data, transport)
        loop.run_until_complete(answered())
        app.connection_lost(transport, None)
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    return transport


def test_async_handlers_answer_in_request_order():
    data = b"".join(request(f"/sleep/{ms}") for ms in (120, 10, 60, 0)) + request("/plaintext")
    transport = run_with_loop(App(), data)
    bodies = [b for _, _, b in split_responses(bytes(transport.output))]
    assert bodies == [
        b'{"slept":120}',
        b'{"slept":10}',
        b'{"slept":60}',
        b'{"slept":0}',
        b"Hello, World!",
    ]


def test_async_handler_exception_is_500_and_the_next_request_is_answered(caplog):
    with caplog.at_level(logging.ERROR, logger="manycore.http"):
        transport = run_with_loop(App(), request("/async-boom") + request("/json"))
    got = split_responses(bytes(transport.output))
    assert [s for s, _, _ in got] == [500, 200] and b"async secret" not in transport.output


def test_an_async_handler_fed_in_memory_is_a_500_whose_log_says_to_use_a_real_loop(caplog):
    with caplog.at_level(logging.ERROR, logger="manycore.http"):
        transport = feed_all(App(), request("/sleep/0") + request("/json"))
    got = split_responses(bytes(transport.output))
    assert [s for s, _, _ in got] == [500]
    assert "real event loop" in caplog.text


def test_streamed_responses_are_chunked_and_ordered():
    transport = run_with_loop(
        App(), request("/stream/3") + request("/astream/4") + request("/json")
    )
    got = split_responses(bytes(transport.output))
    assert got[0][1]["transfer-encoding"] == "chunked"
    assert [b for _, _, b in got] == [
        b"line 0\nline 1\nline 2\n",
        b"0,1,2,3,",
        b'{"message":"Hello, World!"}',
    ]


def test_streamed_response_to_http10_is_close_delimited():
    transport = run_with_loop(App(), b"GET /stream/2 HTTP/1.0\r\n\r\n")
    wire = bytes(transport.output)
    assert b"Transfer-Encoding" not in wire and wire.endswith(b"line 0\nline 1\n")
    assert transport.closed


def test_pipelined_requests_behind_a_slow_handler_wait_in_order():
    data = request("/sleep/50") + b"".join(request(f"/items/{i}") for i in range(20))
    transport = run_with_loop(App(), data)
    got = split_responses(bytes(transport.output))
    assert got[0][2] == b'{"slept":50}'
    assert [b for _, _, b in got[1:]] == [b'{"id":%d,"method":"GET"}' % i for i in range(20)]


def test_large_answers_pause_parsing_and_resume_in_order():
    sizes = [300_000 + i for i in range(10)]
    data = b"".join(request(f"/big/{n}") for n in sizes) + request("/json")
    transport = run_with_loop(App(), data)
    got = split_responses(bytes(transport.output))
    assert [len(b) for _, _, b in got] == [*sizes, 27]
    assert transport.writes > 1  # the answers did not all go out in one buffer


# ------------------------------------------------------------------ observability
def test_stats_route_reports_workers_and_totals():
    import json

    stats = json.loads(one(request("/stats"))[2])
    assert {"engine", "workers", "totals", "uptime"} <= set(stats)
    assert {"requests", "connections_open", "rss_bytes"} <= set(stats["totals"])


def test_access_log_is_off_by_default_and_one_line_per_request_when_on(caplog):
    class Logged(App):
        access_log = True

    with caplog.at_level(logging.INFO, logger="manycore.access"):
        feed_all(App(), request("/plaintext"))
        assert not [r for r in caplog.records if r.name == "manycore.access"]
        feed_all(Logged(), request("/plaintext") + request("/nope"))
    records = [r.getMessage() for r in caplog.records if r.name == "manycore.access"]
    lines = "\n".join(records).splitlines()
    assert len(lines) == 2
    assert '"GET /plaintext HTTP/1.1" 200' in lines[0] and '"GET /nope HTTP/1.1" 404' in lines[1]


# ------------------------------------------------------------------ definitions
def test_conflicting_routes_are_an_error_at_class_creation():
    with pytest.raises(TypeError, match="routed to both"):

        class Twice(HttpServer):
            @route("/x")
            def a(self, request):
                return b""

            @route("/x")
            def b(self, request):
                return b""


def test_bad_settings_are_reported_with_the_setting_name():
    with pytest.raises(TypeError, match="max_body_size"):

        class Bad(HttpServer):
            max_body_size = -1


def test_bad_route_patterns_are_reported_where_written():
    with pytest.raises(ValueError, match="unknown parameter type"):
        route("/x/{id:uuid4}")
    with pytest.raises(ValueError, match="starting with '/'"):
        route("x")


def test_subclass_overrides_a_route_handler():
    class Base(HttpServer):
        @route("/who")
        def who(self, request):
            return "base"

    class Child(Base):
        def who(self, request):  # the route stays, the code changes
            return "child"

    assert one(request("/who"), Child())[2] == b"child"


# ------------------------------------------------------------------ JSON without msgspec
def test_json_falls_back_to_the_standard_library():
    code = r"""
import sys
sys.modules["msgspec"] = None  # as on an interpreter without msgspec wheels
from manycore.http import JSON_BACKEND, Response
from manycore.http._json import encode, decode
from manycore.testing import MemoryTransport, feed
from test_http_apps import App, request
assert JSON_BACKEND == "stdlib", JSON_BACKEND
assert encode({"message": "Hello, World!", "n": [1, 2.5, None, True]}) == (
    b'{"message":"Hello, World!","n":[1,2.5,null,true]}')
assert encode({"k": "é"}) == '{"k":"é"}'.encode()
assert decode(b'{"a": 1}') == {"a": 1}
t = MemoryTransport()
feed(App(), request("/json") + request("/echo-json", "POST", body=b'{"x": 1}'), t)
assert b'{"message":"Hello, World!"}' in t.output and b'{"got":{"x":1}}' in t.output, t.output
print("ok")
"""
    import os
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_response_json_text_html_helpers():
    assert Response.json({"a": 1}).body == b'{"a":1}'
    assert Response.text("é").content_type == "text/plain; charset=utf-8"
    assert Response.html("<p>").content_type == "text/html; charset=utf-8"
    redirect = Response.redirect("/there")
    assert redirect.status == 307
