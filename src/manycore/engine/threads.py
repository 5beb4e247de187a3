"""The ``threads`` engine: one event loop per thread in one process.

On free-threaded CPython (3.13t, 3.14t) the threads run Python truly in
parallel over one heap, so the shared state exists once.  On a GIL build the
engine still works (identically), it just does not run callbacks in parallel;
``auto`` picks ``processes`` there.  Talking to the main context uses the
same pickled pipe as the process engine, so both engines mean the same.
"""

from __future__ import annotations

import logging
import signal
import socket
import sysconfig
import threading

from ..channel import PipeLink, install_link
from ..context import set_thread_context
from ..work import gil_enabled
from .plan import Plan
from .supervisor import Supervisor
from .worker import StartHookFailed, Worker

__all__ = ["ThreadSupervisor", "warn_if_gil_reenabled"]

log = logging.getLogger("manycore.engine")


def warn_if_gil_reenabled() -> bool:
    """On a free-threaded build, warn when an imported extension turned the GIL back on."""
    if not sysconfig.get_config_var("Py_GIL_DISABLED") or not gil_enabled():
        return False
    log.warning(
        "this is a free-threaded Python, but the GIL is enabled: an imported extension "
        "module does not declare free-threading support (or PYTHON_GIL=1 is set). Worker "
        "threads will take turns instead of running in parallel; run with PYTHON_GIL=0 "
        "or use --engine processes."
    )
    return True


class ThreadSupervisor(Supervisor):
    def __init__(self, plan: Plan) -> None:
        super().__init__(plan)
        self._threads: dict[int, tuple[threading.Thread, Worker]] = {}
        self._ended: list[tuple[int, str | None]] = []

    def start_worker(self, index: int) -> None:
        worker_end = self.new_link(index)
        worker = Worker(index, self.plan)
        thread = threading.Thread(
            target=self._thread_main,
            args=(index, worker, worker_end),
            name=f"manycore-worker-{index}",
            daemon=True,
        )
        try:
            thread.start()
        except RuntimeError:
            worker_end.close()
            raise
        self._threads[index] = (thread, worker)

    def _thread_main(self, index: int, worker: Worker, link_sock: socket.socket) -> None:
        why: str | None = None
        set_thread_context(True, index)
        link = PipeLink(link_sock)
        install_link(link, process_wide=False)
        try:
            worker.run()
        except StartHookFailed as exc:  # the worker logged it and told the main context
            why = str(exc)
        except OSError as exc:  # out of descriptors for its event loop, say
            log.error("worker %d could not run: %s", index, exc)
            why = f"could not run: {exc}"
        except BaseException as exc:
            log.exception("worker %d crashed", index)
            why = f"crashed: {exc!r}"
        finally:
            link_sock.close()
            self._ended.append((index, why))
            _kick_main_thread()

    def stop_workers(self) -> None:
        for _, worker in self._threads.values():
            worker.request_stop()

    def force_stop_workers(self) -> None:
        for _, worker in self._threads.values():
            loop = worker.loop
            if loop is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(_abort_all, worker)
                except RuntimeError:
                    pass

    def alive(self) -> int:
        return len(self._threads)

    def reap(self) -> list[tuple[int, str | None]]:
        ended, self._ended = self._ended, []
        for index, _ in ended:
            thread, _ = self._threads.pop(index, (None, None))
            if thread is not None:
                thread.join(timeout=1.0)
        return ended


def _abort_all(worker: Worker) -> None:
    for conn in list(worker.connections):
        conn.transport.abort()
    worker._set_stop()


def _kick_main_thread() -> None:
    """Wake the supervisor's select() promptly when a worker thread ends."""
    main = threading.main_thread().ident
    if main is None:  # the main thread has not started: nothing is waiting in select()
        return
    try:
        signal.pthread_kill(main, signal.SIGCHLD)
    except (AttributeError, ProcessLookupError, OSError, ValueError):
        pass
