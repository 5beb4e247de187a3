"""Fixtures shared by the whole suite.

``engine`` runs a test once per engine, so one suite proves the engines mean
the same.  ``MANYCORE_TEST_ENGINES`` narrows the list (the free-threaded CI
run uses it to run the threads engine there).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
TEST_APPS = Path(__file__).resolve().parent / "apps"

ALL_ENGINES = ("inline", "threads", "processes")
ENGINES = tuple(
    e for e in os.environ.get("MANYCORE_TEST_ENGINES", ",".join(ALL_ENGINES)).split(",") if e
)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def workers(engine) -> int:
    """Two workers where the engine has several, so cross-worker behaviour is exercised."""
    return 1 if engine == "inline" else 2


def connect(address, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(address, timeout=timeout)
    return sock


def recv_until(sock: socket.socket, predicate, limit: int = 1 << 24) -> bytes:
    """Read until ``predicate(data)`` is true or the peer closes."""
    data = b""
    while not predicate(data) and len(data) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def recv_all(sock: socket.socket) -> bytes:
    return recv_until(sock, lambda _: False)


sys.path.insert(0, str(TEST_APPS))
