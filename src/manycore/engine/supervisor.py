"""The main context while workers run: signals, calls from workers, timers, restarts.

Deliberately not an asyncio loop: the ``processes`` engine forks replacement
workers from here, and forking from inside a running event loop would hand
the child a loop it must never touch.  A ``selectors`` loop over the workers'
pipes and a signal wake-up pipe is all the main context needs.

Signal handlers only record the signal (and the wake-up fd makes the select
return); everything else happens in the loop.  Engines subclass
:class:`Supervisor` and fill in how a worker is started, stopped and reaped.
"""

from __future__ import annotations

import enum
import functools
import heapq
import itertools
import logging
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType
from typing import cast

from ..channel import FRAME, recv_exactly, serve_main_call
from ..context import ManycoreError, set_thread_context
from ..work import install_main_scheduler
from .listeners import close_listeners
from .plan import Plan
from .stopsignals import STOP_SIGNALS, holding_handler, release_stop_signals

__all__ = ["Supervisor", "SupervisorState", "worker_event"]

log = logging.getLogger("manycore.engine")


class _Handle:
    __slots__ = ("cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[[], object]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


_active: Supervisor | None = None


def worker_event(event: str, index: int, detail: str = "", trace: str = "") -> None:
    """Runs in the main context: worker ``index`` serves, or could not start and why."""
    if _active is not None:
        _active.on_worker_event(event, index, detail, trace)


class SupervisorState(enum.Enum):
    """Whether the main context keeps its workers running or is stopping them."""

    RUNNING = "starting and restarting workers"
    STOPPING = "stopping the workers; none is restarted"

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Supervisor:
    """Runs in the main thread of the main context until every worker has stopped."""

    restart_backoff_max = 5.0
    max_start_failures = 5  # in a row, before ever serving: then the server ends

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.state = SupervisorState.RUNNING
        self.selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, _Handle]] = []
        self._counter = itertools.count()
        self._signals: list[int] = []
        self._links: dict[int, socket.socket] = {}  # worker index -> main end of its pipe
        self._started_at: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._serving: set[int] = set()  # workers that reached serving since their start
        self._start_failures: dict[int, int] = {}
        self._start_errors: dict[int, tuple[str, str]] = {}  # index -> (why, traceback)
        self._spawn_failures: dict[int, int] = {}  # the main context could not even start it
        self._fatal: set[int] = set()  # workers that found the server cannot run at all
        self._stop_deadline: float | None = None
        self.failure: str | None = None  # why the server gave up, if it did

    # ------------------------------------------------------ for subclasses

    def start_worker(self, index: int) -> None:
        raise NotImplementedError

    def stop_workers(self) -> None:
        raise NotImplementedError

    def force_stop_workers(self) -> None:
        raise NotImplementedError

    def reap(self) -> list[tuple[int, str | None]]:
        """Workers that ended since the last call: ``(index, why or None if clean)``."""
        raise NotImplementedError

    def alive(self) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------- helpers

    def call_later(self, delay: float, fn: Callable[[], object], /) -> _Handle:
        handle = _Handle(time.monotonic() + delay, fn)
        heapq.heappush(self._timers, (handle.when, next(self._counter), handle))
        return handle

    def new_link(self, index: int) -> socket.socket:
        """A socket pair for worker ``index``; returns the worker's end."""
        old = self._links.pop(index, None)
        if old is not None:
            self._close_link(old)
        main_end, worker_end = socket.socketpair()
        main_end.setblocking(True)
        self._links[index] = main_end
        self.selector.register(main_end, selectors.EVENT_READ, ("link", index))
        return worker_end

    def on_worker_event(self, event: str, index: int, detail: str, trace: str = "") -> None:
        if event == "serving":
            self._serving.add(index)
            self._start_failures.pop(index, None)
        elif event == "start-failed":
            self._start_errors[index] = (detail, trace)
        elif event == "start-fatal":  # a retry would fail the same way: stop, say why once
            self._fatal.add(index)
            if self.failure is None:
                self.failure = detail
            self.request_stop()

    def other_links(self) -> list[socket.socket]:
        return list(self._links.values())

    def _close_link(self, sock: socket.socket) -> None:
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()

    # ---------------------------------------------------------------- loop

    def run(self) -> None:
        """Supervise until every worker has stopped; raises ManycoreError if one never starts."""
        global _active
        _active = self
        try:
            self._run()
        finally:
            _active = None
        if self.failure is not None:
            raise ManycoreError(self.failure)

    def _run(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self.selector.register(wake_r, selectors.EVENT_READ, ("wake", None))
        previous_wakeup = signal.set_wakeup_fd(wake_w)
        previous_handlers = {
            sig: signal.signal(sig, self._on_signal) for sig in (*STOP_SIGNALS, signal.SIGCHLD)
        }
        for signum in release_stop_signals():  # sent since the listening line
            self._on_signal(signum, None)
        set_thread_context(False, None)
        install_main_scheduler(self)
        try:
            for index in range(self.plan.workers):
                self._start(index)
            while self.alive() or not self.stopping:
                self._loop_once(wake_r)
                if not self.stopping and self.alive() == 0 and self._pending_restarts() == 0:
                    break  # every worker finished on its own (client-only programs)
        finally:
            install_main_scheduler(None)
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous_handlers.items():
                if (
                    sig in STOP_SIGNALS
                    and self.stopping
                    and (
                        handler in (signal.SIG_DFL, signal.default_int_handler)
                        or holding_handler(handler)
                    )
                ):
                    # Stopping, and the process is about to end: a repeated SIGTERM or
                    # Ctrl-C must not turn the clean exit into death by signal.
                    handler = signal.SIG_IGN
                signal.signal(sig, handler)
            for sock in list(self._links.values()):
                self._close_link(sock)
            self.selector.close()
            os.close(wake_r)
            os.close(wake_w)

    def _pending_restarts(self) -> int:
        return sum(1 for _, _, h in self._timers if not h.cancelled and h.fn is not None)

    def _loop_once(self, wake_r: int) -> None:
        timeout = 0.5
        if self._timers:
            timeout = max(0.0, min(timeout, self._timers[0][0] - time.monotonic()))
        for key, _ in self.selector.select(timeout):
            kind, index = key.data
            if kind == "wake":
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            else:  # a link is registered with its socket (see new_link)
                self._serve_link(index, cast(socket.socket, key.fileobj))
        self._handle_signals()
        self._reap()
        self._run_timers()
        if self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
            log.warning("workers did not stop within the grace period; killing them")
            self.force_stop_workers()
            self._stop_deadline = time.monotonic() + 5.0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum in STOP_SIGNALS and not self.stopping:
                log.info("%s received: stopping workers", signal.Signals(signum).name)
                self.request_stop()

    @property
    def stopping(self) -> bool:
        return self.state is SupervisorState.STOPPING

    def request_stop(self) -> None:
        if self.stopping:
            return
        self.state = SupervisorState.STOPPING  # pending restarts find it and do nothing
        self._stop_deadline = time.monotonic() + self.plan.grace + 2.0
        # The main context's copies of the listening sockets: once the workers close
        # theirs too, new clients are refused at once instead of queueing for nobody.
        close_listeners(self.plan.listeners)
        self.stop_workers()

    def _reap(self) -> None:
        for index, why in self.reap():
            if self.stopping:
                if why and not self._fatal:  # after a fatal start, the one line says it all
                    log.warning("worker %d ended while stopping: %s", index, why)
                continue
            if why is None:
                continue  # finished on its own (no servers, clients done)
            if index not in self._serving:
                self._start_failed(index, why)
                continue
            self._start_failures.pop(index, None)
            lived = time.monotonic() - self._started_at.get(index, 0.0)
            failures = self._failures.get(index, 0) + 1 if lived < 1.0 else 0
            self._failures[index] = failures
            delay = min(self.restart_backoff_max, 0.1 * (2**failures)) if failures else 0.0
            log.error("worker %d %s; restarting it in %.1f s", index, why, delay)
            self.call_later(delay, functools.partial(self._restart, index))

    def _start_failed(self, index: int, why: str) -> None:
        """A worker ended before it served: retry with back-off, a few times in a row."""
        reason, trace = self._start_errors.pop(index, (why, ""))
        failures = self._start_failures.get(index, 0) + 1
        self._start_failures[index] = failures
        if failures == 1 and trace:  # the traceback once; the retries just say it again
            log.error("worker %d failed in on_worker_start:\n%s", index, trace.rstrip())
        if failures >= self.max_start_failures:
            self.failure = (
                f"worker {index} could not start {failures} times in a row ({reason}); "
                "stopping the server"
            )
            self.request_stop()
            return
        delay = min(self.restart_backoff_max, 0.1 * (2**failures))
        log.error(
            "worker %d failed to start (%s); attempt %d of %d in %.1f s",
            index,
            reason,
            failures + 1,
            self.max_start_failures,
            delay,
        )
        self.call_later(delay, functools.partial(self._restart, index))

    def _restart(self, index: int) -> None:
        if not self.stopping:
            self._start(index)

    def _start(self, index: int) -> None:
        self._started_at[index] = time.monotonic()
        self._serving.discard(index)
        self._start_errors.pop(index, None)
        try:
            self.start_worker(index)
        except (OSError, RuntimeError) as exc:  # out of descriptors, processes or threads
            attempts = self._spawn_failures.get(index, 0) + 1
            self._spawn_failures[index] = attempts
            delay = min(self.restart_backoff_max, 0.1 * (2**attempts))
            log.error("could not start worker %d (%s); trying again in %.1f s", index, exc, delay)
            self.call_later(delay, functools.partial(self._restart, index))
            return
        self._spawn_failures.pop(index, None)

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, handle = heapq.heappop(self._timers)
            if not handle.cancelled:
                try:
                    handle.fn()
                except Exception:
                    log.exception("main-context timer %r raised", handle.fn)

    def _serve_link(self, index: int, sock: socket.socket) -> None:
        try:
            header = recv_exactly(sock, FRAME.size)
            message = header and recv_exactly(sock, FRAME.unpack(header)[0])
        except OSError:
            message = None
        if not message:
            if self._links.get(index) is sock:
                del self._links[index]
            self._close_link(sock)
            return
        try:
            sock.sendall(serve_main_call(message))
        except OSError:
            pass
