"""Listening sockets, opened once in the main context before any worker exists.

Opening them here means a taken port is reported once, as a clear error,
and ``port=0`` resolves to one concrete port that every worker shares.

Every worker accepts from the *same* listening socket (inherited across the
fork, or shared by the threads).  There is one accept queue per port, so a
connection can never wait in the queue of a worker that is dead, restarting
or still starting: whichever worker is serving takes it.  (Per-worker
``SO_REUSEPORT`` sockets spread load slightly more evenly, but the kernel
keeps routing new connections to the socket of a worker that is not serving.)
"""

from __future__ import annotations

import errno
import socket

from ..context import ManycoreError
from ..registry import Registration, ServerSpec

__all__ = ["close_listeners", "open_listeners"]


def open_listeners(
    registrations: list[Registration], reuse_port: bool | None = None
) -> dict[int, list[socket.socket]]:
    """One listening socket per server registration, keyed by ``id(registration)``.

    ``reuse_port=True`` sets ``SO_REUSEPORT`` on it, so that other processes
    may deliberately bind the same port too.
    """
    listeners: dict[int, list[socket.socket]] = {}
    try:
        for registration in registrations:
            spec = registration.transport
            if isinstance(spec, ServerSpec):
                listeners[id(registration)] = [_open(spec, reuse_port=bool(reuse_port))]
    except BaseException:
        close_listeners(listeners)
        raise
    return listeners


def close_listeners(listeners: dict[int, list[socket.socket]]) -> None:
    for socks in listeners.values():
        for sock in socks:
            sock.close()


def _open(spec: ServerSpec, *, reuse_port: bool) -> socket.socket:
    try:
        infos = socket.getaddrinfo(
            spec.host or None, spec.port, spec.family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ManycoreError(f"cannot listen on {spec.host!r}: {exc.strerror}") from None
    family, type_, proto, _, address = infos[0]
    sock = _bind(family, type_, proto, address, spec, reuse_port=reuse_port)
    sock.listen(spec.backlog)
    sock.setblocking(False)
    return sock


def _bind(
    family: socket.AddressFamily,
    type_: socket.SocketKind,
    proto: int,
    address: tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes],
    spec: ServerSpec,
    *,
    reuse_port: bool,
) -> socket.socket:
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ManycoreError(
                f"cannot listen on {spec.host}:{spec.port}: address already in use "
                "(another server holds it; choose another --port)"
            ) from None
        if exc.errno == errno.EACCES:
            raise ManycoreError(
                f"cannot listen on {spec.host}:{spec.port}: permission denied "
                "(ports below 1024 need privileges)"
            ) from None
        raise ManycoreError(f"cannot listen on {spec.host}:{spec.port}: {exc.strerror}") from None
    return sock
