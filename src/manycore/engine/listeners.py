"""Listening sockets, opened once in the main context before any worker exists.

Opening them here means a taken port is reported once, as a clear error,
and ``port=0`` resolves to one concrete port that every worker shares.

With several workers on Linux each worker gets its own ``SO_REUSEPORT``
socket, so the kernel spreads new connections evenly instead of waking every
worker for each one.  ``SO_REUSEPORT`` would also let a *second* server bind
the same port silently, so the port is first probed with a plain bind, which
fails if anybody holds it.
"""

from __future__ import annotations

import errno
import socket

from ..context import ManycoreError
from ..registry import Registration, ServerSpec

__all__ = ["close_listeners", "open_listeners"]


def open_listeners(
    registrations: list[Registration], workers: int, reuse_port: bool | None
) -> dict[int, list[socket.socket]]:
    listeners: dict[int, list[socket.socket]] = {}
    can_reuse = hasattr(socket, "SO_REUSEPORT")
    try:
        for registration in registrations:
            spec = registration.transport
            if not isinstance(spec, ServerSpec):
                continue
            per_worker = can_reuse and workers > 1 and reuse_port is not False
            listeners[id(registration)] = _open(spec, workers if per_worker else 1)
    except BaseException:
        close_listeners(listeners)
        raise
    return listeners


def close_listeners(listeners: dict[int, list[socket.socket]]) -> None:
    for socks in listeners.values():
        for sock in socks:
            sock.close()


def _open(spec: ServerSpec, count: int) -> list[socket.socket]:
    try:
        infos = socket.getaddrinfo(
            spec.host or None, spec.port, spec.family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ManycoreError(f"cannot listen on {spec.host!r}: {exc.strerror}") from None
    family, type_, proto, _, address = infos[0]
    probe = _bind(family, type_, proto, address, spec, reuse_port=False)
    if count == 1:
        probe.listen(spec.backlog)
        probe.setblocking(False)
        return [probe]
    address = (address[0], probe.getsockname()[1], *address[2:])
    probe.close()
    socks = []
    try:
        for _ in range(count):
            sock = _bind(family, type_, proto, address, spec, reuse_port=True)
            sock.listen(spec.backlog)
            sock.setblocking(False)
            socks.append(sock)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def _bind(family, type_, proto, address, spec: ServerSpec, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
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
