"""The production flags reach ASGI and WSGI applications served by ``manycore serve``.

--proxy-headers/--forwarded-allow-ips (the scope's client and scheme, never from an
untrusted peer), --limit-concurrency (503), --access-log (Common Log Format, as
HttpServer writes it), TLS (https/wss) and --root-path, over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import sys

import pytest
import trustme
from websockets.asyncio.client import connect as ws_connect

from conftest import TEST_APPS, recv_all, recv_until
from manycore.testing import ServerProcess

ASGI = f"{TEST_APPS / 'asgi_flags_apps.py'}:app"
WSGI = f"{TEST_APPS / 'asgi_flags_apps.py'}:wsgi"
DEADLINE = 20.0


def exchange(sock: socket.socket, target: str, *fields: str, close: bool = False) -> bytes:
    """One request on ``sock``; the whole response (its body framed by Content-Length)."""
    lines = [f"GET {target} HTTP/1.1", "Host: x", *fields]
    if close:
        lines.append("Connection: close")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = recv_until(sock, lambda data: b"\r\n\r\n" in data)
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    body_start = head.index(b"\r\n\r\n") + 4
    return head + recv_until(sock, lambda data: len(data) >= length - len(head[body_start:]))


def who(server: ServerProcess, *fields: str, target: str = "/who") -> dict[str, object]:
    with socket.create_connection(server.address, timeout=DEADLINE) as sock:
        response = exchange(sock, target, *fields, close=True)
    assert response.startswith(b"HTTP/1.1 200 "), response
    return json.loads(response.partition(b"\r\n\r\n")[2])


def ws_who(url: str, headers: dict[str, str] | None = None, **options: object) -> dict:
    async def go() -> dict:
        async with ws_connect(url, additional_headers=headers, **options) as ws:
            return json.loads(await ws.recv())

    return asyncio.run(asyncio.wait_for(go(), DEADLINE))


FORWARDED = ("X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https")


# ------------------------------------------------------------------ --proxy-headers


@pytest.mark.parametrize("target", [ASGI, WSGI], ids=["asgi", "wsgi"])
def test_proxy_headers_give_the_forwarded_client_and_scheme(engine, workers, target):
    with ServerProcess(target, engine=engine, workers=workers, args=["--proxy-headers"]) as s:
        shown = who(s, *FORWARDED)
    assert shown["client"] == ["203.0.113.7", 0]
    assert shown["scheme"] == "https"


def test_proxy_headers_give_a_websocket_the_forwarded_client_and_wss(engine, workers):
    with ServerProcess(ASGI, engine=engine, workers=workers, args=["--proxy-headers"]) as s:
        headers = {"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"}
        shown = ws_who(f"ws://{s.host}:{s.port}/who", headers)
    assert shown["client"] == ["198.51.100.9", 0]
    assert shown["scheme"] == "wss"


def test_forwarded_wins_and_a_forwarded_ws_scheme_stays_http_for_http():
    with ServerProcess(ASGI, args=["--proxy-headers"]) as s:
        shown = who(s, 'Forwarded: for="[2001:db8::1]:4711";proto=wss', *FORWARDED)
    assert shown == {
        "client": ["2001:db8::1", 4711],
        "scheme": "https",
        "root_path": "",
        "path": "/who",
    }


HOSTILE = [
    FORWARDED,
    ("Forwarded: for=203.0.113.7;proto=https",),
    ("X-Forwarded-For: 127.0.0.1, 203.0.113.7", "X-Forwarded-Proto: https, https"),
    ("X-Forwarded-For: not-an-address", "X-Forwarded-Proto: gopher"),
    ('Forwarded: for="[::1";proto="https', "X-Forwarded-For: ,,,"),
]


@pytest.mark.parametrize("fields", HOSTILE)
def test_forwarding_headers_from_an_untrusted_peer_are_ignored(engine, workers, fields):
    args = ["--proxy-headers", "--forwarded-allow-ips", "10.0.0.0/8, unix:"]
    with ServerProcess(ASGI, engine=engine, workers=workers, args=args) as s:
        shown = who(s, *fields)
        ws_shown = ws_who(
            f"ws://{s.host}:{s.port}/who",
            dict(field.split(": ", 1) for field in fields),
        )
    assert shown["client"][0] == "127.0.0.1" and shown["client"][1] != 0
    assert shown["scheme"] == "http"
    assert ws_shown["client"][0] == "127.0.0.1" and ws_shown["scheme"] == "ws"


def test_without_proxy_headers_even_a_trusted_peer_is_not_believed():
    with ServerProcess(ASGI) as s:
        shown = who(s, *FORWARDED)
    assert shown["client"][0] == "127.0.0.1"
    assert shown["scheme"] == "http"


def test_garbage_from_a_trusted_proxy_leaves_the_peer_and_the_worker_serves_on():
    with ServerProcess(ASGI, args=["--proxy-headers"]) as s:
        shown = who(s, "X-Forwarded-For: [zz, garbage!!", "Forwarded: for=;;;===,")
        assert shown["client"][0] == "127.0.0.1"
        assert who(s, *FORWARDED)["client"] == ["203.0.113.7", 0]


# ------------------------------------------------------------------ --limit-concurrency


@pytest.mark.parametrize("target", [ASGI, WSGI], ids=["asgi", "wsgi"])
def test_limit_concurrency_answers_503_beyond_the_limit_and_closes(engine, target):
    with ServerProcess(target, engine=engine, args=["--limit-concurrency", "1"]) as server:
        with socket.create_connection(server.address, timeout=DEADLINE) as first:
            assert exchange(first, "/who").startswith(b"HTTP/1.1 200 ")
            with socket.create_connection(server.address, timeout=DEADLINE) as second:
                second.sendall(b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n")
                refused = recv_all(second)  # answered, then closed
            assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            assert b"\r\nconnection: close\r\n" in refused.lower()
            assert b"more than 1 connections" in refused
            assert exchange(first, "/who").startswith(b"HTTP/1.1 200 ")  # the first goes on
        # Below the limit again: a new connection is served once the first one's close lands.
        for _ in range(100):
            with socket.create_connection(server.address, timeout=DEADLINE) as third:
                answer = exchange(third, "/who", close=True)
            if not answer.startswith(b"HTTP/1.1 503"):
                break
        assert answer.startswith(b"HTTP/1.1 200 ")


# ------------------------------------------------------------------ --access-log


def test_access_log_writes_common_log_format_lines_like_http_server(engine, workers):
    with ServerProcess(ASGI, engine=engine, workers=workers, args=["--access-log"]) as server:
        with socket.create_connection(server.address, timeout=DEADLINE) as sock:
            exchange(sock, "/hello?x=1")
            sock.sendall(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            recv_until(sock, lambda data: b"\r\n\r\n" in data)
        log = server.wait_for_log('"GET /hello?x=1 HTTP/1.1" 200 5')
        server.wait_for_log('"HEAD /hello HTTP/1.1" 200 0')
    assert "127.0.0.1 - - [" in log


def test_the_access_log_names_the_forwarded_client_behind_a_trusted_proxy():
    with ServerProcess(ASGI, args=["--access-log", "--proxy-headers"]) as server:
        who(server, *FORWARDED)
        server.wait_for_log("203.0.113.7 - - [")


def test_no_access_log_by_default():
    with ServerProcess(ASGI) as server:
        who(server)
    assert "GET /who" not in server.log()


# ------------------------------------------------------------------ TLS and --root-path


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[list[str], ssl.SSLContext]:
    ca = trustme.CA()
    where = tmp_path_factory.mktemp("certs")
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = where / "server.pem", where / "server.key"
    issued.private_key_and_cert_chain_pem.write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)], context


def test_over_tls_the_scheme_is_https_and_wss(engine, workers, tls):
    args, context = tls
    with ServerProcess(ASGI, engine=engine, workers=workers, args=args) as server:
        with socket.create_connection(server.address, timeout=DEADLINE) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
                response = exchange(sock, "/who", close=True)
        shown = ws_who(f"wss://127.0.0.1:{server.port}/who", ssl=context)
    assert json.loads(response.partition(b"\r\n\r\n")[2])["scheme"] == "https"
    assert shown["scheme"] == "wss"


@pytest.mark.parametrize("target", [ASGI, WSGI], ids=["asgi", "wsgi"])
def test_root_path_reaches_the_scope(engine, workers, target):
    args = ["--root-path", "/api"]
    with ServerProcess(target, engine=engine, workers=workers, args=args) as server:
        shown = who(server)
    if target == ASGI:
        assert (shown["root_path"], shown["path"]) == ("/api", "/api/who")
    else:  # SCRIPT_NAME and PATH_INFO (PEP 3333)
        assert (shown["root_path"], shown["path"]) == ("/api", "/who")


# ------------------------------------------------------------------ WebSocket settings


def test_websocket_flags_reach_the_asgi_server_class():
    from manycore.asgi import asgi_server
    from manycore.commands.settings import RunSettings

    async def app(scope, receive, send):
        pass

    served = RunSettings(
        ws_max_size=1024, ws_ping_interval=0, ws_ping_timeout=2.5, ws_per_message_deflate=False
    ).served_class(asgi_server(app, lifespan="off"))
    assert (
        served.websocket_max_message_size,
        served.websocket_ping_interval,  # 0: no pings
        served.websocket_ping_timeout,
        served.websocket_per_message_deflate,
    ) == (1024, None, 2.5, False)
    defaults = RunSettings().served_class(asgi_server(app, lifespan="off"))
    assert (defaults.websocket_max_message_size, defaults.websocket_ping_interval) == (
        16 * 1024 * 1024,
        20.0,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [ASGI, "--ws-max-size", "0"],
            "--ws-max-size: expected a positive integer, got 0",
        ),
        (
            [ASGI, "--ws-ping-interval", "soon"],
            "--ws-ping-interval: expected seconds, got 'soon'",
        ),
        (
            [f"{TEST_APPS / 'flags_apps.py'}:Echo", "--ws-max-size", "1024"],
            "--ws-max-size: ",
        ),
    ],
)
def test_a_bad_websocket_flag_is_one_line_naming_it_with_status_2(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "manycore", "serve", *args, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
