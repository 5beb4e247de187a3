"""The ``processes`` engine: one forked worker process per core.

The main context has loaded the application and its state and opened the
listening sockets; ``gc.freeze()`` has moved every object into the permanent
generation, so the collector in a worker never writes to (and so never
copies) the pages holding the shared state.  Each worker is forked from this
pristine main context, which stays single-threaded and never serves a
connection, so a worker that dies is replaced by forking again from the very
same state.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import traceback

from ..channel import PipeLink, install_link
from ..context import enter_parallel_process
from .plan import Plan
from .stopsignals import STOP_SIGNALS
from .supervisor import Supervisor
from .worker import StartHookFailed, Worker

__all__ = ["ProcessSupervisor"]

log = logging.getLogger("manycore.engine")


class ProcessSupervisor(Supervisor):
    def __init__(self, plan: Plan) -> None:
        super().__init__(plan)
        self._pids: dict[int, int] = {}  # pid -> worker index

    def start_worker(self, index: int) -> None:
        worker_end = self.new_link(index)
        main_ends = self.other_links()
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        # A stop signal sent to the child before it has its own handlers would reach
        # the main context's (copied) handler and be lost: the child keeps stop signals
        # blocked, and so pending, until its loop handles them (Worker.run).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        pid = -1
        try:
            pid = os.fork()
        except OSError:
            worker_end.close()
            raise
        finally:
            if pid != 0:  # the parent, or no child
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if pid == 0:  # child: never returns
            status = 1
            try:
                _die_with_parent(parent)
                for sock in main_ends:
                    sock.close()
                _become_worker(index, worker_end, self.plan)
                status = 0
            except StartHookFailed:
                pass  # the worker logged it and told the main context
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        worker_end.close()
        self._pids[pid] = index

    def stop_workers(self) -> None:
        for pid in list(self._pids):
            _kill(pid, signal.SIGTERM)

    def force_stop_workers(self) -> None:
        for pid in list(self._pids):
            _kill(pid, signal.SIGKILL)

    def alive(self) -> int:
        return len(self._pids)

    def reap(self) -> list[tuple[int, str | None]]:
        ended: list[tuple[int, str | None]] = []
        while self._pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            index = self._pids.pop(pid, None)
            if index is None:
                continue  # e.g. a submit_work pool process
            ended.append((index, _describe(pid, status)))
        return ended


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Have the kernel send SIGTERM to this worker when the main process dies.

    Otherwise a main process killed with SIGKILL leaves its workers serving and
    holding the port.  If the main process died before this took effect, the
    worker has been adopted already: leave at once.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def _become_worker(index: int, link_sock: socket.socket, plan: Plan) -> None:
    signal.set_wakeup_fd(-1)
    for sig in (*STOP_SIGNALS, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    enter_parallel_process(index)
    worker = Worker(index, plan)
    # The link ending means the main process died: that stops the worker.
    install_link(PipeLink(link_sock, on_closed=worker.request_stop), process_wide=True)
    worker.run_with_signals()


def _describe(pid: int, status: int) -> str | None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"(pid {pid}) was killed by {name}"
    code = os.WEXITSTATUS(status)
    return None if code == 0 else f"(pid {pid}) exited with status {code}"


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
