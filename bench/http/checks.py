"""Correctness before speed: does a server answer exactly what the benchmark expects?

Every check returns a list of problems (empty when all is well), each naming the server's
wrong value and the expected one, so the runner can print them and refuse to benchmark
(or, with ``--smoke``, exit non-zero). Three independent clients look at each endpoint:

- ``http.client``: status, exact body, media type, Content-Length, Date and Server;
- a raw socket that writes ``depth`` copies of wrk's request in one ``sendall`` and counts
  the complete responses (httptools' response parser), as wrk's pipelining does;
- ``curl``, when it is installed, for a second opinion on the body.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import time

import httptools
from workload import Endpoint, raw_request


def fetch(host: str, port: int, endpoint: Endpoint) -> tuple[http.client.HTTPResponse, bytes]:
    """One GET with wrk's headers on its own connection: the response and its whole body.

    Raises OSError or http.client.HTTPException when there is no answer to look at.
    """
    conn = http.client.HTTPConnection(host, port, timeout=10.0)
    try:
        conn.request("GET", endpoint.path, headers=endpoint.headers())
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def check_endpoint(host: str, port: int, endpoint: Endpoint) -> list[str]:
    """One request with http.client; the response must be exactly the expected one."""
    where = f"GET {endpoint.path}"
    try:
        response, body = fetch(host, port, endpoint)
    except (OSError, http.client.HTTPException) as exc:
        return [f"{where}: request failed: {exc!r}"]
    problems = []
    if response.status != 200:
        problems.append(f"{where}: status {response.status}, expected 200")
    if body != endpoint.body:
        problems.append(f"{where}: body {body[:200]!r}, expected {endpoint.body!r}")
    media_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if media_type != endpoint.content_type:
        problems.append(
            f"{where}: Content-Type {response.getheader('Content-Type')!r}, "
            f"expected {endpoint.content_type!r}"
        )
    length = response.getheader("Content-Length")
    if length != str(len(endpoint.body)):
        problems.append(f"{where}: Content-Length {length!r}, expected {len(endpoint.body)}")
    for header in ("Date", "Server"):
        if response.getheader(header) is None:
            problems.append(f"{where}: no {header} header (TechEmpower requires one)")
    return problems


class _ResponseCounter:
    """httptools callbacks: collect each complete response's status and body."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.responses: list[tuple[int, bytes]] = []
        self._body: list[bytes] = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.responses.append((self.parser.get_status_code(), b"".join(self._body)))
        self._body = []


def check_pipelined(host: str, port: int, endpoint: Endpoint, depth: int) -> list[str]:
    """``depth`` requests in one write must bring back ``depth`` correct responses."""
    where = f"{depth} pipelined GET {endpoint.path}"
    batch = raw_request(endpoint, host, port) * depth
    counter = _ResponseCounter()
    deadline = time.monotonic() + 10.0
    try:
        with socket.create_connection((host, port), timeout=10.0) as sock:
            sock.sendall(batch)
            while len(counter.responses) < depth and time.monotonic() < deadline:
                data = sock.recv(65536)
                if not data:
                    break
                counter.parser.feed_data(data)
    except (OSError, httptools.HttpParserError) as exc:
        return [f"{where}: failed after {len(counter.responses)} responses: {exc!r}"]
    if len(counter.responses) != depth:
        return [f"{where}: {len(counter.responses)} responses to one write, expected {depth}"]
    wrong = [(s, b) for s, b in counter.responses if s != 200 or b != endpoint.body]
    if wrong:
        status, body = wrong[0]
        return [
            f"{where}: {len(wrong)} wrong responses, the first: status {status} body {body!r}, "
            f"expected 200 {endpoint.body!r}"
        ]
    return []


def check_curl(host: str, port: int, endpoint: Endpoint) -> list[str]:
    """The body as curl sees it (skipped, with no problem, when curl is not installed)."""
    if shutil.which("curl") is None:
        return []
    url = f"http://{host}:{port}{endpoint.path}"
    cmd = ["curl", "-sS", "--max-time", "10", url]
    for name, value in endpoint.headers().items():
        cmd += ["-H", f"{name}: {value}"]
    done = subprocess.run(cmd, capture_output=True, timeout=30)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip()
        return [f"curl {url}: exit status {done.returncode}: {reason}"]
    if done.stdout != endpoint.body:
        return [f"curl {url}: body {done.stdout[:200]!r}, expected {endpoint.body!r}"]
    return []


def check_server(host: str, port: int, endpoints: list[Endpoint], depth: int) -> list[str]:
    """Every check, on every endpoint."""
    problems: list[str] = []
    for endpoint in endpoints:
        problems += check_endpoint(host, port, endpoint)
        problems += check_curl(host, port, endpoint)
        if depth > 1:
            problems += check_pipelined(host, port, endpoint, depth)
    return problems
