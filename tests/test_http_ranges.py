"""Range requests and conditional requests on files (RFC 9110 §13, §14).

The property test is the contract users rely on: whatever valid Range header
a client sends, the bytes that come back are exactly the file's bytes at the
positions the response says they are.
"""

from __future__ import annotations

import os
import re
from email.utils import formatdate

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manycore.http import HttpServer, Response, route
from manycore.http._ranges import MAX_RANGE_SPECS, Unsatisfiable, parse_range
from manycore.testing import MemoryTransport, feed
from test_http_apps import split_responses


# ------------------------------------------------------------------ parsing
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-499", [(0, 499)]),
        ("bytes=500-999", [(500, 999)]),
        ("bytes=-500", [(9500, 9999)]),
        ("bytes=9500-", [(9500, 9999)]),
        ("bytes=0-0,-1", [(0, 0), (9999, 9999)]),
        ("bytes=500-600,601-999", [(500, 999)]),  # adjacent: merged
        ("bytes=500-700,601-999", [(500, 999)]),  # overlapping: merged
        ("bytes=0-10,20-30", [(0, 30)]),  # a small gap costs less than a part header
        ("bytes=0-10,5000-5010", [(0, 10), (5000, 5010)]),
        ("bytes=5000-5010,0-10", [(0, 10), (5000, 5010)]),  # sorted
        ("bytes=0-99999", [(0, 9999)]),  # clipped to the file
        ("bytes=-20000", [(0, 9999)]),
        ("BYTES = 1-2", [(1, 2)]),
        ("bytes=1-2, ,3-4", [(1, 4)]),
        ("bytes=20000-,0-0", [(0, 0)]),  # the unsatisfiable one is dropped
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 10000) == expected


@pytest.mark.parametrize(
    "header",
    [
        "items=0-5",
        "bytes",
        "bytes=",
        "bytes=5-1",
        "bytes=a-b",
        "bytes=1-2-3",
        "bytes=-",
        "bytes=²-5",
    ],
)
def test_invalid_range_headers_are_ignored(header):
    assert parse_range(header, 10000) is None


@pytest.mark.parametrize("header", ["bytes=10000-", "bytes=20000-30000", "bytes=-0"])
def test_unsatisfiable_ranges(header):
    with pytest.raises(Unsatisfiable):
        parse_range(header, 10000)


def test_amplification_is_refused():
    many = "bytes=" + ",".join(f"{i * 200}-{i * 200 + 1}" for i in range(40))
    assert parse_range(many, 10000, max_ranges=16) is None  # too many parts: whole file
    too_many_specs = "bytes=" + ",".join("0-0" for _ in range(MAX_RANGE_SPECS + 1))
    assert parse_range(too_many_specs, 10000) is None
    overlapping = "bytes=" + ",".join("0-9999" for _ in range(50))
    assert parse_range(overlapping, 10000) == [(0, 9999)]  # sent once, not 50 times


# ------------------------------------------------------------------ serving
def _app_for(path: str) -> type[HttpServer]:
    class Files(HttpServer):
        @route("/f")
        def f(self, request):
            return Response.file(path, request)

        @route("/download")
        def download(self, request):
            return Response.file(path, filename="résumé data.bin", cache_control="max-age=60")

    return Files


def get(app: type[HttpServer], headers: str = "", method: str = "GET", target: str = "/f"):
    """One request on a new connection of ``app``."""
    transport = MemoryTransport()
    feed(app(), f"{method} {target} HTTP/1.1\r\nHost: h\r\n{headers}\r\n".encode(), transport)
    return split_responses(bytes(transport.output))[0]


def parse_multipart(body: bytes, content_type: str) -> list[tuple[int, int, int, bytes]]:
    boundary = content_type.split("boundary=")[1].encode()
    parts = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.partition(b"\r\n\r\n")
        match = re.search(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)", head)
        assert match, head
        first, last, size = (int(x) for x in match.groups())
        parts.append((first, last, size, data[: last - first + 1]))
        assert data[last - first + 1 :] == b"\r\n"
    return parts


@pytest.fixture
def data_file(tmp_path):
    content = os.urandom(10000)
    path = tmp_path / "data.bin"
    path.write_bytes(content)
    return str(path), content


def test_whole_file_with_validators(data_file):
    path, content = data_file
    status, headers, body = get(_app_for(path))
    assert status == 200 and body == content
    assert headers["accept-ranges"] == "bytes"
    assert headers["content-type"] == "application/octet-stream"
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', headers["etag"])
    assert headers["last-modified"] == formatdate(int(os.stat(path).st_mtime), usegmt=True)


def test_single_suffix_and_open_ranges(data_file):
    path, content = data_file
    app = _app_for(path)
    status, headers, body = get(app, "Range: bytes=0-499\r\n")
    assert (status, body, headers["content-range"]) == (206, content[:500], "bytes 0-499/10000")
    status, headers, body = get(app, "Range: bytes=-500\r\n")
    assert (status, body, headers["content-range"]) == (
        206,
        content[-500:],
        "bytes 9500-9999/10000",
    )
    status, headers, body = get(app, "Range: bytes=9500-\r\n")
    assert (status, body) == (206, content[9500:])


def test_multiple_ranges_are_multipart_byteranges(data_file):
    path, content = data_file
    status, headers, body = get(_app_for(path), "Range: bytes=0-9,5000-5009,-10\r\n")
    assert status == 206 and headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert int(headers["content-length"]) == len(body)
    parts = parse_multipart(body, headers["content-type"])
    assert [(f, la) for f, la, _, _ in parts] == [(0, 9), (5000, 5009), (9990, 9999)]
    for first, last, size, data in parts:
        assert size == 10000 and data == content[first : last + 1]


def test_unsatisfiable_is_416_with_the_size(data_file):
    path, _ = data_file
    status, headers, body = get(_app_for(path), "Range: bytes=20000-\r\n")
    assert status == 416 and headers["content-range"] == "bytes */10000" and body == b""


def test_head_with_range_has_headers_only(data_file):
    path, _ = data_file
    transport = MemoryTransport()
    feed(_app_for(path)(), b"HEAD /f HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\n", transport)
    wire = bytes(transport.output)
    assert wire.startswith(b"HTTP/1.1 206") and wire.endswith(b"\r\n\r\n")
    assert b"Content-Length: 10\r\n" in wire and transport.files == []


def _app_and_validators(path: str) -> tuple[type[HttpServer], str, str]:
    """The app serving ``path``, and the ETag and Last-Modified it sends for the file."""
    app = _app_for(path)
    _, headers, _ = get(app)
    return app, headers["etag"], headers["last-modified"]


def test_conditional_requests(data_file):
    path, _content = data_file
    app, etag, modified = _app_and_validators(path)
    assert get(app, f"If-None-Match: {etag}\r\n")[0] == 304
    assert get(app, f'If-None-Match: "other", W/{etag}\r\n')[0] == 304
    assert get(app, "If-None-Match: *\r\n")[0] == 304
    assert get(app, 'If-None-Match: "other"\r\n')[0] == 200
    assert get(app, f"If-Modified-Since: {modified}\r\n")[0] == 304
    assert get(app, "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n")[0] == 200
    assert get(app, "If-Modified-Since: not a date\r\n")[0] == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3)
    assert get(app, f'If-None-Match: "other"\r\nIf-Modified-Since: {modified}\r\n')[0] == 200
    assert get(app, 'If-Match: "other"\r\n')[0] == 412
    assert get(app, f"If-Match: {etag}\r\n")[0] == 200
    assert get(app, "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n")[0] == 412
    _status, headers, body = get(app, f"If-None-Match: {etag}\r\n")
    assert body == b"" and headers["etag"] == etag and "content-length" not in headers


def test_if_range(data_file):
    path, content = data_file
    app, etag, modified = _app_and_validators(path)
    assert get(app, f"Range: bytes=0-9\r\nIf-Range: {etag}\r\n")[0] == 206
    assert get(app, f"Range: bytes=0-9\r\nIf-Range: {modified}\r\n")[0] == 206
    status, _, body = get(app, 'Range: bytes=0-9\r\nIf-Range: "stale"\r\n')
    assert (status, body) == (200, content)
    assert get(app, f"Range: bytes=0-9\r\nIf-Range: W/{etag}\r\n")[0] == 200  # weak never matches


def test_download_headers(data_file):
    path, _ = data_file
    _, headers, _ = get(_app_for(path), target="/download")
    assert headers["cache-control"] == "max-age=60"
    disposition = headers["content-disposition"]
    assert disposition.startswith('attachment; filename="r')
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20data.bin" in disposition


def test_missing_file_is_404(tmp_path):
    assert get(_app_for(str(tmp_path / "nope")))[0] == 404
    assert get(_app_for(str(tmp_path)))[0] == 404  # a directory is not a file


# ------------------------------------------------------------------ the property
_spec = st.one_of(
    st.tuples(st.integers(0, 3000), st.integers(0, 3000)).map(lambda t: f"{min(t)}-{max(t)}"),
    st.integers(0, 3000).map(lambda n: f"{n}-"),
    st.integers(1, 3000).map(lambda n: f"-{n}"),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(size=st.integers(0, 2500), specs=st.lists(_spec, min_size=1, max_size=12), data=st.data())
def test_any_valid_range_set_returns_exactly_the_files_bytes(tmp_path_factory, size, specs, data):
    content = data.draw(st.binary(min_size=size, max_size=size))
    path = tmp_path_factory.mktemp("ranges") / "f.bin"
    path.write_bytes(content)
    status, headers, body = get(_app_for(str(path)), f"Range: bytes={','.join(specs)}\r\n")
    if status == 200:
        assert body == content
        return
    if status == 416:
        assert headers["content-range"] == f"bytes */{size}"
        return
    assert status == 206
    if headers["content-type"].startswith("multipart/byteranges"):
        parts = parse_multipart(body, headers["content-type"])
        assert len(parts) >= 2
    else:
        first, last, total = (int(x) for x in re.findall(r"\d+", headers["content-range"]))
        parts = [(first, last, total, body)]
    covered = set()
    previous_last = -1
    for first, last, total, piece in parts:
        assert total == size and 0 <= first <= last < size
        assert piece == content[first : last + 1]
        assert first > previous_last  # sorted, no overlaps: nothing is sent twice
        previous_last = last
        covered.update(range(first, last + 1))
    # every byte the client asked for that exists was sent
    wanted = set()
    for spec in specs:
        a, _, b = spec.partition("-")
        if not a:
            wanted.update(range(max(0, size - int(b)), size))
        else:
            wanted.update(range(int(a), min(size - 1, int(b)) + 1 if b else size))
    assert wanted <= covered
