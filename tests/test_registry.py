"""manycore.registry: what the main context declares before run(), and the errors it gives."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import manycore
from manycore import registry
from manycore.registry import ClientSpec, RunWhileImportingError, ServerSpec


class Echo:
    def data_received(self, transport, data):
        return data


class Lines:
    lines_mode = True

    def line_received(self, transport, line):
        return line


@pytest.fixture(autouse=True)
def empty_registry() -> Iterator[None]:
    registry.clear()
    yield
    registry.clear()


def register_in_a_worker() -> None:
    manycore.register(transport=manycore.server(), protocol=Echo)


# ------------------------------------------------------------------ addresses
def test_server_defaults_to_a_free_port_on_the_loopback_interface():
    spec = manycore.server()
    assert spec == ServerSpec("127.0.0.1", 0, 1024)
    assert spec.family == socket.AF_UNSPEC


def test_server_takes_host_port_and_backlog():
    assert manycore.server("::1", 8080, backlog=16) == ServerSpec("::1", 8080, 16)


@pytest.mark.parametrize("port", [-1, 65536, "80", 1.5])
def test_a_port_outside_0_to_65535_is_refused(port):
    with pytest.raises(ValueError, match=r"port must be an integer 0\.\.65535, got"):
        manycore.server("127.0.0.1", port)


def test_client_is_an_address_to_connect_to():
    assert manycore.client("example.org", 443) == ClientSpec("example.org", 443)


# ------------------------------------------------------------------ register
def test_register_records_servers_and_clients_in_order():
    first = manycore.register(transport=manycore.server(port=8000), protocol=Echo)
    second = manycore.register(transport=manycore.client("127.0.0.1", 9), protocol=Lines)
    assert registry.registrations() == [first, second]
    assert registry.registered_servers() == [first]
    assert first.protocol is Echo and second.protocol is Lines
    assert second.spec.lines_mode


def test_registrations_is_a_copy():
    manycore.register(transport=manycore.server(), protocol=Echo)
    registry.registrations().clear()
    assert len(registry.registrations()) == 1


def test_register_needs_a_server_or_client_address():
    with pytest.raises(TypeError, match=r"register\(transport=\.\.\.\) takes manycore\.server"):
        manycore.register(transport=("127.0.0.1", 8000), protocol=Echo)  # type: ignore[arg-type]
    assert registry.registrations() == []


def test_register_needs_a_class_not_an_instance():
    with pytest.raises(TypeError, match="protocol must be a class, got <"):
        manycore.register(transport=manycore.server(), protocol=Echo())  # type: ignore[arg-type]


def test_register_needs_a_class_that_implements_a_callback():
    class Nothing:
        pass

    with pytest.raises(TypeError, match="Nothing implements none of the protocol callbacks"):
        manycore.register(transport=manycore.server(), protocol=Nothing)


def test_lines_mode_needs_line_received():
    class HalfLines:
        lines_mode = True

        def data_received(self, transport, data):
            return data

    with pytest.raises(TypeError, match="sets lines_mode = True but defines no line_received"):
        manycore.register(transport=manycore.server(), protocol=HalfLines)


def test_register_only_runs_in_the_main_context():
    future = manycore.submit_work(register_in_a_worker)
    with pytest.raises(manycore.ParallelContextError, match="register"):
        future.result(timeout=60)


def test_clear_forgets_registrations_and_hooks():
    manycore.register(transport=manycore.server(), protocol=Echo)
    manycore.on_worker_start(print)
    manycore.on_worker_stop(print)
    registry.clear()
    assert registry.registrations() == []
    assert registry.start_hooks() == [] and registry.stop_hooks() == []


# ------------------------------------------------------------------ hooks
def test_worker_hooks_are_kept_in_order_and_the_function_is_returned():
    def open_pool() -> None: ...

    async def warm_cache() -> None: ...

    def close_pool() -> None: ...

    assert manycore.on_worker_start(open_pool) is open_pool
    assert manycore.on_worker_start(warm_cache) is warm_cache
    assert manycore.on_worker_stop(close_pool) is close_pool
    assert registry.start_hooks() == [open_pool, warm_cache]
    assert registry.stop_hooks() == [close_pool]


# ------------------------------------------------------------------ importing a target
def test_run_while_the_target_module_imports_is_refused_with_the_fix():
    manycore.register(transport=manycore.server(), protocol=Echo)
    with (
        registry.importing_target("shop.app"),
        pytest.raises(
            RunWhileImportingError,
            match=r"shop\.app calls manycore\.run\(\) when imported.*__main__",
        ),
    ):
        registry.registrations()
    assert len(registry.registrations()) == 1  # refused only while importing
