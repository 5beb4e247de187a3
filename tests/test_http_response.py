"""Responses as bytes: framing, content types, bodiless statuses, HEAD, and the error page.

``render`` is what every plain response goes through, so its contract is the
wire: a head a client can parse (Server and Date always, one Content-Length
that matches the body, none where the status forbids a body) and the body.
"""

from __future__ import annotations

import email.utils
import re

import pytest

from manycore.http import HTTPError, HttpServer, Request, Response, route
from manycore.http._errors import LocalProtocolError
from manycore.http._response import CLOSE, KEEP, error_response, http_error_response, render
from manycore.testing import MemoryTransport, feed
from test_http_apps import request, split_responses


def wire(resp: Response, mode: int = KEEP, head_only: bool = False) -> tuple[bytes, int]:
    out: list[bytes] = []
    used = render(out, resp, mode, head_only)
    return b"".join(out), used


def parsed(resp: Response, mode: int = KEEP) -> tuple[int, dict[str, str], bytes]:
    data, _ = wire(resp, mode)
    (response,) = split_responses(data)
    return response


def without_date(data: bytes) -> bytes:
    """Two answers built a second apart differ only in Date."""
    return re.sub(rb"\r\nDate: [^\r]*", b"", data)


def head_lines(data: bytes) -> list[str]:
    return data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")


# ------------------------------------------------------------------ framing
def test_a_response_carries_server_date_length_and_body():
    status, headers, body = parsed(Response(b"hello", content_type="text/plain"))
    assert (status, body) == (200, b"hello")
    assert headers["server"] == "manycore"
    assert email.utils.parsedate_to_datetime(headers["date"]).tzname() == "UTC"
    assert headers["content-length"] == "5"
    assert headers["content-type"] == "text/plain"
    assert headers["connection"] == "keep-alive"


def test_the_status_line_has_the_standard_reason_phrase():
    data, _ = wire(Response(b"", 404))
    assert data.startswith(b"HTTP/1.1 404 Not Found\r\n")


def test_a_status_without_a_standard_phrase_has_an_empty_one():
    data, _ = wire(Response(b"x", 299))
    assert data.startswith(b"HTTP/1.1 299 \r\n")


@pytest.mark.parametrize("status", [0, 99, 1000, 100_000])
def test_a_status_outside_200_to_999_is_the_applications_mistake(status):
    with pytest.raises(LocalProtocolError, match="status must be an int from 200 to 999"):
        wire(Response(b"x", status))


def test_a_str_body_is_sent_as_utf8_text():
    _, headers, body = parsed(Response("héllo"))
    assert body == "héllo".encode()
    assert headers["content-length"] == str(len("héllo".encode()))
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_a_str_body_keeps_an_explicit_content_type():
    _, headers, _ = parsed(Response("<p>", content_type="text/html; charset=utf-8"))
    assert headers["content-type"] == "text/html; charset=utf-8"


def test_bytes_without_a_content_type_are_octet_stream():
    _, headers, _ = parsed(Response(b"\x00\x01"))
    assert headers["content-type"] == "application/octet-stream"


def test_an_empty_body_has_no_content_type_and_length_zero():
    _, headers, body = parsed(Response())
    assert body == b""
    assert headers["content-length"] == "0"
    assert "content-type" not in headers


@pytest.mark.parametrize("body", [bytearray(b"abc"), memoryview(b"abc")])
def test_bytearray_and_memoryview_bodies_are_sent_as_bytes(body):
    assert parsed(Response(body))[2] == b"abc"


@pytest.mark.parametrize("body", [{"a": 1}, 42, None, [b"a"]])
def test_a_body_that_is_not_bytes_or_str_is_refused_with_the_fix(body):
    with pytest.raises(LocalProtocolError, match=r"must be bytes or str.*Response\.json"):
        wire(Response(body))


def test_a_large_body_arrives_whole_and_exactly():
    body = bytes(range(256)) * 1000
    _, headers, received = parsed(Response(body))
    assert received == body
    assert headers["content-length"] == str(len(body))


@pytest.mark.parametrize("status", [204, 304])
def test_a_bodiless_status_sends_no_body_and_no_length(status):
    data, _ = wire(Response(b"ignored", status, content_type="text/plain"))
    assert data.endswith(b"\r\n\r\n")
    assert b"ignored" not in data
    assert not any(line.lower().startswith("content-length") for line in head_lines(data))


@pytest.mark.parametrize("status", [204, 304])
def test_a_bodiless_status_with_headers_sends_no_body_and_no_length(status):
    data, _ = wire(Response(b"ignored", status, headers={"ETag": '"v1"'}))
    assert data.endswith(b"\r\n\r\n")
    assert b"ignored" not in data
    assert 'ETag: "v1"' in head_lines(data)
    assert not any(line.lower().startswith("content-length") for line in head_lines(data))


@pytest.mark.parametrize("headers", [None, {"X-Tag": "t"}], ids=["plain", "with-headers"])
@pytest.mark.parametrize("size", [5, 100_000])
def test_a_head_answer_has_the_get_length_and_no_body(headers, size):
    resp = Response(b"x" * size, headers=headers)
    get, _ = wire(resp)
    head, _ = wire(resp, head_only=True)
    assert without_date(head) == without_date(get[: get.index(b"\r\n\r\n") + 4])
    assert f"Content-Length: {size}" in head_lines(head)


# ------------------------------------------------------------------ headers and modes
def test_headers_as_a_mapping_or_repeated_pairs():
    _, headers, _ = parsed(Response(b"x", headers={"X-One": "1", "Cache-Control": "no-store"}))
    assert (headers["x-one"], headers["cache-control"]) == ("1", "no-store")
    data, _ = wire(Response(b"x", headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]))
    assert [line for line in head_lines(data) if line.startswith("Set-Cookie")] == [
        "Set-Cookie: a=1",
        "Set-Cookie: b=2",
    ]


def test_an_application_content_type_header_replaces_the_default():
    data, _ = wire(Response(b"x", headers={"Content-Type": "image/png"}))
    assert [line for line in head_lines(data) if line.lower().startswith("content-type")] == [
        "Content-Type: image/png"
    ]


def test_an_application_server_or_date_header_replaces_the_servers_own():
    data, _ = wire(Response(b"x", headers={"Server": "edge", "Date": "yesterday"}))
    lines = head_lines(data)
    assert [line for line in lines if line.startswith(("Server", "Date"))] == [
        "Server: edge",
        "Date: yesterday",
    ]


def test_connection_close_from_the_application_closes_the_connection():
    data, mode = wire(Response(b"x", headers={"Connection": "close"}))
    assert mode == CLOSE
    assert [line for line in head_lines(data) if line.startswith("Connection")] == [
        "Connection: close"
    ]


@pytest.mark.parametrize("mode", [KEEP, CLOSE])
def test_the_connection_mode_is_written_and_returned(mode):
    data, used = wire(Response(b"x"), mode)
    assert used == mode
    expected = "Connection: close" if mode == CLOSE else "Connection: keep-alive"
    assert expected in head_lines(data)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Length": "3"}, "Content-Length is computed by the server"),
        ({"Transfer-Encoding": "chunked"}, r"use Response\.stream"),
        ({"X-Bad": "a\r\nSet-Cookie: x=1"}, "contains a CR, LF or NUL"),
        ({"Bad Name": "v"}, "is not a valid HTTP token"),
        ({"X-Name": "\u2603"}, "is not latin-1"),
    ],
)
def test_header_mistakes_are_the_applications_and_name_the_field(headers, message):
    with pytest.raises(LocalProtocolError, match=message):
        wire(Response(b"x", headers=headers))


# ------------------------------------------------------------------ constructors
def test_json_text_and_html_set_their_content_types():
    assert parsed(Response.json({"a": [1, "é"]}))[1]["content-type"] == "application/json"
    assert parsed(Response.json({"a": [1, "é"]}))[2] == '{"a":[1,"é"]}'.encode()
    assert parsed(Response.text("é"))[1]["content-type"] == "text/plain; charset=utf-8"
    assert parsed(Response.html("<b>é</b>"))[1]["content-type"] == "text/html; charset=utf-8"
    assert parsed(Response.html("<b>é</b>"))[2] == "<b>é</b>".encode()


def test_constructors_keep_status_and_headers():
    status, headers, _ = parsed(Response.json([], status=201, headers={"Location": "/x/1"}))
    assert (status, headers["location"]) == (201, "/x/1")
    assert parsed(Response.text("gone", status=410))[0] == 410


def test_a_redirect_keeps_the_method_unless_told_otherwise():
    status, headers, body = parsed(Response.redirect("/elsewhere"))
    assert (status, headers["location"], body) == (307, "/elsewhere", b"")
    assert parsed(Response.redirect("/moved", status=308))[0] == 308


def test_a_redirect_to_a_location_with_a_newline_is_refused():
    with pytest.raises(LocalProtocolError, match="contains a CR, LF or NUL"):
        wire(Response.redirect("/x\r\nSet-Cookie: a=1"))


def test_repr_names_status_type_and_size():
    assert repr(Response(b"abc", 201, content_type="text/plain")) == (
        "<Response 201 text/plain 3 bytes>"
    )


# ------------------------------------------------------------------ error pages
def test_an_error_page_is_short_plain_text_with_the_reason():
    status, headers, body = parsed(error_response(404, "no such item"))
    assert (status, body) == (404, b"404 Not Found: no such item\n")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert parsed(error_response(503))[2] == b"503 Service Unavailable\n"


def test_an_error_page_for_a_non_standard_status_says_error():
    assert parsed(error_response(499, "client went away"))[2] == b"499 Error: client went away\n"


def test_an_http_error_becomes_its_page_with_its_headers():
    exc = HTTPError(405, "use GET", [("Allow", "GET, HEAD")])
    status, headers, body = parsed(http_error_response(exc))
    assert (status, headers["allow"], body) == (
        405,
        "GET, HEAD",
        b"405 Method Not Allowed: use GET\n",
    )


# ------------------------------------------------------------------ on the wire
class Answers(HttpServer):
    @route("/text")
    def text(self, request: Request) -> Response:
        return Response("héllo")

    @route("/empty")
    def empty(self, request: Request) -> Response:
        return Response(b"", 204, headers={"X-Why": "nothing"})

    @route("/cookies")
    def cookies(self, request: Request) -> Response:
        return Response(b"ok", headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])

    @route("/bye")
    def bye(self, request: Request) -> Response:
        return Response(b"bye", headers={"Connection": "close"})


def exchange(data: bytes, bytewise: bool) -> MemoryTransport:
    app = Answers()
    transport = MemoryTransport()
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        if transport.closed:
            break
        feed(app, piece, transport)
    return transport


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_responses_on_one_connection_frame_each_other(bytewise):
    data = (
        request("/text")
        + request("/empty")
        + request("/cookies")
        + request("/bye")
        + request("/text")
    )
    transport = exchange(data, bytewise)
    responses = split_responses(bytes(transport.output))
    assert [(status, body) for status, _, body in responses] == [
        (200, "héllo".encode()),
        (204, b""),
        (200, b"ok"),
        (200, b"bye"),
    ]
    assert responses[1][1]["x-why"] == "nothing"
    assert responses[2][1]["set-cookie"] == "a=1, b=2"
    assert responses[3][1]["connection"] == "close"
    assert transport.closed


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_a_head_request_on_the_wire_gets_the_head_alone(bytewise):
    get = bytes(exchange(request("/text"), bytewise).output)
    head = bytes(exchange(request("/text", method="HEAD") + request("/text"), bytewise).output)
    get_head = get[: get.index(b"\r\n\r\n") + 4]
    assert without_date(head) == without_date(get_head + get)


def test_the_answers_do_not_depend_on_where_the_requests_are_cut():
    data = request("/text") + request("/empty") + request("/cookies") + request("/bye")
    expected = without_date(bytes(exchange(data, bytewise=False).output))
    for cut in range(1, len(data)):
        app = Answers()
        transport = MemoryTransport()
        feed(app, data[:cut], transport)
        feed(app, data[cut:], transport)
        assert without_date(bytes(transport.output)) == expected, cut
        assert transport.closed
