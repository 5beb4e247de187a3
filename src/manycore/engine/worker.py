"""One parallel context: an event loop serving the registered servers and clients.

The same :class:`Worker` runs in a forked process, in a thread, or inline in
the main thread; the engines differ only in how they start it, how they ask it
to stop, and how it reaches the main context.

Lifecycle: start hooks -> listen/connect -> serve until asked to stop (or, with
no servers, until the last client connection closes) -> stop accepting ->
close idle connections, let busy ones finish within the grace period, abort
the rest -> stop hooks.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import stats
from ..loop import new_event_loop
from ..protocol import GuardedProtocolAdapter, ProtocolAdapter
from ..registry import ClientSpec, Registration
from ..shared import GlobalsGuard
from ..work import shutdown_work_pools

__all__ = ["Plan", "Worker"]

log = logging.getLogger("manycore.engine")


@dataclass
class Plan:
    """Everything a worker needs, prepared in the main context before workers start."""

    engine: str
    workers: int
    registrations: list[Registration]
    listeners: dict[int, list[socket.socket]]  # id(registration) -> sockets (1 shared or N)
    start_hooks: list[Callable]
    stop_hooks: list[Callable]
    grace: float = 10.0
    guard_modules: list = field(default_factory=list)
    board: stats.StatsBoard | None = None

    def sockets_for(self, registration: Registration, index: int) -> list[socket.socket]:
        socks = self.listeners.get(id(registration), [])
        if len(socks) <= 1:
            return socks
        return [socks[index % len(socks)]]


class Worker:
    """A parallel context's event loop and the connections it owns."""

    def __init__(self, index: int, plan: Plan) -> None:
        self.index = index
        self.plan = plan
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.connections: set[ProtocolAdapter] = set()
        self.stopping = False
        self.guard = GlobalsGuard(plan.guard_modules) if plan.guard_modules else None
        self._stop_event: asyncio.Event | None = None
        self._clients_open = 0
        self._stats_timer: asyncio.TimerHandle | None = None
        self.counters = stats.WorkerCounters()

    # ------------------------------------------------------------ run / stop

    def run_with_signals(self) -> None:
        """Run in a main thread: SIGTERM and SIGINT ask for a graceful stop."""
        self.run(handle_signals=True)

    def run(self, *, handle_signals: bool = False) -> None:
        """Run this worker to completion in the calling thread."""
        loop = self.loop = new_event_loop()
        asyncio.set_event_loop(loop)
        stats._install(self.plan.board, self.counters)
        try:
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, self._set_stop)
            loop.run_until_complete(self._serve())
        finally:
            try:
                _cancel_all_tasks(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                if handle_signals:
                    for sig in (signal.SIGTERM, signal.SIGINT):
                        loop.remove_signal_handler(sig)
                asyncio.set_event_loop(None)
                loop.close()
                shutdown_work_pools()

    def request_stop(self) -> None:
        """Ask the worker to stop gracefully; safe from any thread or a signal handler."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._set_stop)
        except RuntimeError:  # loop already closed
            pass

    def _set_stop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()

    # ------------------------------------------------------------ internals

    async def _serve(self) -> None:
        loop = self.loop
        self._stop_event = asyncio.Event()
        for hook in self.plan.start_hooks:
            await _call_hook(hook)
        servers = []
        adapter = GuardedProtocolAdapter if self.guard is not None else ProtocolAdapter
        for registration in self.plan.registrations:
            spec = registration.spec
            if isinstance(registration.transport, ClientSpec):
                if self.index == 0:
                    await self._connect(registration)
                continue
            for sock in self.plan.sockets_for(registration, self.index):
                server = await loop.create_server(
                    lambda spec=spec: adapter(spec, self),
                    sock=sock.dup(),
                    backlog=registration.transport.backlog,
                )
                servers.append(server)
        self._publish_stats()
        try:
            if servers or self._clients_open:
                await self._stop_event.wait()
            await self._drain(servers)
        finally:
            if self._stats_timer is not None:
                self._stats_timer.cancel()
            for hook in self.plan.stop_hooks:
                try:
                    await _call_hook(hook)
                except Exception:
                    log.exception("on_worker_stop hook %r raised", hook)
            if self.plan.board is not None:
                self.plan.board.publish(self.index, self.counters)

    async def _connect(self, registration: Registration) -> None:
        target = registration.transport
        self._clients_open += 1
        try:
            await self.loop.create_connection(
                lambda: ProtocolAdapter(registration.spec, self, on_lost=self._client_lost),
                target.host,
                target.port,
            )
        except OSError as exc:
            self._clients_open -= 1
            log.error(
                "%s could not connect to %s:%s: %s",
                registration.spec.name,
                target.host,
                target.port,
                exc,
            )

    def _client_lost(self, _adapter: ProtocolAdapter) -> None:
        self._clients_open -= 1
        has_servers = any(not isinstance(r.transport, ClientSpec) for r in self.plan.registrations)
        if self._clients_open == 0 and not has_servers:
            self._set_stop()

    async def _drain(self, servers: list) -> None:
        self.stopping = True
        for server in servers:
            server.close()
        for conn in list(self.connections):
            conn.shutdown()
        deadline = time.monotonic() + self.plan.grace
        while self.connections and time.monotonic() < deadline:
            for conn in list(self.connections):
                if not conn.busy():
                    conn.shutdown()
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        for server in servers:
            await server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost callbacks run

    def _publish_stats(self) -> None:
        """Publish this worker's counters now and then once a second until it stops."""
        board = self.plan.board
        if board is not None:
            board.publish(self.index, self.counters)
            self._stats_timer = self.loop.call_later(1.0, self._publish_stats)


async def _call_hook(hook: Callable) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
