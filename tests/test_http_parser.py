"""The request reader's contract: any input either parses or raises RemoteProtocolError.

Requests are fed all at once, one byte at a time and split at random points;
what comes out must equal what a reference parse (httptools with its own
header callbacks) says the bytes contain.
"""

from __future__ import annotations

from itertools import pairwise

import httptools
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manycore.http import RemoteProtocolError
from manycore.http._heads import ChunkedScanner
from manycore.http._parser import RequestReader
from manycore.http._signals import PauseParsing, StopParsing


def collect(**limits):
    got = []
    continues = []
    reader = RequestReader(
        lambda request, mode: got.append((request, mode)),
        on_continue=lambda: continues.append(len(got)),
        **limits,
    )
    return reader, got, continues


def summary(request):
    return (
        request.method,
        request.target,
        [(n, v) for n, v in request.headers.items()],
        request.body,
    )


def feed_in_pieces(data: bytes, cuts: list[int], **limits):
    reader, got, _ = collect(**limits)
    last = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if cut > last:
            reader.feed(data[last:cut])
            last = cut
    return [summary(r) for r, _ in got]


# ------------------------------------------------------------------ a reference parse
class _Reference:
    """httptools with header callbacks: slower, but independent of head tracking."""

    def __init__(self):
        self.messages = []
        self.url = b""
        self.headers = []
        self.body = b""
        self.in_trailers = False
        self.parser = httptools.HttpRequestParser(self)

    def on_url(self, url):
        self.url += url

    def on_header(self, name, value):
        if not self.in_trailers:  # trailer fields are not request headers
            field = (name.decode("latin-1").lower(), value.decode("latin-1").strip(" \t"))
            self.headers.append(field)

    def on_headers_complete(self):
        self.in_trailers = True

    def on_body(self, body):
        self.body += body

    def on_message_complete(self):
        self.messages.append((self.parser.get_method().decode(), self.url, self.headers, self.body))
        self.url, self.headers, self.body, self.in_trailers = b"", [], b"", False


def reference(data: bytes):
    ref = _Reference()
    ref.parser.feed_data(data)
    return ref.messages


# ------------------------------------------------------------------ strategies
_token = st.text("abcdefghijklmnopqrstuvwxyz-ABCXYZ0123456789", min_size=1, max_size=12)
_value = st.text("abcdefghijklmnopqrstuvwxyz ,;=/0123456789.:", max_size=30).map(str.strip)
_path = st.text("abcdefghijklmnopqrstuvwxyz0123456789/-._~%20", max_size=20).map(
    lambda p: "/" + p.replace("%", "")
)
_query = st.one_of(st.just(""), st.text("abc=&xyz01", max_size=15).map(lambda q: "?" + q))


@st.composite
def a_request(draw):
    method = draw(st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]))
    target = draw(_path) + draw(_query)
    names = draw(st.lists(_token, max_size=6))
    headers = [
        (n, draw(_value))
        for n in names
        if n.lower() not in ("host", "content-length", "transfer-encoding", "connection", "upgrade")
        and n.lower() != "expect"
    ]
    body_kind = draw(st.sampled_from(["none", "length", "chunked"]))
    body = draw(st.binary(max_size=200)) if body_kind != "none" else b""
    lines = [f"{method} {target} HTTP/1.1", "Host: example"]
    lines += [f"{n}: {v}" for n, v in headers]
    wire_body = b""
    if body_kind == "length":
        lines.append(f"Content-Length: {len(body)}")
        wire_body = body
    elif body_kind == "chunked":
        lines.append("Transfer-Encoding: chunked")
        pos = 0
        sizes = draw(st.lists(st.integers(1, 50), max_size=10))
        for size in sizes:
            piece = body[pos : pos + size]
            if not piece:
                break
            ext = draw(st.sampled_from(["", ";a=b", ';q="x;y"']))
            wire_body += b"%x%s\r\n%s\r\n" % (len(piece), ext.encode(), piece)
            pos += len(piece)
        body = body[:pos]
        trailer = draw(st.sampled_from([b"", b"X-Trailer: t\r\n"]))
        wire_body += b"0\r\n" + trailer + b"\r\n"
    leading = draw(st.sampled_from([b"", b"\r\n", b"\r\n\r\n"]))
    wire = leading + ("\r\n".join(lines) + "\r\n\r\n").encode() + wire_body
    return wire


# ------------------------------------------------------------------ the three feeding styles
PIPELINE = (
    b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-One: 1\r\n\r\n"
    b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    b"\r\n"
    b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer-Field: x\r\n\r\n"
    b"GET /d HTTP/1.1\r\nHost: h\r\n\r\n"
)
EXPECTED = [
    ("GET", b"/a?x=1", [("host", "h"), ("x-one", "1")], b""),
    ("POST", b"/b", [("host", "h"), ("content-length", "5")], b"hello"),
    ("PUT", b"/c", [("host", "h"), ("transfer-encoding", "chunked")], b"abcde"),
    ("GET", b"/d", [("host", "h")], b""),
]


def test_pipeline_all_at_once():
    assert feed_in_pieces(PIPELINE, []) == EXPECTED


def test_pipeline_one_byte_at_a_time():
    assert feed_in_pieces(PIPELINE, list(range(len(PIPELINE)))) == EXPECTED


def test_trailing_partial_request_is_kept_for_the_next_read():
    reader, got, _ = collect()
    reader.feed(PIPELINE + b"GET /e HTTP/1.1\r\nHo")
    assert [summary(r) for r, _ in got] == EXPECTED
    assert reader.in_head
    reader.feed(b"st: h\r\n\r\n")
    assert summary(got[-1][0]) == ("GET", b"/e", [("host", "h")], b"")
    assert not reader.in_message


def test_heads_can_be_read_in_any_order_after_the_read():
    reader, got, _ = collect()
    reader.feed(b"".join(b"GET /%d HTTP/1.1\r\nHost: h%d\r\n\r\n" % (i, i) for i in range(20)))
    for i in reversed(range(20)):
        assert got[i][0].headers["host"] == f"h{i}"


def test_repeated_and_differing_pipelined_requests_keep_their_own_heads():
    same = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    other = b"GET /a HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n"
    wire = same * 3 + other + same + b"\r\n" + same * 2 + other
    expected = [b"Host: h"] * 3 + [b"Host: h\r\nX: 1"] + [b"Host: h"] * 3 + [b"Host: h\r\nX: 1"]
    for cuts in ([], [len(same) * 2 + 5], list(range(len(wire)))):
        reader, got, _ = collect()
        last = 0
        for cut in [*cuts, len(wire)]:
            reader.feed(wire[last:cut])
            last = cut
        assert [r.head.split(b"\r\n", 1)[1] for r, _ in got] == expected
        assert not reader.in_message


def test_sixteen_pipelined_requests_in_one_read():
    reader, got, _ = collect()
    reader.feed(b"GET /json HTTP/1.1\r\nHost: h\r\n\r\n" * 16)
    assert len(got) == 16 and all(r.target == b"/json" for r, _ in got)


def feed_reads(reader, reads: list[bytes]) -> None:
    for read in reads:
        reader.feed(read)


def test_reads_of_copies_of_one_request_keep_heads_methods_and_modes_however_split():
    head = b"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n"
    same_length = b"GET /ab HTTP/1.1\r\nHost: h\r\n\r\n"
    wire = head * 4 + head * 4 + same_length * 3 + head * 2
    expected = [("HEAD", b"/a")] * 8 + [("GET", b"/ab")] * 3 + [("HEAD", b"/a")] * 2
    size = len(head)
    for cuts in ([], [4 * size, 8 * size, 11 * size], list(range(len(wire)))):
        reader, got, _ = collect()
        feed_reads(reader, split_at(wire, cuts))
        assert [(r.method, r.target) for r, _ in got] == expected
        assert all(r.head == r.head.split(b"\r\n\r\n")[0] for r, _ in got)
        assert [r.head.split(b" ")[0] for r, _ in got] == [m.encode() for m, _ in expected]
        assert all(mode == 0 for _, mode in got)
        assert not reader.in_message


def test_copies_of_a_keep_alive_http10_request_stay_http10():
    request = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    reader, got, _ = collect()
    feed_reads(reader, [request * 3, request * 3])
    assert [(r.version, mode) for r, mode in got] == [("1.0", 0)] * 6


def test_a_head_of_the_same_length_as_a_checked_one_is_still_checked():
    good = b"GET /a HTTP/1.1\r\nHost: hh\r\n\r\n"
    bad_host = b"GET /a HTTP/1.1\r\nHost: h/\r\n\r\n"
    for reads, delivered in (
        ([good * 4, bad_host * 4], 4),
        ([good * 4, good * 3 + bad_host], 7),
        ([good, bad_host], 1),
    ):
        reader, got, _ = collect()
        with pytest.raises(RemoteProtocolError) as info:
            feed_reads(reader, reads)
        assert info.value.status == 400
        assert len(got) == delivered


def test_delivered_counts_every_request_however_the_reads_come():
    same = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    other = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
    wire = same * 3 + other + same * 2 + same * 4 + other
    size = len(same)
    for cuts in ([], [3 * size, 6 * size], list(range(0, len(wire), 7)), list(range(len(wire)))):
        for taken_every in (1, 2, 3):
            reader, got, _ = collect()
            counted = 0
            for i, read in enumerate(split_at(wire, cuts)):
                reader.feed(read)
                if i % taken_every == 0:  # the connection takes the count after a read
                    counted += reader.delivered
                    reader.delivered = 0
            counted += reader.delivered
            assert counted == len(got) == 11


def test_delivered_counts_the_requests_before_a_pause():
    same = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    got = []

    def deliver(request, mode):
        got.append(request)
        if len(got) == 2:
            raise PauseParsing

    reader = RequestReader(deliver)
    reader.feed(same)
    reader.feed(same * 4)
    assert reader.delivered == 2 and reader.held == same * 3
    reader.delivered = 0
    reader.feed(reader.held)
    assert reader.delivered == 3 and len(got) == 5


def test_a_stop_in_a_read_of_copies_ends_the_reader_at_that_request():
    same = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    got = []

    def deliver(request, mode):
        got.append(request)
        if len(got) == 3:
            raise StopParsing

    reader = RequestReader(deliver)
    reader.feed(same)
    reader.feed(same * 8)
    assert len(got) == 3 and reader.delivered == 3 and reader.finished
    reader.feed(same * 8)
    assert len(got) == 3


def test_a_failure_in_a_read_of_copies_surfaces_and_ends_the_reader():
    same = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    got = []

    def deliver(request, mode):
        got.append(request)
        if len(got) == 4:
            raise KeyError("bug")

    reader = RequestReader(deliver)
    reader.feed(same * 2)
    with pytest.raises(KeyError):
        reader.feed(same * 4)
    assert len(got) == 4 and reader.delivered == 4 and reader.finished


def test_after_reads_of_copies_the_next_requests_are_parsed_and_judged():
    same = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    post = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    for cuts in ([], list(range(len(post)))):
        reader, got, _ = collect()
        feed_reads(reader, [same, same * 4, *split_at(post, cuts), same * 2])
        assert [(r.method, r.target, r.body) for r, _ in got] == (
            [("GET", b"/a", b"")] * 5 + [("POST", b"/p", b"abc")] + [("GET", b"/a", b"")] * 2
        )
        with pytest.raises(RemoteProtocolError) as info:
            reader.feed(same * 2 + b"GET /b HTTP/1.1\r\nHost: h\r\nbad header\r\n\r\n")
        assert info.value.status == 400 and len(got) == 10


def test_copies_of_an_upgrade_request_are_each_delivered():
    ws = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    reader, got, _ = collect()
    feed_reads(reader, [ws * 3, ws * 3])
    assert [r.target for r, _ in got] == [b"/ws"] * 6


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(a_request(), min_size=1, max_size=5), st.data())
def test_any_split_gives_the_reference_messages(requests, data):
    wire = b"".join(requests)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=12))
    expected = [(m, u, h, b) for m, u, h, b in reference(wire)]
    assert feed_in_pieces(wire, cuts) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=5))
def test_arbitrary_bytes_parse_or_raise_remote_protocol_error(junk, cuts):
    reader, got, _ = collect(max_head_size=256, max_url_length=64, max_body_size=64)
    last = 0
    try:
        for cut in [*sorted(c for c in cuts if c <= len(junk)), len(junk)]:
            reader.feed(junk[last:cut])
            last = cut
    except RemoteProtocolError as exc:
        assert 400 <= exc.status <= 505
    for request, _ in got:  # whatever was delivered is readable
        assert isinstance(request.method, str)
        request.headers  # noqa: B018


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.sampled_from([b"GET", b"POST", b"G"]))
def test_prefixed_garbage_never_escapes_the_contract(junk, prefix):
    reader, _, _ = collect()
    try:
        reader.feed(prefix + junk)
        reader.feed(b"\r\n\r\n")
    except RemoteProtocolError:
        pass


# ------------------------------------------------------------------ request smuggling
@pytest.mark.parametrize(
    "wire",
    [
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        b"0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1_0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\n Transfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n",
        b"GET / HTTP/1.1\nHost: h\n\n",
    ],
    ids=[
        "CL-then-TE",
        "TE-then-CL",
        "two-different-CL",
        "two-equal-CL",
        "TE-not-chunked",
        "chunked-not-last",
        "space-before-colon",
        "negative-CL",
        "odd-CL",
        "obs-fold",
        "space-in-chunk-size",
        "bare-LF-chunks",
        "bare-LF-head",
    ],
)
def test_smuggling_attempts_are_400(wire):
    reader, got, _ = collect()
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(wire)
    assert info.value.status == 400
    assert got == []


def test_upgrade_with_a_body_is_refused_not_reparsed():
    # llhttp would skip the body of an Upgrade request; a body that looks like a
    # request must never be parsed as the next request.
    reader, got, _ = collect()
    smuggled = b"GET /admin HTTP/1.1\r\nHost: h\r\n\r\n"
    wire = (
        b"POST / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
    )
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(wire)
    assert info.value.status == 501
    assert got == []


def test_upgrade_without_body_is_ignored_and_parsing_goes_on():
    reader, got, _ = collect()
    reader.feed(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert [r.target for r, _ in got] == [b"/ws", b"/next"]


def test_connect_is_not_implemented():
    reader, _, _ = collect()
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert info.value.status == 501


# ------------------------------------------------------------------ malformed request lines
@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (b"get / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", 400),
        (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400),
        (b"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET /\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host (RFC 9112 section 3.2)
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400),
    ],
)
def test_malformed_requests(wire, status):
    reader, got, _ = collect()
    if status is None:
        reader.feed(wire)
        assert len(got) == 1
        return
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(wire)
    assert info.value.status == status


def test_http10_request_is_accepted_and_not_kept_alive():
    reader, got, _ = collect()
    reader.feed(b"GET / HTTP/1.0\r\n\r\n")
    request, mode = got[0]
    assert request.version == "1.0" and mode == 1


def test_http10_keep_alive_is_honoured():
    reader, got, _ = collect()
    reader.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert got[0][1] == 0


def test_connection_close_ends_keep_alive():
    reader, got, _ = collect()
    reader.feed(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert got[0][1] == 1


# ------------------------------------------------------------------ limits
def test_long_url_is_414_in_one_read():
    reader, _, _ = collect(max_url_length=100, max_head_size=1000)
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
    assert info.value.status == 414


def test_long_url_is_414_when_it_trickles_in():
    reader, _, _ = collect(max_url_length=100, max_head_size=1000)
    reader.feed(b"GET /")
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(100):
            reader.feed(b"a" * 20)
    assert info.value.status == 414


def test_large_header_section_is_431():
    reader, _, _ = collect(max_head_size=1000)
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 2000 + b"\r\n\r\n")
    assert info.value.status == 431


def test_endless_header_value_is_431_without_buffering_it_all():
    reader, _, _ = collect(max_head_size=1000)
    reader.feed(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(1000):
            reader.feed(b"v" * 100)
    assert info.value.status == 431


@pytest.mark.parametrize("pad", [0, 20000], ids=["with-a-body", "in-a-long-read"])
def test_too_many_header_fields_is_431(pad):
    reader, _, _ = collect(max_header_count=10, max_head_size=10_000)
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(50))
    body = b"" if pad else b"Content-Length: 1\r\n"
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(b"POST / HTTP/1.1\r\nHost: h\r\n" + fields + body + b"\r\nx" + b"\r\n" * pad)
    assert info.value.status == 431


def test_declared_large_body_is_413_before_it_arrives():
    reader, got, continues = collect(max_body_size=100)
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n"
        )
    assert info.value.status == 413
    assert continues == [] and got == []


def test_chunked_body_over_the_limit_is_413():
    reader, _, _ = collect(max_body_size=100)
    reader.feed(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(20):
            reader.feed(b"10\r\n" + b"x" * 16 + b"\r\n")
    assert info.value.status == 413


def test_expect_continue_is_signalled_once_the_head_is_in():
    reader, got, continues = collect()
    reader.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert continues == [0] and got == []
    reader.feed(b"abc")
    assert got[0][0].body == b"abc"


def test_unknown_expectation_is_417():
    reader, _, _ = collect()
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: magic\r\n\r\n")
    assert info.value.status == 417


def test_duplicate_host_is_400():
    reader, _, _ = collect()
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(b"POST / HTTP/1.1\r\nHost: a\r\nhost: b\r\nContent-Length: 1\r\n\r\nx")
    assert info.value.status == 400


# ------------------------------------------------------------------ chunked framing
@given(
    st.lists(st.binary(min_size=1, max_size=40), max_size=8),
    st.booleans(),
    st.lists(st.integers(0, 400), max_size=6),
)
def test_chunked_scanner_finds_the_end_however_split(chunks, trailer, cuts):
    body = b"".join(b"%x;e=1\r\n%s\r\n" % (len(c), c) for c in chunks)
    body += b"0\r\n" + (b"T: v\r\n" if trailer else b"") + b"\r\n"
    wire = body + b"GET / HTTP/1.1\r\n"
    for pieces in (
        [wire],
        [wire[i : i + 1] for i in range(len(wire))],
        split_at(wire, cuts),
    ):
        scanner = ChunkedScanner(1000, 10)
        seen = 0
        for piece in pieces:
            end = scanner.feed(piece, 0)
            if end >= 0:
                assert seen + end == len(body)
                break
            seen += len(piece)
        else:
            raise AssertionError("the end of the chunked body was not found")


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


@pytest.mark.parametrize(
    "query",
    [
        b"a=1",
        b"queries=",
        b"queries",
        b"a=1&&b=2&",
        b"=x&y=",
        b"=",
        b"a==b",
        b"x=\xe9",
        b"a=1;b=2",
        b"k&k=2&k",
        b"q=caf%C3%A9+au+lait",
        b"a+b=%2",
        b"%zz=1",
    ],
)
def test_query_strings_parse_exactly_like_the_standard_library(query):
    from urllib.parse import parse_qsl

    from manycore.http._headers import QueryParams

    expected = parse_qsl(
        query.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace"
    )
    assert list(QueryParams.from_bytes(query).items()) == expected


def test_too_many_query_parameters_is_a_400():
    from manycore.http import HTTPError
    from manycore.http._headers import QueryParams

    with pytest.raises(HTTPError, match="more than 1000 query parameters"):
        QueryParams.from_bytes(b"&".join([b"a=1"] * 1001))
    assert len(list(QueryParams.from_bytes(b"&".join([b"a=1"] * 1000)).items())) == 1000
