"""CPU time per echoed message through each sans-I/O WebSocket library.

The session (``manycore.asgi.websocket``) needs one library to turn bytes into
messages and messages into bytes.  This measures exactly that path for an echo
of small messages, on one connection already past its handshake: the bytes of
one masked client frame in, the text message out of the library's events, the
same text sent back, the frame bytes out.  No sockets and no event loop, so the
figure is the library's own cost per message, the part the choice changes.

    python bench/websocket/sansio_echo.py                 # 200,000 messages, median of 5
    python bench/websocket/sansio_echo.py --messages 50000 --rounds 3

Cases: one message per read (the usual case), 16 messages per read, and both
with permessage-deflate negotiated.  Figures are CPU microseconds per message
(``time.process_time``), median of the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Opcode
from websockets.headers import parse_extension
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.uri import parse_uri
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import TextMessage
from wsproto.extensions import PerMessageDeflate

MESSAGE = "Hello, World! " * 4  # 56 bytes, a typical chat/RPC message
OFFER = "permessage-deflate; client_max_window_bits"  # what the websockets client offers
OP_TEXT, OP_CONT = Opcode.TEXT, Opcode.CONT

Echo = Callable[[bytes], list[bytes]]


def open_client(deflate: bool) -> ClientProtocol:
    """A websockets client past its handshake, as a real client would be."""
    factories = [ClientPerMessageDeflateFactory()] if deflate else []
    client = ClientProtocol(parse_uri("ws://localhost/"), extensions=factories)
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()] if deflate else [])
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    server.send_response(server.accept(server.events_received()[0]))
    client.receive_data(b"".join(server.data_to_send()))
    assert client.events_received()[0].status_code == 101
    return client


def check(make: Callable[[bool], Echo], deflate: bool) -> None:
    """The library's answer is the message, as the client reads it: the echo is real."""
    client = open_client(deflate)
    client.send_text(MESSAGE.encode())
    client.receive_data(b"".join(make(deflate)(b"".join(client.data_to_send()))))
    [frame] = client.events_received()
    if frame.data.decode() != MESSAGE:
        raise AssertionError(f"{make.__name__} answered {frame.data!r}")


def client_frames(deflate: bool, count: int) -> list[bytes]:
    """``count`` masked client frames of MESSAGE."""
    client = open_client(deflate)
    frames = []
    for _ in range(count):
        client.send_text(MESSAGE.encode())
        frames.append(b"".join(client.data_to_send()))
    return frames


def websockets_echo(deflate: bool) -> Echo:
    """websockets' ServerProtocol, opened directly (the head was parsed by the server)."""
    protocol = ServerProtocol(state=OPEN, max_size=16 * 1024 * 1024)
    if deflate:
        [(_, params)] = parse_extension(OFFER)
        _, extension = ServerPerMessageDeflateFactory().process_request_params(params, [])
        protocol.extensions = [extension]
    receive, events, send_text, out = (
        protocol.receive_data,
        protocol.events_received,
        protocol.send_text,
        protocol.data_to_send,
    )
    parts: list[bytes] = []

    def echo(data: bytes) -> list[bytes]:
        receive(data)
        for frame in events():
            opcode = frame.opcode
            if opcode is OP_TEXT or opcode is OP_CONT:
                if frame.fin and not parts:
                    text = frame.data.decode()
                else:
                    parts.append(frame.data)
                    if not frame.fin:
                        continue
                    text = b"".join(parts).decode()
                    parts.clear()
                send_text(text.encode())
        return out()

    return echo


def wsproto_echo(deflate: bool) -> Echo:
    """wsproto's frame-level Connection (its handshake layer is h11, not used here)."""
    extensions = []
    if deflate:
        extension = PerMessageDeflate()
        extension.accept(OFFER)
        extensions.append(extension)
    connection = Connection(ConnectionType.SERVER, extensions=extensions)
    receive, events, send = connection.receive_data, connection.events, connection.send
    parts: list[str] = []

    def echo(data: bytes) -> list[bytes]:
        receive(data)
        output = []
        for event in events():
            if type(event) is TextMessage:
                if event.message_finished and not parts:
                    text = event.data
                else:
                    parts.append(event.data)
                    if not event.message_finished:
                        continue
                    text = "".join(parts)
                    parts.clear()
                output.append(send(TextMessage(data=text)))
        return output

    return echo


LIBRARIES: dict[str, Callable[[bool], Echo]] = {
    "websockets": websockets_echo,
    "wsproto": wsproto_echo,
}


def measure(
    make: Callable[[bool], Echo], deflate: bool, reads: list[bytes], per_read: int
) -> float:
    echo = make(deflate)
    replies = 0
    start = time.process_time()
    for data in reads:
        replies += len(echo(data))
    elapsed = time.process_time() - start
    messages = len(reads) * per_read
    if replies < len(reads):
        raise AssertionError(f"{make.__name__}: {replies} replies to {messages} messages")
    return elapsed / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"CPU us per echoed {len(MESSAGE)}-byte text message, median of {args.rounds} rounds")
    print("| case | " + " | ".join(LIBRARIES) + " |")
    print("|---|" + "--:|" * len(LIBRARIES))
    for deflate in (False, True):
        frames = client_frames(deflate, args.messages)
        for per_read in (1, 16):
            reads = [b"".join(frames[i : i + per_read]) for i in range(0, len(frames), per_read)]
            figures = []
            for make in LIBRARIES.values():
                check(make, deflate)
                rounds = [measure(make, deflate, reads, per_read) for _ in range(args.rounds)]
                figures.append(statistics.median(rounds))
            case = f"{per_read} per read" + (", permessage-deflate" if deflate else "")
            print(f"| {case} | " + " | ".join(f"{f:.2f}" for f in figures) + " |")


if __name__ == "__main__":
    main()
