"""manycore.testing.feed runs a protocol the way a server does, through the real adapter."""

from __future__ import annotations

import pytest

from manycore.testing import MemoryTransport, connect, feed


class Greeter:
    initial_bytes_to_send = b"hello\n"

    def data_received(self, transport, data):
        return data


class Welcomer:
    def connection_made(self, transport):
        return b"welcome " + str(transport.peername[0]).encode() + b"\n"

    def data_received(self, transport, data):
        return data.upper()


class Ponger:
    next_bytes_to_send = b"pong\n"


class ShortLines:
    lines_mode = True
    max_line_length = 8

    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def line_received(self, transport, line):
        return line[::-1] + b"\n"

    def exception_handler(self, transport, exc):
        self.errors.append(exc)
        return b"line too long\n"


class Bye:
    def data_received(self, transport, data):
        transport.close()
        return b"bye\n"


class Counted:
    def __init__(self) -> None:
        self.completed: list[int] = []

    def data_received(self, transport, data):
        return data

    def send_complete(self, transport, send_id):
        self.completed.append(send_id)


class Lost:
    def __init__(self) -> None:
        self.lost = 0

    def data_received(self, transport, data):
        transport.close()

    def connection_lost(self, transport, exc):
        self.lost += 1


class Sleepy:
    async def data_received(self, transport, data):
        return data


def test_what_a_protocol_sends_first_comes_before_its_answers():
    assert feed(Greeter(), b"x").take() == b"hello\nx"


def test_connection_made_runs_once_before_the_first_read():
    protocol = Welcomer()
    transport = feed(protocol, b"a")
    feed(protocol, b"b", transport)
    assert transport.take() == b"welcome 127.0.0.1\nAB"


def test_connect_sends_what_comes_first_without_a_read():
    transport = connect(Greeter())
    assert transport.take() == b"hello\n"


def test_a_class_with_only_next_bytes_to_send_answers_every_read():
    protocol = Ponger()
    transport = feed(protocol, b"ping\n")
    feed(protocol, b"ping\n", transport)
    assert transport.take() == b"pong\npong\n"


def test_lines_mode_enforces_max_line_length():
    protocol = ShortLines()
    transport = feed(protocol, b"abc\n" + b"x" * 20)
    assert transport.take() == b"cba\nline too long\n"
    assert type(protocol.errors[0]).__name__ == "LineTooLongError"
    assert transport.closed


def test_lines_mode_leaves_the_protocol_object_alone():
    protocol = ShortLines()
    before = dict(vars(protocol))
    feed(protocol, b"ab\r\ncd")
    assert vars(protocol) == before


@pytest.mark.parametrize("cut", range(len(b"one\r\ntwo\nsix\r\n") + 1))
def test_lines_split_at_every_boundary_give_the_same_answers(cut):
    wire = b"one\r\ntwo\nsix\r\n"
    protocol = ShortLines()
    transport = feed(protocol, wire[:cut])
    feed(protocol, wire[cut:], transport)
    assert transport.take() == b"eno\nowt\nxis\n"


def test_lines_fed_byte_by_byte_give_the_same_answers():
    protocol = ShortLines()
    transport = MemoryTransport()
    for byte in b"one\r\ntwo\n":
        feed(protocol, bytes([byte]), transport)
    assert transport.take() == b"eno\nowt\n"


def test_close_then_return_sends_the_answer_first():
    transport = feed(Bye(), b"x")
    assert transport.take() == b"bye\n"
    assert transport.closed and not transport.aborted


def test_bytes_after_close_are_dropped_and_connection_lost_runs_once():
    protocol = Lost()
    transport = feed(protocol, b"x")
    feed(protocol, b"y", transport)
    assert transport.closed
    assert protocol.lost == 1


def test_send_complete_fires_after_each_send():
    protocol = Counted()
    transport = feed(protocol, b"a")
    feed(protocol, b"b", transport)
    assert transport.take() == b"ab"
    assert protocol.completed == [1, 2]


def test_async_callbacks_are_refused_with_the_way_to_test_them():
    with pytest.raises(TypeError, match=r"synchronous callbacks only.*ServerProcess"):
        feed(Sleepy(), b"x")


def test_one_transport_carries_one_protocol_instance():
    transport = feed(Greeter(), b"x")
    with pytest.raises(ValueError, match="new MemoryTransport per connection"):
        feed(Greeter(), b"y", transport)
