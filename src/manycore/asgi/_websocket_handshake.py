"""The opening handshake of a WebSocket: the request checked, the answers built.

A request that is not a valid WebSocket opening handshake is answered here,
before the application sees it, so every application gets the same clear
refusal (RFC 6455 §4.2.1 lists what a server must check; §4.2.2 what it
answers).  The accepted handshake's 101 response and the websocket scope are
built here too, so the session only moves messages.
"""

from __future__ import annotations

import base64
import binascii
import http
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.headers import build_extension, parse_extension
from websockets.utils import accept_key

__all__ = [
    "SCOPE_EXTENSION",
    "Handshake",
    "HandshakeError",
    "accept_response",
    "check_request",
    "http_response_head",
    "negotiate_deflate",
    "websocket_scope",
]

SCOPE_EXTENSION = "websocket.http.response"
"""The ASGI extension that lets an application refuse a handshake with its own response."""

SPEC_VERSION = "2.4"
"""The ASGI websocket spec version served: ``send`` after a disconnect raises ``OSError``."""

Headers = Sequence[tuple[bytes, bytes]]


class HandshakeError(Exception):
    """A request that cannot open a WebSocket; ``status`` and ``headers`` answer it."""

    def __init__(
        self, status: int, reason: str, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = list(headers)

    def response(self) -> bytes:
        """The whole HTTP response: status, the extra headers, and the reason as the body."""
        body = f"{self.reason}\n".encode()
        headers = [
            *self.headers,
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        return http_response_head(self.status, headers) + body


@dataclass(frozen=True)
class Handshake:
    """What a valid opening handshake asked for."""

    key: bytes
    subprotocols: list[str]
    extension_offers: str


def _tokens(headers: Headers, name: bytes) -> list[bytes]:
    """The comma-separated tokens of every ``name`` header, lower-cased."""
    return [
        token.strip().lower()
        for field, value in headers
        if field.lower() == name
        for token in value.split(b",")
        if token.strip()
    ]


def _values(headers: Headers, name: bytes) -> list[bytes]:
    return [value.strip() for field, value in headers if field.lower() == name]


def check_request(scope: dict[str, Any], headers: Headers) -> Handshake:
    """The handshake ``headers`` ask for, or HandshakeError (RFC 6455 §4.2.1)."""
    # §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    if scope.get("method", "GET") != "GET":
        raise HandshakeError(
            405, "a WebSocket handshake must be a GET request", [(b"allow", b"GET")]
        )
    if scope.get("http_version") == "1.0":
        raise HandshakeError(400, "a WebSocket handshake needs HTTP/1.1")
    # Items 3 and 4: "An |Upgrade| header field containing the value 'websocket'" and
    # "A |Connection| header field that includes the token 'Upgrade'".
    if b"websocket" not in _tokens(headers, b"upgrade"):
        raise HandshakeError(
            426, "the Upgrade header must name websocket", [(b"upgrade", b"websocket")]
        )
    if b"upgrade" not in _tokens(headers, b"connection"):
        raise HandshakeError(400, "the Connection header must include the token Upgrade")
    # Item 6: "A |Sec-WebSocket-Version| header field, with a value of 13"; §4.2.2 says a
    # server that speaks another answers 426 with the versions it speaks.
    versions = _values(headers, b"sec-websocket-version")
    if versions != [b"13"]:
        raise HandshakeError(
            426,
            "this server speaks WebSocket version 13 only (Sec-WebSocket-Version: 13)",
            [(b"sec-websocket-version", b"13"), (b"upgrade", b"websocket")],
        )
    # Item 5: "A |Sec-WebSocket-Key| header field with a base64-encoded value that,
    # when decoded, is 16 bytes in length".
    keys = _values(headers, b"sec-websocket-key")
    if len(keys) != 1:
        raise HandshakeError(400, "a WebSocket handshake needs one Sec-WebSocket-Key header")
    try:
        raw_key = base64.b64decode(keys[0], validate=True)
    except binascii.Error:
        raw_key = b""
    if len(raw_key) != 16:
        raise HandshakeError(400, "Sec-WebSocket-Key must be 16 bytes in base64")
    # Items 8 and 9: the subprotocols and extensions the client offers, in its order.
    subprotocols = [
        token.strip().decode("latin-1")
        for value in _values(headers, b"sec-websocket-protocol")
        for token in value.split(b",")
        if token.strip()
    ]
    offers = ", ".join(v.decode("latin-1") for v in _values(headers, b"sec-websocket-extensions"))
    return Handshake(keys[0], subprotocols, offers)


def negotiate_deflate(offers: str) -> tuple[Extension, str] | None:
    """permessage-deflate for the first acceptable offer, with its response (RFC 7692 §5)."""
    if not offers:
        return None
    try:
        parsed = parse_extension(offers)
    except Exception:  # an offer we cannot parse is an offer we do not take
        return None
    # Small windows and memLevel 5: the websockets library's server defaults, which
    # keep a compressed connection's memory near 64 KiB instead of about 300 KiB.
    factory = ServerPerMessageDeflateFactory(
        server_max_window_bits=12,
        client_max_window_bits=12,
        compress_settings={"memLevel": 5},
    )
    for name, params in parsed:
        if name != factory.name:
            continue
        try:
            response_params, extension = factory.process_request_params(params, [])
        except Exception:  # NegotiationError and malformed parameters: try the next offer
            continue
        return extension, build_extension([(name, response_params)])
    return None


def http_response_head(status: int, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``HTTP/1.1 status phrase`` and the header lines, ending with the blank line."""
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, phrase)]
    lines += [b"%s: %s\r\n" % (name, value) for name, value in headers]
    lines.append(b"\r\n")
    return b"".join(lines)


def accept_response(
    handshake: Handshake,
    subprotocol: str | None,
    extension_response: str | None,
    extra_headers: Iterable[tuple[bytes, bytes]],
) -> bytes:
    """The 101 response that opens the connection (RFC 6455 §4.2.2 item 5)."""
    headers = [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", accept_key(handshake.key.decode("ascii")).encode()),
    ]
    if subprotocol is not None:
        headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
    if extension_response is not None:
        headers.append((b"sec-websocket-extensions", extension_response.encode("latin-1")))
    ours = {name for name, _ in headers}
    headers += [(name, value) for name, value in extra_headers if name.lower() not in ours]
    return http_response_head(101, headers)


def websocket_scope(http_scope: dict[str, Any], handshake: Handshake) -> dict[str, Any]:
    """The ASGI websocket scope for the connection the HTTP scope describes."""
    scope = {key: value for key, value in http_scope.items() if key != "method"}
    scope["type"] = "websocket"
    scope["asgi"] = {**http_scope.get("asgi", {"version": "3.0"}), "spec_version": SPEC_VERSION}
    scope["scheme"] = "wss" if http_scope.get("scheme") in ("https", "wss") else "ws"
    scope["subprotocols"] = handshake.subprotocols
    extensions = {
        name: value
        for name, value in (http_scope.get("extensions") or {}).items()
        if not name.startswith("http.")
    }
    extensions[SCOPE_EXTENSION] = {}
    scope["extensions"] = extensions
    return scope
