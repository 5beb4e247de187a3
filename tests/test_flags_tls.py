"""TLS: --ssl-certfile/--ssl-keyfile serve HTTPS; --ssl-ca-certs requires client certificates.

Files cannot go out zero-copy over TLS; the transport copies them through the
TLS transport instead, and a client must get exactly the file's bytes, whole or
ranged, on every engine.
"""

from __future__ import annotations

import http.client
import os
import ssl
import subprocess
import sys

import pytest
import trustme

from conftest import TEST_APPS
from manycore.testing import ServerProcess

ECHO = f"{TEST_APPS / 'flags_apps.py'}:Echo"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def certs(ca, tmp_path_factory):
    where = tmp_path_factory.mktemp("certs")
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = where / "server.pem", where / "server.key"
    server_cert.cert_chain_pems[0].write_to_path(str(cert))
    for pem in server_cert.cert_chain_pems[1:]:
        pem.write_to_path(str(cert), append=True)
    server_cert.private_key_pem.write_to_path(str(key))
    ca_file = where / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return {"cert": str(cert), "key": str(key), "ca": str(ca_file)}


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    where = tmp_path_factory.mktemp("static")
    data = os.urandom(3 * 1024 * 1024 + 17)
    (where / "big.bin").write_bytes(data)
    return where, data


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def get(server: ServerProcess, context: ssl.SSLContext, path: str, headers=None):
    conn = http.client.HTTPSConnection(server.host, server.port, context=context, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("loop", ["default", "asyncio"])
def test_https_serves_requests_and_files_byte_for_byte(engine, workers, loop, ca, certs, big_file):
    static_dir, data = big_file
    args = ["--ssl-certfile", certs["cert"], "--ssl-keyfile", certs["key"]]
    env = {"FLAGS_STATIC_DIR": str(static_dir)}
    if loop == "asyncio":
        env["MANYCORE_LOOP"] = "asyncio"
    with ServerProcess(ECHO, engine=engine, workers=workers, args=args, env=env) as server:
        assert server.url.startswith("https://")
        context = client_context(ca)
        status, _, body = get(server, context, "/hello")
        assert (status, body) == (200, b"hello")
        status, _, body = get(server, context, "/who")
        assert b'"scheme":"https"' in body.replace(b" ", b"")
        status, _, body = get(server, context, "/files/big.bin")
        assert status == 200
        assert body == data
        status, headers, body = get(
            server, context, "/files/big.bin", {"Range": "bytes=1000-2000001"}
        )
        assert status == 206
        assert headers["Content-Range"] == f"bytes 1000-2000001/{len(data)}"
        assert body == data[1000:2000002]


def test_many_files_on_one_keep_alive_tls_connection_stay_in_order(ca, certs, big_file):
    static_dir, data = big_file
    args = ["--ssl-certfile", certs["cert"], "--ssl-keyfile", certs["key"]]
    env = {"FLAGS_STATIC_DIR": str(static_dir)}
    with ServerProcess(ECHO, args=args, env=env) as server:
        conn = http.client.HTTPSConnection(
            server.host, server.port, context=client_context(ca), timeout=30
        )
        try:
            for start in (0, 5, 70_000, len(data) - 10):
                conn.request("GET", "/files/big.bin", headers={"Range": f"bytes={start}-"})
                response = conn.getresponse()
                assert response.read() == data[start:]
                conn.request("GET", "/hello")
                assert conn.getresponse().read() == b"hello"
        finally:
            conn.close()


def test_client_certificates_are_required_when_ca_certs_are_given(ca, certs, tmp_path):
    args = [
        "--ssl-certfile",
        certs["cert"],
        "--ssl-keyfile",
        certs["key"],
        "--ssl-ca-certs",
        certs["ca"],
    ]
    with ServerProcess(ECHO, args=args) as server:
        anonymous = client_context(ca)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            get(server, anonymous, "/hello")
        identified = client_context(ca)
        ca.issue_cert("client@example.com").configure_cert(identified)
        status, _, body = get(server, identified, "/hello")
        assert (status, body) == (200, b"hello")


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "manycore", "serve", ECHO, "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_certificate_that_cannot_be_loaded_is_one_line_and_status_2(certs, tmp_path):
    not_pem = tmp_path / "nonsense.pem"
    not_pem.write_text("not a certificate\n")
    result = run_serve("--ssl-certfile", str(not_pem))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert f"--ssl-certfile {not_pem}: cannot load the certificate" in result.stderr
    result = run_serve("--ssl-certfile", str(tmp_path / "missing.pem"))
    assert result.returncode == 2
    assert "--ssl-certfile: no such file:" in result.stderr


def test_tls_options_without_a_certificate_are_refused(certs):
    result = run_serve("--ssl-keyfile", certs["key"])
    assert result.returncode == 2
    assert "--ssl-keyfile needs --ssl-certfile" in result.stderr


class FakeTlsStream:
    """A loop's TLS transport: it encrypts what is written, so its socket must not be used."""

    high_water = 300_000

    def __init__(self) -> None:
        self.written = bytearray()
        self.buffered = 0
        self.owner = None

    def write(self, data: bytes) -> None:
        self.written += data
        self.buffered += len(data)
        if self.buffered > self.high_water and self.owner is not None:
            self.owner.set_writing_paused(True)  # as the loop calls pause_writing()

    def writelines(self, chunks) -> None:
        self.write(b"".join(chunks))

    def get_extra_info(self, name: str, default=None):
        if name == "ssl_object":
            return object()
        if name == "socket":
            raise AssertionError("a file went to the socket under TLS")
        return default

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    abort = close


def test_a_file_over_tls_is_copied_in_order_and_waits_while_writing_is_paused(tmp_path):
    from manycore.transport import Transport

    data = os.urandom(700_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    stream = FakeTlsStream()
    transport = Transport(stream, loop=None)  # type: ignore[arg-type]
    stream.owner = transport
    transport.sendfile_ranged(b"HEAD", str(path), b"TAIL", 10, 600_000)
    transport.write(b"after")
    assert transport.writing_paused and transport.sending_file
    assert len(stream.written) < 4 + 600_000  # it stopped when asked to pause
    stream.buffered = 0  # the peer read it all
    transport.set_writing_paused(False)  # as the loop calls resume_writing()
    assert bytes(stream.written) == b"HEAD" + data[10:600_010] + b"TAIL" + b"after"
    assert not transport.sending_file
    assert transport.file_bytes_sent == 600_000
