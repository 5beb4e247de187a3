"""One parallel context: an event loop serving the registered servers and clients.

The same :class:`Worker` runs in a forked process, in a thread, or inline in
the main thread; the engines differ only in how they start it, how they ask it
to stop, and how it reaches the main context.

Lifecycle: start hooks (abandoned if asked to stop first) -> listen/connect ->
tell the main context it serves -> serve until asked to stop (or, with no
servers, until the last client connection closes) -> stop accepting and close
this process's listening sockets -> close idle connections, let busy ones
finish within the grace period, abort the rest -> stop hooks.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import signal
import time
import traceback

from .. import stats
from ..context import ManycoreError
from ..loop import new_event_loop
from ..protocol import GuardedProtocolAdapter, ProtocolAdapter
from ..registry import ClientSpec, Hook, Registration, WorkerStartAborted
from ..shared import GlobalsGuard
from ..work import call_from_main_thread, shutdown_work_pools
from .acceptor import Acceptor
from .listeners import close_listeners
from .plan import Plan
from .stopsignals import release_stop_signals
from .supervisor import worker_event

__all__ = ["Plan", "StartHookFailed", "Worker", "WorkerState", "hook_traceback"]

log = logging.getLogger("manycore.engine")


class StartHookFailed(ManycoreError):
    """An ``on_worker_start`` hook raised, so this worker cannot serve."""


class WorkerState(enum.Enum):
    """Where a worker is in its lifecycle (see the module docstring)."""

    STARTING = "running its start hooks"
    SERVING = "serving"
    DRAINING = "closing its connections"
    STOPPED = "stopped"

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Worker:
    """A parallel context's event loop and the connections it owns.

    It is the :class:`~manycore.protocol.ConnectionOwner` of every connection it serves.
    """

    def __init__(self, index: int, plan: Plan) -> None:
        self.index = index
        self.plan = plan
        # Only request_stop() can come before run() makes the loop, and it checks for None.
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # until run()
        self.connections: set[ProtocolAdapter] = set()
        self.state = WorkerState.STARTING
        self.guard = GlobalsGuard(plan.guard_modules) if plan.guard_modules else None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = False  # kept for a request made before the loop exists
        self._clients_open = 0
        self._stats_timer: asyncio.TimerHandle | None = None
        self._stats_failed = False
        self.counters = stats.WorkerCounters()

    @property
    def stopping(self) -> bool:
        """True once the worker has begun to close its connections."""
        return self.state is WorkerState.DRAINING or self.state is WorkerState.STOPPED

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
                # They start held (in the inline engine since the listening line, in a
                # forked worker since the fork): one sent meanwhile is acted on once the
                # loop runs (a loop that is not running may drop it).
                loop.call_soon(self._release_stop_signals)
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
        self._stop_requested = True  # set before the loop is read: _serve reads it after
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._set_stop)
        except RuntimeError:  # loop already closed
            pass

    def _release_stop_signals(self) -> None:
        if release_stop_signals():
            self._set_stop()

    def _set_stop(self) -> None:
        self._stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()

    # ------------------------------------------------------------ internals

    async def _serve(self) -> None:
        stop = self._stop_event = asyncio.Event()
        if self._stop_requested:
            stop.set()
        if not await self._start_hooks_or_stop(stop):
            self.state = WorkerState.STOPPED
            return
        # Asked to stop while starting, and the start hooks finished: no serving, but the
        # stop hooks below still close what the start hooks opened.
        servers = [] if stop.is_set() else await self._listen()
        self.state = WorkerState.SERVING
        _tell_main("serving", self.index)
        self._publish_stats()
        try:
            if servers or self._clients_open:
                await stop.wait()
            await self._drain(servers)
        finally:
            if self._stats_timer is not None:
                self._stats_timer.cancel()
            for hook in self.plan.stop_hooks:
                try:
                    await _call_hook(hook)
                except Exception:
                    log.exception("on_worker_stop hook %r raised", hook)
            self._publish_stats_once()
            self.state = WorkerState.STOPPED

    async def _start_hooks_or_stop(self, stop_event: asyncio.Event) -> bool:
        """Run the start hooks; False if they did not finish (a hook may never return).

        A stop asked for meanwhile gives them the grace period to finish, since what a
        start hook opened (a lifespan's resources) is closed only by the stop hooks,
        which run only after a finished start.
        """
        if not self.plan.start_hooks:
            return True
        hooks = self.loop.create_task(self._run_start_hooks())
        stop = self.loop.create_task(stop_event.wait())
        await asyncio.wait({hooks, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not hooks.done():
            await asyncio.wait({hooks}, timeout=self.plan.grace)
        if not hooks.done():
            hooks.cancel()
            await asyncio.gather(hooks, return_exceptions=True)
            return False
        hooks.result()
        return True

    async def _run_start_hooks(self) -> None:
        for hook in self.plan.start_hooks:
            try:
                await _call_hook(hook)
            except WorkerStartAborted as exc:
                _tell_main("start-fatal", self.index, str(exc))
                raise StartHookFailed(str(exc)) from exc
            except Exception as exc:
                name = f"{getattr(hook, '__module__', '?')}.{getattr(hook, '__qualname__', hook)}"
                message = f"on_worker_start hook {name} raised {type(exc).__name__}: {exc}"
                _tell_main("start-failed", self.index, message, hook_traceback(exc))
                raise StartHookFailed(message) from exc

    async def _listen(self) -> list[Acceptor | asyncio.Server]:
        """Serve every server registration on its listening socket (shared by all workers)."""
        servers: list[Acceptor | asyncio.Server] = []
        adapter = GuardedProtocolAdapter if self.guard is not None else ProtocolAdapter
        # asyncio's own loop mishandles running out of descriptors; uvloop does not.
        on_asyncio = isinstance(self.loop, asyncio.selector_events.BaseSelectorEventLoop)
        for registration in self.plan.registrations:
            spec = registration.spec
            if isinstance(registration.transport, ClientSpec):
                if self.index == 0:
                    await self._connect(registration)
                continue
            tls = registration.transport.ssl
            for sock in self.plan.sockets_for(registration):
                factory = lambda spec=spec: adapter(spec, self)  # noqa: E731
                if on_asyncio:
                    servers.append(Acceptor(self.loop, sock.dup(), factory, tls))
                    continue
                server = await self.loop.create_server(
                    factory, sock=sock.dup(), backlog=registration.transport.backlog, ssl=tls
                )
                servers.append(server)
        return servers

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

    async def _drain(self, servers: list[Acceptor | asyncio.Server]) -> None:
        self.state = WorkerState.DRAINING
        for server in servers:
            server.close()
        if self.plan.engine != "threads":
            # This process's own copies of the listening sockets: with every copy closed
            # (the main context closes its own), new clients are refused at once.
            close_listeners(self.plan.listeners)
        for conn in list(self.connections):
            conn.shutdown()
        deadline = time.monotonic() + self.plan.grace
        while self.connections and time.monotonic() < deadline:
            for conn in list(self.connections):
                if not conn.busy():
                    conn.shutdown()
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.transport.abort()
        for server in servers:
            await server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost callbacks run

    def _publish_stats(self) -> None:
        """Publish this worker's counters now and then once a second until it stops.

        The timer is re-armed first, so one failed publication cannot stop it.
        """
        if self.plan.board is not None:
            self._stats_timer = self.loop.call_later(1.0, self._publish_stats)
            self._publish_stats_once()

    def _publish_stats_once(self) -> None:
        board = self.plan.board
        if board is None:
            return
        try:
            board.publish(self.index, self.counters)
        except Exception:
            if not self._stats_failed:
                self._stats_failed = True
                log.exception("worker %d could not publish its statistics", self.index)


def hook_traceback(exc: BaseException) -> str:
    """The traceback of a hook's exception, from the hook's own frame on."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _tell_main(event: str, index: int, detail: str = "", trace: str = "") -> None:
    """Tell the supervisor how this worker's start went (it decides about restarts and logs)."""
    try:
        call_from_main_thread(worker_event, event, index, detail, trace)
    except Exception:  # the main context went away: nobody to tell
        log.debug("could not tell the main context that worker %d is %s", index, event)


async def _call_hook(hook: Hook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
