"""What the main context declares before ``run()``: servers, clients, worker hooks.

Registrations are plain records collected in the main context; the engine
reads them when it starts.  Listening sockets are opened by the engine in the
main context (so "address already in use" is reported once, before any worker
exists), never here.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import TypeVar

from .context import ManycoreError, main_only
from .protocol import ProtocolSpec

__all__ = [
    "ClientSpec",
    "Hook",
    "Registration",
    "RunWhileImportingError",
    "ServerSpec",
    "WorkerStartAborted",
    "client",
    "importing_target",
    "on_worker_start",
    "on_worker_stop",
    "register",
    "registered_servers",
    "registrations",
]


Hook = Callable[[], object]
"""A worker hook: called with no arguments, sync or ``async def``."""

H = TypeVar("H", bound=Hook)


@dataclass(frozen=True)
class ServerSpec:
    """A listening address; ``port=0`` picks a free port once, shared by all workers.

    ``uds`` listens on a Unix domain socket at that path instead, and ``fd`` on
    an inherited listening socket (systemd socket activation); ``ssl`` makes
    every accepted connection TLS.
    """

    host: str = "127.0.0.1"
    port: int = 0
    backlog: int = 1024
    family: socket.AddressFamily = socket.AF_UNSPEC
    uds: str | None = None
    fd: int | None = None
    ssl: SSLContext | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port must be an integer 0..65535, got {self.port!r}")


@dataclass(frozen=True)
class ClientSpec:
    """An address to connect to; one connection, made by parallel context 0."""

    host: str
    port: int


@dataclass(frozen=True)
class Registration:
    transport: ServerSpec | ClientSpec
    spec: ProtocolSpec = field(compare=False)

    @property
    def protocol(self) -> type:
        return self.spec.cls


class RunWhileImportingError(ManycoreError):
    """The module ``manycore serve`` is importing calls ``run()`` itself."""


class WorkerStartAborted(ManycoreError):
    """Raise from an ``on_worker_start`` hook when the server cannot run at all.

    Restarting the worker would fail the same way, so the server stops with this
    exception's message as its one line (and a non-zero exit status) instead.
    """


_registrations: list[Registration] = []
_start_hooks: list[Hook] = []
_stop_hooks: list[Hook] = []
_importing_target: str | None = None


def server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    backlog: int = 1024,
    uds: str | None = None,
    fd: int | None = None,
    ssl: SSLContext | None = None,
) -> ServerSpec:
    """Declare a listening address for :func:`register`.

    ``uds=PATH`` listens on a Unix domain socket, ``fd=N`` on an inherited
    listening socket, instead of ``host:port``; ``ssl`` (a server-side
    ``ssl.SSLContext``) serves TLS.
    """
    if uds is not None and fd is not None:
        raise ValueError("server(uds=..., fd=...): give one place to listen, not both")
    return ServerSpec(host, port, backlog, uds=uds, fd=fd, ssl=ssl)


def client(host: str, port: int) -> ClientSpec:
    """Declare an address to connect to for :func:`register`."""
    return ClientSpec(host, port)


@main_only
def register(*, transport: ServerSpec | ClientSpec, protocol: type) -> Registration:
    """Run ``protocol`` (a class; one instance per connection) on ``transport``."""
    if not isinstance(transport, ServerSpec | ClientSpec):
        raise TypeError(
            "register(transport=...) takes manycore.server(host, port) or "
            f"manycore.client(host, port), got {transport!r}"
        )
    registration = Registration(transport, ProtocolSpec(protocol))
    _registrations.append(registration)
    return registration


def registrations() -> list[Registration]:
    """What ``run()`` serves.

    ``run()`` reads this before anything else, which makes it the place to
    refuse a ``run()`` made while ``manycore serve`` imports the user's module:
    that call would start a server inside the import, with the module's own
    settings, and ``manycore serve`` would start a second one after it.
    """
    if _importing_target is not None:
        raise RunWhileImportingError(
            f"{_importing_target} calls manycore.run() when imported, which would start a "
            "second server; put its register() and run() calls under "
            'if __name__ == "__main__":'
        )
    return list(_registrations)


@contextmanager
def importing_target(module: str) -> Iterator[None]:
    """Refuse ``run()`` while ``manycore serve`` imports ``module`` (see :func:`registrations`)."""
    global _importing_target
    previous, _importing_target = _importing_target, module
    try:
        yield
    finally:
        _importing_target = previous


def registered_servers() -> list[Registration]:
    """The registrations that listen (``manycore serve`` adds one per named class)."""
    return [r for r in _registrations if isinstance(r.transport, ServerSpec)]


def clear() -> None:
    """Forget every registration and hook (tests, and re-running in one process)."""
    _registrations.clear()
    _start_hooks.clear()
    _stop_hooks.clear()


@main_only
def on_worker_start(fn: H) -> H:
    """Decorator: run ``fn()`` (sync or async) in every parallel context before it serves.

    The place for per-worker resources such as a database pool: created after
    the fork, owned by one worker, never shared.
    """
    _start_hooks.append(fn)
    return fn


@main_only
def on_worker_stop(fn: H) -> H:
    """Decorator: run ``fn()`` (sync or async) in every parallel context as it stops."""
    _stop_hooks.append(fn)
    return fn


def start_hooks() -> list[Hook]:
    return list(_start_hooks)


def stop_hooks() -> list[Hook]:
    return list(_stop_hooks)
