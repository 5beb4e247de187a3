"""``manycore serve MODULE:ATTR`` for any application: which interface, and how to serve it.

ATTR may be a protocol class (an ``HttpServer`` subclass is one), an ASGI 3
application, or a WSGI application; ``--interface`` overrides the detection
(:func:`manycore.asgi.detect_interface`), ``--factory`` calls ATTR() for the
application first.  An application is imported once, here in the main
context, and becomes a protocol class before any worker exists, so every
engine forks or threads the same one.

The options are one dataclass field each, as in :mod:`.settings`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import registry
from ..asgi import LIFESPAN_MODES, asgi_server, detect_interface
from .settings import _option, _positive
from .target import Target, TargetError, UserCodeError, protocol_class
from .usage import UsageError

__all__ = ["INTERFACES", "AppSettings", "add_app_options", "serving_class"]

INTERFACES = ("auto", "protocol", "asgi", "wsgi")


@dataclass(frozen=True)
class AppSettings:
    """What ATTR is and how to serve it."""

    interface: str = _option(
        "auto", "what ATTR is: protocol (class), asgi, wsgi, or auto (detect)", choices=INTERFACES
    )
    factory: bool = _option(False, "ATTR is a factory: call ATTR() to get the application")
    lifespan: str = _option(
        "auto",
        "ASGI lifespan startup/shutdown in every worker: on, off, or auto (if the app supports it)",
        choices=LIFESPAN_MODES,
    )
    threads: int = _option(
        8, "WSGI: threads per worker that run the blocking application", type=_positive
    )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AppSettings:
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})

    def to_argv(self) -> list[str]:
        """The options that give these settings (for ``--reload``'s child)."""
        argv: list[str] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            flag = "--" + f.name.replace("_", "-")
            argv += [flag] if isinstance(value, bool) else [flag, str(value)]
        return argv


def add_app_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--interface --factory --lifespan --threads``."""
    for f in dataclasses.fields(AppSettings):
        meta = dict(f.metadata)
        help_text = meta.pop("help")
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true", default=f.default, help=help_text)
        else:
            parser.add_argument(
                flag, default=f.default, help=f"{help_text} (default: {f.default})", **meta
            )


def serving_class(
    obj: object,
    target: Target,
    module: Any,
    settings: AppSettings,
    server_settings: Mapping[str, Any] | None = None,
    *,
    multiprocess: bool = True,
) -> type:
    """The protocol class that serves ``obj`` (what ATTR names), its lifespan hooks registered.

    ``server_settings`` become class attributes of an application's server (``root_path``,
    ``keepalive_timeout``, ``access_log``, ... as :class:`manycore.asgi.AsgiServer` names them).
    ``multiprocess``: whether other processes serve the application too (a WSGI
    application reads it as ``wsgi.multiprocess``).
    """
    if settings.factory:
        if not callable(obj):
            raise TargetError(
                f"--factory: {target.text} is not callable, so it cannot make the app"
            )
        try:
            obj = obj()
        except Exception as exc:
            raise UserCodeError(exc) from None
    interface = settings.interface
    found = detect_interface(obj)
    if interface == "auto":
        if found == "asgi2":
            raise TargetError(
                f"{target.text} is an ASGI 2 (double-callable) application; manycore serves "
                "ASGI 3: wrap it with asgiref.compatibility.guarantee_single_callable"
            )
        if found == "unknown" and not settings.factory:
            protocol_class(module, target)  # says why it is no protocol class either
        if found == "unknown":
            raise TargetError(
                f"{target.text}() is not a protocol class, an ASGI 3 application "
                "(async def app(scope, receive, send)) or a WSGI application "
                "(def app(environ, start_response)); name one, or say which with --interface"
            )
        interface = found
    if interface == "protocol":
        if settings.factory:
            if not isinstance(obj, type):
                raise TargetError(f"--factory: {target.text}() did not return a class")
            return obj
        return protocol_class(module, target)
    if not callable(obj) or (isinstance(obj, type) and found == "protocol"):
        raise TargetError(f"{target.text} is not an {interface.upper()} application")
    if interface == "wsgi":
        obj = _asgi_from_wsgi(obj, settings.threads, multiprocess)
    cls = asgi_server(
        obj,
        lifespan=settings.lifespan if interface == "asgi" else "off",
        **dict(server_settings or {}),
    )
    lifespan = cls.lifespan
    assert lifespan is not None
    registry.on_worker_start(lifespan.startup)
    registry.on_worker_stop(lifespan.shutdown)
    return cls


def _asgi_from_wsgi(app: object, threads: int, multiprocess: bool) -> object:
    try:
        wsgi = importlib.import_module("manycore.wsgi")
    except ImportError:
        raise UsageError(
            "serving WSGI applications is not available in this version of manycore yet"
        ) from None
    return wsgi.asgi_from_wsgi(app, threads=threads, multiprocess=multiprocess)
