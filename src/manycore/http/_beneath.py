"""Opening a file below a directory, with no way out of it and no race.

Checking a path and then opening it leaves a window: between the two, a
directory on the path can be replaced by a symlink to somewhere else.  So the
open itself does the checking, every time, relative to the directory:

- ``openat2(2)`` with ``RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`` (Linux 5.6+)
  resolves the whole path in the kernel and fails with ``EXDEV`` if any step
  would leave the directory.  It also refuses absolute symlinks, even ones that
  point back inside, so that case (and kernels without ``openat2``) takes
- the walk: one component at a time, each opened relative to the directory
  opened before it with ``O_NOFOLLOW``; a symlink met on the way is read and
  its target walked the same way, so a path can follow symlinks that stay
  inside the directory and never one that leaves it.

Files are opened ``O_NONBLOCK`` so a FIFO in the tree cannot block a worker.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from collections.abc import Sequence

__all__ = ["OpenedFile", "open_beneath"]

FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_MAX_LINKS = 40  # as the kernel's own limit on symlinks in one resolution
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437}.get(platform.machine())
_WALK_INSTEAD = frozenset((errno.EXDEV, errno.ELOOP, errno.EAGAIN))


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


class _Openat2:
    """``openat2(dir_fd, path, FILE_FLAGS, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)``."""

    def __init__(self, number: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.syscall = libc.syscall
        self.syscall.restype = ctypes.c_long
        self.syscall.argtypes = (
            ctypes.c_long,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_void_p,
            ctypes.c_size_t,
        )
        self.number = number
        self.how = _OpenHow(FILE_FLAGS, 0, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
        self.how_address = ctypes.addressof(self.how)
        self.how_size = ctypes.sizeof(self.how)
        self.available = True

    def __call__(self, dir_fd: int, path: bytes) -> int:
        """A descriptor, or minus the errno."""
        fd = self.syscall(self.number, dir_fd, path, self.how_address, self.how_size)
        return fd if fd >= 0 else -ctypes.get_errno()


def _make_openat2() -> _Openat2 | None:
    if _SYS_OPENAT2 is None:
        return None
    try:
        return _Openat2(_SYS_OPENAT2)
    except (OSError, AttributeError):
        return None


_openat2 = _make_openat2()


class OpenedFile:
    """An open file descriptor that closes itself when the last user lets go of it.

    A file response is decided when it is prepared and sent later (after earlier
    pipelined answers): the descriptor lives as long as something may still send it.
    """

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<OpenedFile fd={self.fd}>"


def open_beneath(root: str, parts: Sequence[str], *, use_openat2: bool = True) -> int:
    """A read-only descriptor for ``root/parts...``; OSError if missing or outside ``root``.

    ``parts`` are path components (no ``..``: the caller refuses those in URLs);
    symlinks are followed while they stay inside ``root``.  ``root`` is opened
    afresh each time, so replacing the directory itself takes effect at once.
    """
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        openat2 = _openat2
        if use_openat2 and openat2 is not None and openat2.available:
            fd = openat2(root_fd, os.fsencode("/".join(parts) or "."))
            if fd >= 0:
                return fd
            if fd in (-errno.ENOSYS, -errno.EPERM):  # an old kernel, or a seccomp filter
                openat2.available = False
            elif -fd not in _WALK_INSTEAD:
                raise OSError(-fd, os.strerror(-fd), "/".join(parts))
        return _walk(root_fd, root, parts)
    finally:
        os.close(root_fd)


def _components(path: str) -> list[str]:
    return [name for name in path.split("/") if name and name != "."]


def _walk(root_fd: int, root: str, parts: Sequence[str]) -> int:
    """Resolve ``parts`` below ``root_fd`` one component at a time, never following blindly."""
    pending = _components("/".join(parts))[::-1]  # a stack: the next name is last
    dirs = [root_fd]  # the directories walked down through; dirs[0] is the caller's
    links = 0
    try:
        while pending:
            name = pending.pop()
            if name == "..":
                if len(dirs) == 1:
                    raise OSError(errno.EXDEV, "a symlink leads outside the directory")
                os.close(dirs.pop())
                continue
            last = not pending
            flags = (FILE_FLAGS if last else _DIR_FLAGS) | os.O_NOFOLLOW
            try:
                fd = os.open(name, flags, dir_fd=dirs[-1])
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                try:
                    target = os.readlink(name, dir_fd=dirs[-1])
                except OSError:
                    raise exc from None  # not a symlink: a file where a directory must be
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many symlinks") from None
                if target.startswith("/"):
                    inside = _inside(root, target)
                    if inside is None:
                        raise OSError(
                            errno.EXDEV, "a symlink leads outside the directory"
                        ) from None
                    for fd in dirs[1:]:
                        os.close(fd)
                    del dirs[1:]
                    target = inside
                pending += _components(target)[::-1]
                continue
            if last:
                return fd
            dirs.append(fd)
        return os.open(".", FILE_FLAGS, dir_fd=dirs[-1])  # the path named a directory
    finally:
        for fd in dirs[1:]:
            os.close(fd)


def _inside(root: str, target: str) -> str | None:
    """An absolute symlink target as a path relative to ``root``, or None if outside."""
    if target == root:
        return ""
    prefix = root.rstrip("/") + "/"
    return target[len(prefix) :] if target.startswith(prefix) else None
