"""Static mounts: the right file with the right type, and nothing outside the directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from conftest import ENGINES
from manycore.http import HttpServer, Response, _beneath, guess_type, route, static
from manycore.http._errors import StaticDirectoryError
from manycore.testing import MemoryTransport, ServerProcess, feed
from test_http_apps import APPS, recv_responses, request, split_responses


@pytest.fixture(params=["openat2", "walk"])
def resolver(request, monkeypatch):
    """Mounts open files with openat2 where the kernel has it, else by walking: test both."""
    if request.param == "openat2":
        if _beneath._openat2 is None or not _beneath._openat2.available:
            pytest.skip("this kernel has no openat2")
    else:
        monkeypatch.setattr(_beneath, "_openat2", None)
    return request.param


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    (root / "css").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "css" / "app.css").write_text("body{}")
    (root / "docs" / "index.html").write_text("docs home")
    (root / "a b.txt").write_text("spaced")
    (root / "café.txt").write_text("unicode name")
    (root / ".secret").write_text("hidden")
    (tmp_path / "outside.txt").write_text("must not be served")
    (root / "inside-link.txt").symlink_to(root / "a b.txt")
    (root / "outside-link.txt").symlink_to(tmp_path / "outside.txt")
    (root / "outside-dir").symlink_to(tmp_path)
    return root


def make_app(root, **options) -> type[HttpServer]:
    class Site(HttpServer):
        files = static("/static", root, **options)

        @route("/static-route")
        def route_wins(self, request):
            return "route"

    return Site


def get(app: type[HttpServer], target: str, headers: str = ""):
    transport = MemoryTransport()
    feed(app(), f"GET {target} HTTP/1.1\r\nHost: h\r\n{headers}\r\n".encode(), transport)
    return split_responses(bytes(transport.output))[0]


def test_files_are_served_with_their_type(site):
    app = make_app(site)
    status, headers, body = get(app, "/static/css/app.css")
    assert (status, body) == (200, b"body{}")
    assert headers["content-type"] == "text/css; charset=utf-8"
    assert get(app, "/static/index.html")[1]["content-type"] == "text/html; charset=utf-8"
    assert get(app, "/static/a%20b.txt")[2] == b"spaced"
    assert get(app, "/static/caf%C3%A9.txt")[2] == b"unicode name"


def test_directory_serves_its_index_and_redirects_without_slash(site):
    app = make_app(site)
    assert get(app, "/static/")[2] == b"<h1>home</h1>"
    assert get(app, "/static/docs/")[2] == b"docs home"
    status, headers, _ = get(app, "/static/docs?x=1")
    assert status == 301 and headers["location"] == "/static/docs/?x=1"
    assert get(make_app(site, index=None), "/static/docs/")[0] == 404


@pytest.mark.parametrize(
    "target",
    [
        "/static/../outside.txt",
        "/static/%2e%2e/outside.txt",
        "/static/%2E%2E/outside.txt",
        "/static/docs/../../outside.txt",
        "/static/docs/%2e%2e/%2e%2e/outside.txt",
        "/static/..%2foutside.txt",
        "/static/%2e%2e%2foutside.txt",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/..%5coutside.txt",
        "/static/a%00.txt",
        "/static/outside-link.txt",
        "/static/outside-dir/outside.txt",
        "/static/.secret",
        "/static/%2esecret",
        "/static/nope.txt",
    ],
)
def test_paths_outside_the_directory_are_refused(site, target, resolver):
    status, _, body = get(make_app(site), target)
    assert status == 404
    assert b"must not be served" not in body and b"hidden" not in body


def test_symlinks_inside_are_followed(site, resolver):
    assert get(make_app(site), "/static/inside-link.txt")[2] == b"spaced"
    (site / "css-link").symlink_to("css")
    (site / "docs" / "up-link.txt").symlink_to("../a b.txt")
    assert get(make_app(site), "/static/css-link/app.css")[2] == b"body{}"
    assert get(make_app(site), "/static/docs/up-link.txt")[2] == b"spaced"


def test_symlinks_that_leave_and_come_back_are_refused(site, resolver):
    (site / "roundabout.txt").symlink_to(f"../{site.name}/a b.txt")
    assert get(make_app(site), "/static/roundabout.txt")[0] == 404


def test_symlinks_outside_only_when_allowed(site):
    app = make_app(site, follow_symlinks=True)
    assert get(app, "/static/outside-link.txt")[2] == b"must not be served"
    assert get(app, "/static/../outside.txt")[0] == 404  # `..` is refused regardless


def test_a_file_swapped_for_an_outside_symlink_is_refused_at_once(site):
    app = make_app(site)
    assert get(app, "/static/a%20b.txt")[2] == b"spaced"  # resolved, and remembered
    os.unlink(site / "a b.txt")
    (site / "a b.txt").symlink_to(site.parent / "outside.txt")
    assert get(app, "/static/a%20b.txt")[0] == 404


def _swap_for_outside_link(site) -> None:
    """Replace the served directory ``sub`` with a symlink to a directory outside."""
    os.rename(site / "sub", site / "sub-old")
    (site / "sub").symlink_to(site.parent / "elsewhere")


@pytest.fixture
def swappable(site):
    (site / "sub").mkdir()
    (site / "sub" / "page.txt").write_text("inside")
    (site.parent / "elsewhere").mkdir()
    (site.parent / "elsewhere" / "page.txt").write_text("must not be served")
    return site


def test_a_directory_swapped_for_an_outside_symlink_is_refused_at_once(swappable, resolver):
    app = make_app(swappable)
    assert get(app, "/static/sub/page.txt")[2] == b"inside"
    _swap_for_outside_link(swappable)
    status, _, body = get(app, "/static/sub/page.txt")
    assert status == 404 and b"must not be served" not in body


@pytest.mark.parametrize("engine", ENGINES)
def test_a_directory_swapped_for_an_outside_symlink_over_a_socket(swappable, engine):
    """On one keep-alive connection (so one worker): the request after the swap is a 404."""
    env = {"HTTP_TEST_STATIC": str(swappable)}
    workers = 1 if engine == "inline" else 2
    with ServerProcess(APPS, engine=engine, workers=workers, env=env) as server:
        with socket.create_connection(server.address, timeout=20) as sock:
            sock.sendall(request("/assets/sub/page.txt"))
            assert _one_response(sock)[::2] == (200, b"inside")
            _swap_for_outside_link(swappable)
            sock.sendall(request("/assets/sub/page.txt"))
            status, _, body = _one_response(sock)
    assert status == 404 and b"must not be served" not in body


def _one_response(sock: socket.socket) -> tuple[int, dict, bytes]:
    """A whole response: a file's body goes out after its head, maybe in a later read."""
    data = recv_responses(sock, 1)
    while True:
        ((status, headers, body),) = split_responses(data)
        if len(body) >= int(headers.get("content-length", 0)):
            return status, headers, body
        chunk = sock.recv(65536)
        assert chunk, "the connection closed in the middle of a response"
        data += chunk


def test_a_mount_of_a_missing_directory_is_refused_when_the_class_is_made(tmp_path):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(StaticDirectoryError, match=r"no-such-dir does not exist"):
        static("/files", missing)
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(StaticDirectoryError, match="is not a directory"):
        static("/files", tmp_path / "file.txt")


def test_serve_with_a_missing_static_directory_is_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "srv-files"
    (tmp_path / "app.py").write_text(
        "from manycore.http import HttpServer, static\n\n\n"
        "class App(HttpServer):\n"
        f"    files = static('/files', {str(missing)!r})\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "manycore", "serve", "app.py:App", "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(missing) in lines[0] and "does not exist" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_dotfiles_when_enabled(site):
    assert get(make_app(site, dotfiles=True), "/static/.secret")[2] == b"hidden"


def test_mount_only_answers_get_and_head(site):
    transport = MemoryTransport()
    wire = b"POST /static/index.html HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
    feed(make_app(site)(), wire, transport)
    status, headers, _ = split_responses(bytes(transport.output))[0]
    assert status == 405 and headers["allow"] == "GET, HEAD"


def test_routes_and_mounts_coexist(site):
    assert get(make_app(site), "/static-route")[2] == b"route"


def test_static_cache_control_and_headers(site):
    app = make_app(site, cache_control="public, max-age=3600", headers={"X-Site": "1"})
    _, headers, _ = get(app, "/static/index.html")
    assert headers["cache-control"] == "public, max-age=3600" and headers["x-site"] == "1"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.html", "text/html; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.json", "application/json; charset=utf-8"),
        ("a.png", "image/png"),
        ("a.svg", "image/svg+xml; charset=utf-8"),
        ("a.wasm", "application/wasm"),
        ("a.woff2", "font/woff2"),
        ("a.tar.gz", "application/gzip"),
        ("A.JPG", "image/jpeg"),
        ("noext", "application/octet-stream"),
    ],
)
def test_guess_type(name, expected):
    assert guess_type(name) == expected


def test_file_larger_than_4_gib(tmp_path):
    """A sparse 5 GiB file: lengths and ranges past 2**32 are exact."""
    path = tmp_path / "huge.bin"
    size = 5 * 1024**3
    marker = b"past four gibibytes"
    offset = 4 * 1024**3 + 12345
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(offset)
        f.write(marker)

    class Huge(HttpServer):
        @route("/huge")
        def huge(self, request):
            return Response.file(path)

    transport = MemoryTransport()
    wire = b"GET /huge HTTP/1.1\r\nHost: h\r\nRange: bytes=%d-%d\r\n\r\n" % (
        offset,
        offset + len(marker) - 1,
    )
    feed(Huge(), wire, transport)
    status, headers, body = split_responses(bytes(transport.output))[0]
    assert status == 206 and body == marker
    assert headers["content-range"] == f"bytes {offset}-{offset + len(marker) - 1}/{size}"
    transport = MemoryTransport()
    feed(Huge(), b"HEAD /huge HTTP/1.1\r\nHost: h\r\n\r\n", transport)
    assert b"Content-Length: %d\r\n" % size in transport.output
    os.unlink(path)


def test_a_file_slice_is_served_as_a_whole_entity(tmp_path):
    """Response.file(offset=, length=): one record of a large file, ranges within it."""
    path = tmp_path / "dump.bin"
    content = bytes(range(256)) * 64
    path.write_bytes(content)

    class Slice(HttpServer):
        @route("/slice")
        def slice(self, request):
            return Response.file(path, offset=1000, length=300, content_type="text/plain")

    transport = MemoryTransport()
    feed(Slice(), b"GET /slice HTTP/1.1\r\nHost: h\r\n\r\n", transport)
    status, headers, body = split_responses(bytes(transport.output))[0]
    assert status == 200 and body == content[1000:1300]
    assert headers["content-length"] == "300"
    whole_etag = headers["etag"]
    transport = MemoryTransport()
    feed(Slice(), b"GET /slice HTTP/1.1\r\nHost: h\r\nRange: bytes=-10\r\n\r\n", transport)
    status, headers, body = split_responses(bytes(transport.output))[0]
    assert status == 206 and body == content[1290:1300]
    assert headers["content-range"] == "bytes 290-299/300"
    assert headers["etag"] == whole_etag
    assert transport.files == [(str(path), 1290, 10)]
