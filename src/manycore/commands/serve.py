"""``manycore serve MODULE:ATTR``: import the user's module in the main context, serve ATTR.

ATTR is a protocol class, an ASGI 3 or a WSGI application (:mod:`.interface`).
"""

from __future__ import annotations

import argparse

from .. import registry
from ..asgi import AsgiServer
from .interface import AppSettings, add_app_options, serving_class
from .listening import server_spec
from .reloading import run_reloading
from .running import configure_logging, run_until_stopped
from .settings import RunSettings, add_run_options
from .target import Target, import_target, parse_target, target_attribute
from .usage import UsageError

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "serve"]

HELP = "serve a protocol class or an ASGI/WSGI application (MODULE:ATTR or path/file.py:ATTR)"
DESCRIPTION = (
    "Import MODULE once in the main context, then serve ATTR (a protocol class, an ASGI 3 "
    "or a WSGI application) on every core."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="MODULE:ATTR")
    add_run_options(parser, server_flags=True)
    add_app_options(parser)


def serve(args: argparse.Namespace) -> int:
    settings = RunSettings.from_args(args)
    app_settings = AppSettings.from_args(args)
    configure_logging(settings.log_level)
    if settings.reload:
        return run_reloading(args.target, settings, app_settings.to_argv())
    target = parse_target(args.target)
    if not target.attr and (flags := settings.server_flags_given()):
        raise UsageError(
            f"{' '.join(flags)}: {args.target} serves what it registers itself, which these "
            f"do not reach; name the class to serve: {args.target}:CLASS"
        )
    module = import_target(target)
    if target.attr:
        cls = serving_class(
            target_attribute(module, target),
            target,
            module,
            app_settings,
            multiprocess=settings.multiprocess,
        )
        if not issubclass(cls, AsgiServer) and (ws_flags := settings.websocket_flags_given()):
            raise UsageError(
                f"{' '.join(ws_flags)}: {args.target} is not an ASGI application, and only "
                "an ASGI application serves WebSocket; leave the flag out"
            )
        _refuse_servers_registered_at_import(target)
        registry.register(transport=server_spec(settings), protocol=settings.served_class(cls))
    elif not registry.registrations():
        raise UsageError(f"{args.target} registered nothing; name the class: MODULE:CLASS")
    run_until_stopped(settings)
    return 0


def _refuse_servers_registered_at_import(target: Target) -> None:
    """A module that registers its own server at import would be served twice."""
    servers = registry.registered_servers()
    if servers:
        where = ", ".join(
            f"{r.protocol.__qualname__} on {r.transport.host}:{r.transport.port}" for r in servers
        )
        raise UsageError(
            f"{target.module} registers {where} when imported, and {target.text} would be "
            'a second server; put its register() calls under if __name__ == "__main__":, '
            f"or serve what it registers with: manycore serve {target.module}"
        )
