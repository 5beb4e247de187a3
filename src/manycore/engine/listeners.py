"""Listening sockets, opened once in the main context before any worker exists.

Opening them here means a taken port is reported once, as a clear error,
and ``port=0`` resolves to one concrete port that every worker shares.

Every worker accepts from the *same* listening socket (inherited across the
fork, or shared by the threads).  There is one accept queue per port, so a
connection can never wait in the queue of a worker that is dead, restarting
or still starting: whichever worker is serving takes it.  (Per-worker
``SO_REUSEPORT`` sockets spread load slightly more evenly, but the kernel
keeps routing new connections to the socket of a worker that is not serving.)

A Unix domain socket (``uds``) is created with mode ``0o666`` less the umask,
like any file a process creates; a file already at its path is replaced only if
it is a socket nobody listens on (a stale one left by a killed server), and the
socket file is removed when the server stops -- if it is still the one created.
An inherited descriptor (``fd``, systemd socket activation) must already be a
listening stream socket; it is served as it is.
"""

from __future__ import annotations

import errno
import os
import socket
import stat

from ..context import ManycoreError
from ..registry import Registration, ServerSpec

__all__ = ["close_listeners", "open_listeners", "remove_socket_files"]

_created_socket_files: dict[str, tuple[int, int]] = {}  # path -> (device, inode) made here


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


def remove_socket_files() -> None:
    """Remove the Unix domain socket files this process created, if still the ones it made."""
    for path, identity in list(_created_socket_files.items()):
        del _created_socket_files[path]
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISSOCK(info.st_mode) and (info.st_dev, info.st_ino) == identity:
            os.unlink(path)


def _open(spec: ServerSpec, *, reuse_port: bool) -> socket.socket:
    if spec.fd is not None:
        return _inherited(spec.fd)
    if spec.uds is not None:
        return _unix(spec)
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


def _inherited(fd: int) -> socket.socket:
    """The listening socket a parent (systemd) passed down as ``fd``."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        raise ManycoreError(
            f"cannot serve --fd {fd}: {exc.strerror} (no such descriptor was inherited; "
            "systemd passes its first socket as 3)"
        ) from None
    if not stat.S_ISSOCK(mode):
        raise ManycoreError(f"cannot serve --fd {fd}: it is not a socket")
    sock = socket.socket(fileno=fd)
    try:
        if sock.type != socket.SOCK_STREAM:
            raise ManycoreError(f"cannot serve --fd {fd}: it is not a stream (TCP or Unix) socket")
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise ManycoreError(
                f"cannot serve --fd {fd}: the socket is not listening (the parent must "
                "bind it and call listen(), as systemd's ListenStream= does)"
            )
    except BaseException:
        sock.detach()  # not ours to close: the caller keeps its descriptor
        raise
    sock.setblocking(False)
    return sock


def _unix(spec: ServerSpec) -> socket.socket:
    path = spec.uds
    assert path is not None
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise ManycoreError(f"cannot listen on --uds {path}: {exc.strerror or exc}") from None
    info = os.lstat(path)
    _created_socket_files[path] = (info.st_dev, info.st_ino)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
    sock.listen(spec.backlog)
    sock.setblocking(False)
    return sock


def _remove_stale_socket(path: str) -> None:
    """A socket file nobody listens on is left by a killed server: remove it; nothing else."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ManycoreError(f"cannot listen on --uds {path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise ManycoreError(
            f"cannot listen on --uds {path}: a file that is not a socket is there "
            "(remove it or choose another path)"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
        return
    except OSError as exc:
        raise ManycoreError(f"cannot listen on --uds {path}: {exc.strerror}") from None
    finally:
        probe.close()
    raise ManycoreError(
        f"cannot listen on --uds {path}: another server listens there (stop it or choose "
        "another path)"
    )
