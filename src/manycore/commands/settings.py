"""Run settings: one frozen dataclass, from which the command line is derived.

Every option is written once, here, with its default and its help text;
every command that serves adds them to its parser with :func:`add_run_options`
and reads them back with :func:`RunSettings.from_args`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar

from ..engine import ENGINES, resolve_engine
from ..http.proxy import DEFAULT_FORWARDED_ALLOW_IPS, parse_trusted
from ..work import cpu_count
from .usage import UsageError

__all__ = [
    "LOG_LEVELS",
    "SERVED_CLASS_SETTINGS",
    "WEBSOCKET_SETTINGS",
    "RunKwargs",
    "RunSettings",
    "add_run_options",
]

T = TypeVar("T")


def _option(default: T, help: str, **argparse_kwargs: Any) -> T:
    return field(default=default, metadata={"help": help, **argparse_kwargs})


def _server_flag(default: T, help: str, **argparse_kwargs: Any) -> T:
    """An option of ``manycore serve`` only: how a production server listens and answers."""
    return field(default=default, metadata={"help": help, "server_flag": True, **argparse_kwargs})


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number 0..65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {port}")
    return port


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _descriptor(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a file descriptor number (3 for systemd's first socket), got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a file descriptor number >= 0, got {value}")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {value}")
    return value


def _trusted_ips(text: str) -> str:
    try:
        parse_trusted(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _directory(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"no such directory: {text!r}")
    return text


def _existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    return text


def _root_path(text: str) -> str:
    if text and (not text.startswith("/") or text.endswith("/")):
        raise argparse.ArgumentTypeError(
            f"expected a path that starts with / and does not end with one (/api), got {text!r}"
        )
    return text


SERVED_CLASS_SETTINGS = (
    "keepalive_timeout",
    "access_log",
    "limit_concurrency",
    "root_path",
    "proxy_headers",
    "forwarded_allow_ips",
)
"""The class attributes through which settings reach a served class (every interface)."""

WEBSOCKET_SETTINGS = {
    "ws_max_size": "websocket_max_message_size",
    "ws_ping_interval": "websocket_ping_interval",
    "ws_ping_timeout": "websocket_ping_timeout",
    "ws_per_message_deflate": "websocket_per_message_deflate",
}
"""The WebSocket flags (uvicorn's names) and the ``AsgiServer`` attributes they set."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(LOG_LEVELS)} (any case), got {text!r}"
        )
    return level


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value):  # a stop that never ends, or never begins
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {value}")
    return value


class RunKwargs(TypedDict):
    """The settings ``manycore.run()`` takes, as keyword arguments."""

    workers: int | None
    engine: str
    guard: bool
    grace: float


@dataclass(frozen=True)
class RunSettings:
    """How to run: where to listen, on which engine, and how much to log."""

    host: str = _option("127.0.0.1", "address to listen on (0.0.0.0 for every interface)")
    port: int = _option(8080, "TCP port (0 picks a free one)", type=_port)
    workers: int | None = _option(
        None, "parallel contexts to run (default: one per usable core)", type=_positive
    )
    engine: str = _option(
        "auto",
        "processes, threads (parallel on free-threaded Python), inline (debugging) or auto",
        choices=ENGINES,
    )
    guard: bool = _option(
        False, "report parallel contexts that change the application module's globals"
    )
    grace: float = _option(
        10.0, "seconds in-flight callbacks get to finish after SIGTERM/SIGINT", type=_seconds
    )
    log_level: str = _option(
        "INFO", f"{', '.join(LOG_LEVELS)} (any case)", type=_log_level, metavar="LEVEL"
    )
    uds: str | None = _server_flag(
        None, "listen on this Unix domain socket instead of --host/--port", metavar="PATH"
    )
    fd: int | None = _server_flag(
        None,
        "serve the listening socket inherited as this descriptor (systemd: 3)",
        type=_descriptor,
        metavar="N",
    )
    ssl_certfile: str | None = _server_flag(
        None, "serve HTTPS with this certificate chain (PEM)", type=_existing_file, metavar="PATH"
    )
    ssl_keyfile: str | None = _server_flag(
        None, "the certificate's private key (PEM)", type=_existing_file, metavar="PATH"
    )
    ssl_keyfile_password: str | None = _server_flag(
        None, "the password of an encrypted --ssl-keyfile", metavar="TEXT"
    )
    ssl_ca_certs: str | None = _server_flag(
        None,
        "require client certificates signed by these CAs (PEM)",
        type=_existing_file,
        metavar="PATH",
    )
    root_path: str = _server_flag(
        "",
        "the prefix a proxy serves the application under (/api)",
        type=_root_path,
        metavar="PATH",
    )
    proxy_headers: bool = _server_flag(
        False,
        "take the client and scheme from X-Forwarded-For/-Proto and Forwarded, "
        "sent by --forwarded-allow-ips (default: off)",
        action=argparse.BooleanOptionalAction,
    )
    forwarded_allow_ips: str = _server_flag(
        os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_FORWARDED_ALLOW_IPS),
        "proxies whose forwarding headers are believed: IPs, CIDRs, unix: or * "
        "(env FORWARDED_ALLOW_IPS)",
        type=_trusted_ips,
        metavar="LIST",
    )
    timeout_keep_alive: float | None = _server_flag(
        None,
        "seconds an idle keep-alive connection stays open (default: the application's)",
        type=_positive_seconds,
        metavar="SECONDS",
    )
    limit_concurrency: int | None = _server_flag(
        None,
        "open connections per worker beyond which requests are answered 503",
        type=_positive,
        metavar="N",
    )
    access_log: bool | None = _server_flag(
        None,
        "log one line per request in Common Log Format (default: the application's)",
        action=argparse.BooleanOptionalAction,
    )
    ws_max_size: int | None = _server_flag(
        None,
        "largest WebSocket message accepted, in bytes; a larger one closes with 1009 "
        "(default: 16777216)",
        type=_positive,
        metavar="BYTES",
    )
    ws_ping_interval: float | None = _server_flag(
        None,
        "seconds between the server's WebSocket pings; 0 sends none (default: 20)",
        type=_seconds,
        metavar="SECONDS",
    )
    ws_ping_timeout: float | None = _server_flag(
        None,
        "seconds a WebSocket client has to answer a ping before the connection "
        "closes with 1011; 0 waits forever (default: 20)",
        type=_seconds,
        metavar="SECONDS",
    )
    ws_per_message_deflate: bool | None = _server_flag(
        None,
        "offer WebSocket permessage-deflate compression (default: on)",
        action=argparse.BooleanOptionalAction,
    )
    reload: bool = _server_flag(
        False, "restart the server when a .py file changes (development; needs watchfiles)"
    )
    reload_dir: tuple[str, ...] = _server_flag(
        (),
        "directory to watch with --reload (repeatable; default: the current one)",
        type=_directory,
        action="append",
        metavar="DIR",
    )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunSettings:
        values: dict[str, Any] = {
            f.name: getattr(args, f.name, f.default) for f in dataclasses.fields(cls)
        }
        values["reload_dir"] = tuple(values["reload_dir"] or ())
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations no single option can see (argparse checks each value)."""
        if self.uds is not None and self.fd is not None:
            raise UsageError("--uds and --fd both say where to listen; give one of them")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise UsageError("--ssl-keyfile needs --ssl-certfile, the certificate it belongs to")
        if (self.ssl_keyfile_password or self.ssl_ca_certs) and not self.ssl_certfile:
            raise UsageError(
                "--ssl-keyfile-password and --ssl-ca-certs need --ssl-certfile (TLS is off)"
            )
        if self.reload_dir and not self.reload:
            raise UsageError("--reload-dir needs --reload")

    def server_flags_given(self) -> list[str]:
        """The server flags set to other than their defaults, ``--reload`` aside."""
        return [
            "--" + f.name.replace("_", "-")
            for f in dataclasses.fields(self)
            if f.metadata.get("server_flag")
            and f.name not in ("reload", "reload_dir")
            and getattr(self, f.name) != f.default
        ]

    def websocket_flags_given(self) -> list[str]:
        """The WebSocket flags given, which only an ASGI application can use."""
        return [
            "--" + name.replace("_", "-")
            for name in WEBSOCKET_SETTINGS
            if getattr(self, name) is not None
        ]

    @property
    def multiprocess(self) -> bool:
        """Whether more than one process serves (the processes engine, several workers)."""
        workers = self.workers if self.workers is not None else cpu_count()
        return resolve_engine(self.engine) == "processes" and workers > 1

    @property
    def tls(self) -> bool:
        return self.ssl_certfile is not None

    def served_class_settings(self) -> dict[str, Any]:
        """What the served protocol class reads as class attributes (see ``served_class``).

        A setting left to its default is absent, so the class keeps its own value.
        """
        values: dict[str, Any] = {
            "root_path": self.root_path,
            "proxy_headers": self.proxy_headers,
            "forwarded_allow_ips": self.forwarded_allow_ips,
            "limit_concurrency": self.limit_concurrency,
        }
        if self.timeout_keep_alive is not None:
            values["keepalive_timeout"] = self.timeout_keep_alive
        if self.access_log is not None:
            values["access_log"] = self.access_log
        if self.tls:
            values["url_scheme"] = "https"
        for name, attribute in WEBSOCKET_SETTINGS.items():
            value = getattr(self, name)
            if value is not None:
                # A zero interval or timeout turns the ping or its deadline off.
                values[attribute] = None if value == 0 and not isinstance(value, bool) else value
        return values

    def served_class(self, cls: type) -> type:
        """``cls`` with these settings as class attributes, the user's class left untouched.

        A subclass of the same name and module: an ``HttpServer`` checks its settings
        when it is created, so a value that cannot work is reported before serving.
        """
        served = type(cls.__name__, (cls,), {**self.served_class_settings()})
        served.__module__ = cls.__module__
        served.__qualname__ = cls.__qualname__
        return served

    def to_argv(self) -> list[str]:
        """The options that give these settings, less ``--reload`` (the reloader's child)."""
        argv: list[str] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("reload", "reload_dir") or value == f.default:
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                argv.append(flag if value else "--no-" + flag[2:])
            else:
                argv += [flag, str(value)]
        return argv

    def run_kwargs(self) -> RunKwargs:
        return RunKwargs(
            workers=self.workers,
            engine=self.engine,
            guard=self.guard,
            grace=self.grace,
        )


def add_run_options(
    parser: argparse.ArgumentParser, *, server_flags: bool = False, **defaults: Any
) -> None:
    """Add ``--host --port --workers --engine --guard --grace --log-level``.

    ``server_flags=True`` adds the production server's too (``--uds``, TLS, proxy
    headers, ...; ``manycore serve`` has them).  ``defaults`` overrides a default,
    e.g. ``port=8000``; a name that is not a setting is refused, so a misspelt
    override cannot go unnoticed.
    """
    names = {f.name for f in dataclasses.fields(RunSettings)}
    unknown = sorted(set(defaults) - names)
    if unknown:
        raise TypeError(f"not run settings: {', '.join(unknown)}; choose from {sorted(names)}")
    for f in dataclasses.fields(RunSettings):
        meta = dict(f.metadata)
        help_text = meta.pop("help")
        if meta.pop("server_flag", False) and not server_flags:
            continue
        default = defaults.get(f.name, f.default)
        flag = "--" + f.name.replace("_", "-")
        if "action" in meta:
            if meta["action"] == "append":
                default = None  # argparse appends to the default itself; () would be shared
            parser.add_argument(flag, default=default, help=help_text, **meta)
        elif isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true", default=default, help=help_text)
        else:
            shown = "" if default is None or default == "" else f" (default: {default})"
            parser.add_argument(flag, default=default, help=help_text + shown, **meta)
