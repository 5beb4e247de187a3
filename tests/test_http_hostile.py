"""What a hostile client sends, and what it must get back.

Every input is fed the ways a client can deliver it -- whole, one byte at a
time, and split in two at every boundary -- and must give the same outcome
each time; then it goes over a real socket on every engine.
"""

from __future__ import annotations

import json
import logging
import socket
import sysconfig
import time

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ENGINES, TEST_APPS, recv_all
from manycore.http import RemoteProtocolError
from manycore.http._parser import RequestReader
from manycore.testing import MemoryTransport, ServerProcess, feed
from test_http_apps import APPS, App, recv_responses, request, split_responses

pytestmark = pytest.mark.timeout(300)


# ------------------------------------------------------------------ feeding
def splits(wire: bytes) -> list[list[bytes]]:
    """Whole, byte by byte, and in two pieces at every boundary."""
    ways = [[wire], [wire[i : i + 1] for i in range(len(wire))]]
    ways += [[wire[:i], wire[i:]] for i in range(1, len(wire))]
    return ways


def read_with(pieces: list[bytes], **limits) -> tuple:
    """(delivered requests, 100-continue signals, error status or None) for one feeding."""
    got = []
    continues = []
    reader = RequestReader(
        lambda request, mode: got.append((request, mode)),
        on_continue=lambda: continues.append(len(got)),
        **limits,
    )
    status = None
    try:
        for piece in pieces:
            reader.feed(piece)
    except RemoteProtocolError as exc:
        status = exc.status
    delivered = tuple((r.method, r.target, mode, r.body) for r, mode in got)
    return delivered, tuple(continues), status


def read_every_way(wire: bytes, **limits) -> tuple:
    """The one outcome of ``wire`` however it is split (asserted to be the same)."""
    outcomes = {read_with(pieces, **limits) for pieces in splits(wire)}
    assert len(outcomes) == 1, outcomes
    return outcomes.pop()


def answer_every_way(wire: bytes, caplog) -> list[int]:
    """Statuses the in-memory server answers, the same however split, with nothing logged."""
    answers = set()
    for pieces in splits(wire):
        app = App()
        transport = MemoryTransport()
        for piece in pieces:
            if transport.closed:
                break
            feed(app, piece, transport)
        answers.add(tuple(s for s, _, _ in split_responses(bytes(transport.output))))
    assert len(answers) == 1, answers
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    return list(answers.pop())


# ------------------------------------------------------------------ mixtures
PIECES = [
    request("/a"),
    request("/a"),
    request("/b", headers="X: a HTTP/1.1\r\n"),
    b"GET /a RTSP/1.1\r\nHost: h\r\n\r\n",
    b"GET /a HTTP/2.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    b"GET /a\r\nConnection: keep-alive\r\n\r\n",
    b"GET /a\nHost: h\r\n\r\n",
    b"\r\n",
    b"GET /a#x HTTP/1.1\r\nHost: h\r\n\r\n",
    request("/p", "POST", body=b"abc"),
    b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    b"GET /a HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    b"GET /u HTTP/1.1\r\nHost: h\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
    b"BREW /a HTTP/1.1\r\n\r\n",
]


def read_heads(wire: bytes, cuts: list[int]) -> tuple:
    got = []
    reader = RequestReader(lambda r, mode: got.append((r.target, bool(mode), r.body, r.head)))
    last = 0
    try:
        for cut in [*cuts, len(wire)]:
            reader.feed(wire[last:cut])
            last = cut
    except RemoteProtocolError as exc:
        assert type(exc) is RemoteProtocolError, exc  # never a head tracking failure
        return got, exc.status
    return got, None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6), st.data())
def test_any_mixture_gives_one_outcome_however_split(pieces, data):
    wire = b"".join(pieces)
    whole = read_heads(wire, [])
    cuts = sorted(
        data.draw(st.sets(st.integers(1, len(wire) - 1), max_size=6)) if len(wire) > 1 else []
    )
    assert read_heads(wire, cuts) == whole
    assert read_heads(wire, list(range(1, len(wire)))) == whole


# ------------------------------------------------------------------ real sockets
@pytest.fixture(scope="module", params=ENGINES)
def server(request):
    engine = request.param
    with ServerProcess(APPS, engine=engine, workers=1 if engine == "inline" else 2) as proc:
        yield proc


def exchange(server, wire: bytes, count: int) -> tuple[list[int], bool]:
    """Statuses of the answers to ``wire``, and whether the server then closed."""
    with socket.create_connection(server.address, timeout=20) as sock:
        sock.sendall(wire)
        data = recv_responses(sock, count)
        sock.settimeout(20)
        try:
            closed = sock.recv(65536) == b""
        except (TimeoutError, ConnectionResetError):
            closed = False
    return [s for s, _, _ in split_responses(data)], closed


def assert_no_internal_errors(server) -> None:
    log = server.log()
    assert "Traceback" not in log and "internal error" not in log and "report" not in log, log


# ------------------------------------------------------------------ a request after an Upgrade
UPGRADE_THEN_CLOSE = (
    b"GET /plaintext HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    b"GET /json HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
)


def test_request_after_an_upgrade_request_is_answered_once(caplog):
    delivered, _, status = read_every_way(UPGRADE_THEN_CLOSE)
    assert [(target, mode) for _, target, mode, _ in delivered] == [
        (b"/plaintext", 0),
        (b"/json", 1),
    ]
    assert status is None
    assert answer_every_way(UPGRADE_THEN_CLOSE, caplog) == [200, 200]


def test_request_after_an_upgrade_request_over_a_socket(server):
    statuses, closed = exchange(server, UPGRADE_THEN_CLOSE, 3)
    assert statuses == [200, 200] and closed
    assert_no_internal_errors(server)


# ------------------------------------------------------------------ versions
OTHER_VERSIONS = [
    b"GET /plaintext HTTP/2.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    b"GET /plaintext HTTP/0.9\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    b"GET /plaintext RTSP/1.1\r\nHost: h\r\n\r\n",
    b"GET /plaintext RTSP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    b"SOURCE /plaintext ICE/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    b"GET /plaintext\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
]
VERSION_IDS = ["HTTP/2.0", "HTTP/0.9", "RTSP/1.1", "RTSP/1.0", "ICE/1.0", "no-version"]


@pytest.mark.parametrize("wire", OTHER_VERSIONS, ids=VERSION_IDS)
def test_versions_other_than_1x_are_505_on_keep_alive_connections(wire, caplog):
    assert read_every_way(wire) == ((), (), 505)
    pipelined = request("/plaintext") + wire + request("/json")
    assert read_every_way(pipelined)[2] == 505
    assert answer_every_way(pipelined, caplog) == [200, 505]


@pytest.mark.parametrize("wire", OTHER_VERSIONS, ids=VERSION_IDS)
def test_versions_other_than_1x_are_505_over_a_socket(server, wire):
    statuses, closed = exchange(server, request("/plaintext") + wire + request("/json"), 3)
    assert statuses == [200, 505] and closed


# ------------------------------------------------------------------ HTTP/1.0 and Transfer-Encoding
HTTP10_CHUNKED = (
    b"POST /echo HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
)


def test_http10_with_transfer_encoding_closes_after_the_answer(caplog):
    delivered, _, status = read_every_way(HTTP10_CHUNKED + request("/json"))
    assert delivered[0] == ("POST", b"/echo", 1, b"abc") and status is None
    assert answer_every_way(HTTP10_CHUNKED + request("/json"), caplog) == [200]


def test_http10_with_transfer_encoding_closes_over_a_socket(server):
    statuses, closed = exchange(server, HTTP10_CHUNKED + request("/json"), 2)
    assert statuses == [200] and closed


# ------------------------------------------------------------------ 100 Continue and HTTP/1.0
HTTP10_EXPECT = (
    b"POST /echo HTTP/1.0\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
)


def test_no_100_continue_for_http10():
    assert read_every_way(HTTP10_EXPECT) == ((), (), None)
    delivered, continues, status = read_every_way(HTTP10_EXPECT + b"data")
    assert continues == () and status is None
    assert [body for _, _, _, body in delivered] == [b"data"]
    # HTTP/1.1 still gets it once the head is in and the body is not.
    assert read_every_way(HTTP10_EXPECT.replace(b"HTTP/1.0", b"HTTP/1.1")) == ((), (0,), None)


def test_no_100_continue_for_http10_over_a_socket(server):
    with socket.create_connection(server.address, timeout=20) as sock:
        sock.sendall(HTTP10_EXPECT)
        sock.settimeout(2)  # time for an interim answer to come, if one is (wrongly) sent
        try:
            early = sock.recv(65536)
        except TimeoutError:
            early = b""
        sock.settimeout(20)
        sock.sendall(b"data")
        data = early + recv_all(sock)  # HTTP/1.0 without keep-alive: the server closes
    assert b"100 Continue" not in data
    assert [(s, b) for s, _, b in split_responses(data)] == [(200, b"data")]


def test_an_unknown_expectation_is_417_with_a_body_or_without(caplog):
    with_body = b"POST /echo HTTP/1.1\r\nHost: h\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx"
    assert read_every_way(with_body) == ((), (), 417)
    assert answer_every_way(with_body, caplog) == [417]
    bodyless = b"DELETE /items/1 HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n"
    assert read_every_way(bodyless) == ((), (), 417)
    assert answer_every_way(request("/plaintext") + bodyless, caplog) == [200, 417]
    # A repeat of a head that passed is recognised without a second look; one that
    # differs only in its expectation is looked at.
    assert answer_every_way(request("/plaintext") * 2 + bodyless, caplog) == [200, 200, 417]


def test_a_bodyless_100_continue_is_ignored(caplog):
    bodyless = b"GET /plaintext HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"
    assert read_every_way(bodyless)[2] is None
    assert answer_every_way(bodyless * 2, caplog) == [200, 200]


# ------------------------------------------------------------------ bare LF
BARE_LF = [
    b"GET /plaintext\n\r\n",
    b"GET /plaintext\nHost: h\r\n\r\n",
    b"GET /plaintext\nHost: h\r\nConnection: keep-alive\r\n\r\n",
]


@pytest.mark.parametrize("wire", BARE_LF, ids=["alone", "before-fields", "keep-alive"])
def test_bare_lf_after_a_request_line_is_a_plain_400(wire, caplog):
    assert read_every_way(wire) == ((), (), 400)
    assert answer_every_way(request("/plaintext") + wire, caplog) == [200, 400]


@pytest.mark.parametrize("wire", BARE_LF, ids=["alone", "before-fields", "keep-alive"])
def test_bare_lf_over_a_socket(server, wire):
    statuses, closed = exchange(server, request("/plaintext") + wire, 2)
    assert statuses == [200, 400] and closed
    assert_no_internal_errors(server)


# ------------------------------------------------------------------ unknown methods
@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (b"BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"get / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"\r\nPROPFIX / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"\r\n" * 20 + b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GE\x00 / HTTP/1.1\r\n\r\n", 400),
        (b"G" * 40 + b" / HTTP/1.1\r\n\r\n", 400),
    ],
    ids=[
        "BREW",
        "lower-case",
        "after-an-empty-line",
        "after-many-empty-lines",
        "no-target",
        "control-byte",
        "too-long",
    ],
)
def test_an_unknown_method_gets_the_same_answer_however_split(wire, status, caplog):
    assert read_every_way(wire) == ((), (), status)
    assert answer_every_way(request("/plaintext") + wire, caplog) == [200, status]


def test_an_unknown_method_still_arriving_is_a_head_in_progress():
    reader = RequestReader(lambda request, mode: None)
    reader.feed(b"BRE")  # llhttp knows no method starting "BR"
    assert reader.in_head and not reader.finished  # the header timeout applies
    with pytest.raises(RemoteProtocolError) as info:
        reader.feed(b"W /pot HTTP/1.1\r\n")
    assert info.value.status == 501


# ------------------------------------------------------------------ Host
LONG_BAD_HOST = b"h" * 4000 + b"/"


@pytest.mark.parametrize(
    "host",
    [
        b"exa mple",
        b"a/b",
        b"h:80x",
        b"h@evil",
        b"[::1",
        b"h\\x",
        b"h:8:8",
        b"a%4",
        b"%zz:80",
        LONG_BAD_HOST,
    ],
)
def test_an_invalid_host_is_400(host, caplog):
    posted = b"POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 1\r\n\r\nx" % host
    assert read_every_way(posted)[2] == 400
    inspected = b"GET /inspect HTTP/1.1\r\nHost: %s\r\n\r\n" % host  # reads the headers
    plain = b"GET /plaintext HTTP/1.1\r\nHost: %s\r\n\r\n" % host  # the fast path
    assert answer_every_way(posted, caplog) == [400]
    assert answer_every_way(inspected, caplog) == [400]
    assert read_every_way(plain)[2] == 400
    assert answer_every_way(request("/plaintext") + plain, caplog) == [200, 400]


@pytest.mark.parametrize(
    "host",
    [
        b"example.com",
        b"example.com:8080",
        b"127.0.0.1:1",
        b"[::1]:80",
        b"a-b_c.d~",
        b"",
        b"a%41b:80",
    ],
)
def test_a_valid_host_is_accepted(host, caplog):
    posted = b"POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 1\r\n\r\nx" % host
    assert read_every_way(posted)[2] is None
    inspected = b"GET /inspect HTTP/1.1\r\nHost: %s\r\n\r\n" % host
    assert answer_every_way(inspected, caplog) == [200]


def test_an_invalid_host_is_400_over_a_socket(server):
    wire = b"POST /echo HTTP/1.1\r\nHost: a/b\r\nContent-Length: 1\r\n\r\nx"
    assert exchange(server, request("/plaintext") + wire, 2) == ([200, 400], True)
    bodyless = b"GET /plaintext HTTP/1.1\r\nHost: a/b\r\n\r\n"
    assert exchange(server, request("/plaintext") + bodyless, 2) == ([200, 400], True)


def test_a_missing_or_repeated_host_is_400_on_the_fast_path(caplog):
    missing = b"GET /plaintext HTTP/1.1\r\nX: y\r\n\r\n"
    twice = b"GET /plaintext HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"
    for wire in (missing, twice):
        assert read_every_way(wire)[2] == 400
        assert answer_every_way(request("/plaintext") + wire, caplog) == [200, 400]
    assert answer_every_way(b"GET /plaintext HTTP/1.0\r\n\r\n", caplog) == [200]


def test_new_targets_with_the_fields_checked_last_are_answered(caplog):
    # Only method and target change: the Host and Expect checked with the first hold.
    fields = b" HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"
    wire = b"GET /plaintext" + fields + b"GET /plaintext?a=1" + fields + b"HEAD /plaintext" + fields
    assert answer_every_way(wire, caplog) == [200, 200, 200]


HOSTLESS_1_0 = b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"  # fine in 1.0
HOST_A = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.mark.parametrize(
    ("first", "later"),
    [
        # The same fields in HTTP/1.1, where Host is required.
        (HOSTLESS_1_0, b"GET /plaintext?b HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"),
        # A second Host in a line before a tail like the last checked head's.
        (HOST_A, b"GET /plaintext?b HTTP/1.1\r\nHost: e\r\nX: GET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
    ],
    ids=["other-version", "line-before-the-same-tail"],
)
def test_a_head_ending_like_the_last_checked_one_is_still_checked(first, later, caplog):
    assert answer_every_way(first + later, caplog) == [200, 400]


# ------------------------------------------------------------------ fragments
FRAGMENT = b"GET /plaintext#top HTTP/1.1\r\nHost: h\r\n\r\n"


def test_a_fragment_in_the_target_is_400(caplog):
    assert read_every_way(FRAGMENT) == ((), (), 400)
    assert read_every_way(b"GET /plaintext?a=1#x HTTP/1.1\r\nHost: h\r\n\r\n")[2] == 400
    assert answer_every_way(request("/plaintext") + FRAGMENT, caplog) == [200, 400]


def test_a_fragment_over_a_socket(server):
    assert exchange(server, request("/plaintext") + FRAGMENT, 2) == ([200, 400], True)


# ------------------------------------------------------------------ transfer codings
GZIP_CHUNKED = (
    b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n"
)


def test_a_transfer_coding_other_than_chunked_is_501(caplog):
    assert read_every_way(GZIP_CHUNKED) == ((), (), 501)
    assert answer_every_way(GZIP_CHUNKED, caplog) == [501]
    two_fields = GZIP_CHUNKED.replace(b"gzip, chunked", b"identity\r\nTransfer-Encoding: chunked")
    assert read_every_way(two_fields)[2] in (400, 501)  # llhttp may refuse it first


def test_a_transfer_coding_other_than_chunked_over_a_socket(server):
    assert exchange(server, GZIP_CHUNKED, 1) == ([501], True)


# ------------------------------------------------------------------ trailers
def chunked_with_trailers(fields: list[bytes]) -> bytes:
    return (
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
    )


def test_trailers_are_bounded_by_the_head_limits():
    limits = {"max_head_size": 200, "max_header_count": 5, "max_body_size": 100_000}
    within = chunked_with_trailers([b"T-%d: v" % i for i in range(5)])
    assert read_every_way(within, **limits)[2] is None
    too_many = chunked_with_trailers([b"T-%d: v" % i for i in range(6)])
    assert read_every_way(too_many, **limits)[2] == 431
    too_large = chunked_with_trailers([b"T: " + b"v" * 300])
    assert read_every_way(too_large, **limits)[2] == 431


def test_trailers_beyond_the_head_limits_over_a_socket(server):
    wire = chunked_with_trailers([b"T: " + b"v" * 9000])  # App.max_head_size is 8 KiB
    assert exchange(server, wire, 1) == ([431], True)


# ------------------------------------------------------------------ one copy of a body
def peak_rss(pid: int) -> int:
    """VmHWM, the peak resident set size, of ``pid`` and its children, in bytes."""
    peak = 0
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
    return peak


BODY_SIZE = 100 * 1024 * 1024
PIECE = b"x" * (1024 * 1024)


def send_body(sock: socket.socket, framing: str) -> None:
    pieces = BODY_SIZE // len(PIECE)
    if framing == "content-length":
        sock.sendall(b"POST /size HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % BODY_SIZE)
        for _ in range(pieces):
            sock.sendall(PIECE)
    else:
        sock.sendall(b"POST /size HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(pieces):
            sock.sendall(b"%x\r\n" % len(PIECE))
            sock.sendall(PIECE)
            sock.sendall(b"\r\n")
        sock.sendall(b"0\r\n\r\n")


@pytest.mark.skipif(
    bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    reason="free-threaded CPython frees memory late (mimalloc, deferred until threads are "
    "quiescent), so peak RSS there measures the allocator, not how often a body is copied",
)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_large_body_is_held_once(framing):
    app = f"{TEST_APPS / 'http_big_bodies.py'}:BigBodies"
    with ServerProcess(app) as server:
        with socket.create_connection(server.address, timeout=60) as sock:
            sock.sendall(request("/size", "POST", body=b"warm"))
            assert split_responses(recv_responses(sock, 1))[0][2] == b'{"size":4}'
            before = peak_rss(server.pid())
            started = time.monotonic()
            send_body(sock, framing)
            (answer,) = split_responses(recv_responses(sock, 1, timeout=120))
            assert json.loads(answer[2]) == {"size": BODY_SIZE}, time.monotonic() - started
        growth = peak_rss(server.pid()) - before
    assert growth < 1.3 * BODY_SIZE, f"peak RSS grew by {growth / BODY_SIZE:.2f}x the body"
