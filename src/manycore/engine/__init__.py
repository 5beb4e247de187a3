"""Engines: how parallel contexts are started, supervised and stopped.

``run()`` prepares a :class:`~manycore.engine.worker.Plan` in the main
context (registrations, listening sockets, hooks, the stats board), then
hands it to one engine:

* ``processes`` -- forked worker processes (ordinary CPython);
* ``threads`` -- worker threads (truly parallel on free-threaded CPython);
* ``inline`` -- one loop in the main thread, for debugging;
* ``auto`` -- ``threads`` where the GIL is disabled, ``processes`` otherwise.
"""

from __future__ import annotations

import gc
import logging
import socket
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from .. import registry, stats
from ..context import ManycoreError, main_only
from ..loop import loop_name
from ..work import cpu_count, gil_enabled
from .listeners import close_listeners, open_listeners, remove_socket_files
from .plan import Plan
from .stopsignals import hold_stop_signals

if TYPE_CHECKING:
    from .supervisor import Supervisor

__all__ = ["ENGINES", "resolve_engine", "run"]

log = logging.getLogger("manycore.engine")

ENGINES = ("auto", "processes", "threads", "inline")


def resolve_engine(engine: str) -> str:
    """Map ``auto`` to a concrete engine; reject unknown names with the valid ones."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    if not gil_enabled():
        return "threads"
    return "processes" if sys.platform != "win32" else "threads"


@main_only
def run(
    workers: int | None = None,
    engine: str = "auto",
    *,
    guard: bool = False,
    grace: float = 10.0,
    reuse_port: bool | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Start the parallel contexts and serve until SIGTERM/SIGINT (or all clients finish).

    ``workers`` defaults to the number of usable cores (``inline`` always runs
    one).  ``guard=True`` checks after every callback that no parallel context
    rebound or mutated a global of the modules that define the registered
    protocols.  On a stop signal, workers stop accepting, finish in-flight
    callbacks within ``grace`` seconds, and ``run()`` returns.  Every worker
    accepts from one listening socket per server; ``reuse_port=True`` also sets
    ``SO_REUSEPORT`` on it, so that other processes may bind the same port.
    Raises :class:`ManycoreError` if a worker could not start five times in a row.
    """
    regs = registry.registrations()
    if not regs:
        raise ManycoreError(
            "nothing to run: register a protocol first, e.g. "
            "manycore.register(transport=manycore.server('127.0.0.1', 8080), protocol=MyProtocol)"
        )
    engine = resolve_engine(engine)
    if workers is None:
        workers = cpu_count()
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if engine == "inline":
        workers = 1
    if engine == "threads":
        from ..loop import new_event_loop
        from .threads import warn_if_gil_reenabled

        new_event_loop().close()  # import the loop implementation before checking the GIL
        warn_if_gil_reenabled()
    listeners = open_listeners(regs, reuse_port)
    try:
        # From the listening line on, a stop signal must stop the server cleanly, but the
        # handlers come later (the supervisor's, or the inline worker's loop).
        with hold_stop_signals():
            plan = Plan(
                engine=engine,
                workers=workers,
                registrations=regs,
                listeners=listeners,
                start_hooks=registry.start_hooks(),
                stop_hooks=registry.stop_hooks(),
                grace=grace,
                guard_modules=_guarded_modules(regs) if guard else [],
                board=stats.StatsBoard(workers, engine),
            )
            _announce(plan, announce)
            if engine == "inline":
                from .inline import run_inline

                run_inline(plan)
                return
            supervisor_cls: type[Supervisor]
            if engine == "processes":
                from .processes import ProcessSupervisor

                supervisor_cls = ProcessSupervisor

                if threading.active_count() > 1:
                    log.warning(
                        "forking workers while %d threads run in the main context; threads "
                        "do not survive a fork (start them in an on_worker_start hook instead)",
                        threading.active_count() - 1,
                    )
                gc.collect()
                gc.freeze()
            else:
                from .threads import ThreadSupervisor

                supervisor_cls = ThreadSupervisor
            try:
                supervisor_cls(plan).run()
            finally:
                if engine == "processes":
                    gc.unfreeze()
    finally:
        close_listeners(listeners)
        remove_socket_files()


def _guarded_modules(regs: list[registry.Registration]) -> list[ModuleType]:
    names = {r.protocol.__module__ for r in regs}
    return [sys.modules[name] for name in sorted(names) if name in sys.modules]


def _announce(plan: Plan, announce: Callable[[str], None] | None) -> None:
    for registration in plan.registrations:
        socks = plan.listeners.get(id(registration))
        if not socks:
            continue
        scheme = getattr(registration.protocol, "url_scheme", None)
        transport = registration.transport
        if isinstance(transport, registry.ServerSpec) and transport.ssl is not None:
            scheme = "https" if scheme in (None, "http") else scheme
        address = socks[0].getsockname()
        if socks[0].family == socket.AF_UNIX:
            where = f"unix:{address}"
        else:
            host, port = address[:2]
            if ":" in host:
                host = f"[{host}]"
            where = f"{scheme}://{host}:{port}" if scheme else f"{host}:{port}"
        message = (
            f"manycore: listening on {where} ({registration.spec.name}, engine={plan.engine}, "
            f"workers={plan.workers}, loop={loop_name()})"
        )
        (announce or _print_to_stderr)(message)


def _print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
