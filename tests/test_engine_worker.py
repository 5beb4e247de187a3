"""A worker's own life: a stop asked for at any moment of its start is kept."""

from __future__ import annotations

import threading
import time

import pytest

from manycore.engine.listeners import close_listeners, open_listeners
from manycore.engine.plan import Plan
from manycore.engine.worker import Worker, WorkerState
from manycore.protocol import ProtocolSpec
from manycore.registry import Registration, server


class Echo:
    def data_received(self, transport, data):
        return data


@pytest.fixture
def plan():
    registration = Registration(server(), ProtocolSpec(Echo))
    listeners = open_listeners([registration])
    yield Plan("threads", 1, [registration], listeners, [], [], grace=1.0)
    close_listeners(listeners)


def test_a_stop_asked_for_before_the_worker_runs_stops_it(plan):
    """The threads engine asks every worker to stop, including one whose thread has not
    made its loop yet."""
    worker = Worker(0, plan)
    worker.request_stop()
    rescue = threading.Timer(10.0, worker.request_stop)  # were the request lost
    rescue.start()
    started = time.monotonic()
    try:
        worker.run()
    finally:
        rescue.cancel()
    assert time.monotonic() - started < 5.0
    assert worker.state is WorkerState.STOPPED
