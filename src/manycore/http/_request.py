"""The request a handler receives.

A Request is created for every request, so it stores only what the parser
already has -- the method, the raw request target, the raw head bytes, the body
-- and works out everything else (decoded path, query multi-dict, headers,
version) on first use.  A handler that reads nothing costs one small object.
It belongs to the connection that received it and is never shared.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from . import _json
from ._errors import HTTPError
from ._headers import Headers, QueryParams, parse_fields

__all__ = ["Request", "decode_path"]


def decode_path(raw_path: bytes) -> str:
    """Percent-decode a path and read it as UTF-8 (bad bytes become U+FFFD)."""
    if b"%" in raw_path:
        raw_path = unquote_to_bytes(raw_path)
    return raw_path.decode("utf-8", "replace")


class Request:
    """One HTTP request: ``method``, ``path``, ``query``, ``headers``, ``body``, ``client``.

    - ``method``: ``"GET"``, ``"POST"``, ... (a HEAD request is routed like GET and
      keeps ``method == "HEAD"``).
    - ``path``: the decoded path (``"/a b"`` for ``/a%20b``); ``raw_path``: its bytes
      as sent; ``target``: the whole request target as sent, query included.
    - ``query``: a :class:`~manycore.http.QueryParams` multi-dict.
    - ``headers``: case-insensitive :class:`~manycore.http.Headers`.
    - ``body``: the request body as bytes (``text()`` and ``json()`` decode it).
    - ``params``: the path parameters matched by the route.
    - ``client``: the peer's (host, port); ``version``: ``"1.1"`` or ``"1.0"``.
    """

    __slots__ = (
        "_headers",
        "_query",
        "body",
        "head",
        "keep_alive",
        "method",
        "params",
        "target",
        "transport",
    )

    # Requests are made by the parser with object.__new__ and slot stores (no __init__
    # frame on the hot path); the lazily computed slots start out as these defaults.
    def __init__(
        self,
        method: str = "GET",
        target: bytes = b"/",
        head: bytes = b"",
        body: bytes = b"",
        keep_alive: bool = True,
        transport: Any = None,
    ) -> None:
        self.method = method
        self.target = target
        self.head = head or b"%s %s HTTP/1.1" % (method.encode("ascii"), target)
        self.body = body
        self.keep_alive = keep_alive
        self.transport = transport
        self.params = _NO_PARAMS
        self._headers = None
        self._query = None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target.decode('latin-1')!r}>"

    # ------------------------------------------------------------- the target
    @property
    def raw_path(self) -> bytes:
        target = self.target
        if target[:1] != b"/":
            target = _origin_form(target)
        q = target.find(b"?")
        return target if q < 0 else target[:q]

    @property
    def path(self) -> str:
        return decode_path(self.raw_path)

    @property
    def query_string(self) -> bytes:
        q = self.target.find(b"?")
        return b"" if q < 0 else self.target[q + 1 :]

    @property
    def query(self) -> QueryParams:
        query = self._query
        if query is None:
            query = self._query = QueryParams.from_bytes(self.query_string)
        return query

    # ------------------------------------------------------------- the head
    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers(parse_fields(self.head))
        return headers

    @property
    def version(self) -> str:
        head = self.head.lstrip(b"\r\n")
        end = head.find(b"\r\n")
        line = head if end < 0 else head[:end]
        return line[line.rfind(b"/") + 1 :].decode("ascii", "replace")

    @property
    def host(self) -> str | None:
        return self.headers.get("host")

    @property
    def client(self) -> tuple[str, int] | None:
        peer = getattr(self.transport, "peername", None)
        return tuple(peer[:2]) if isinstance(peer, tuple) else peer

    # ------------------------------------------------------------- the body
    def text(self, encoding: str | None = None) -> str:
        """The body decoded with ``encoding``, the Content-Type charset, or UTF-8."""
        if encoding is None:
            encoding = "utf-8"
            content_type = self.headers.get("content-type") or ""
            for part in content_type.split(";")[1:]:
                key, _, value = part.strip().partition("=")
                if key.lower() == "charset" and value:
                    encoding = value.strip('"')
        try:
            return self.body.decode(encoding, "replace")
        except LookupError:
            raise HTTPError(400, f"unknown charset {encoding!r} in Content-Type") from None

    def json(self) -> Any:
        """The body parsed as JSON; malformed JSON answers 400 (the client's fault)."""
        try:
            return _json.decode(self.body)
        except ValueError as exc:
            raise HTTPError(400, f"request body is not valid JSON: {exc}") from None


_NO_PARAMS: dict[str, Any] = {}


def _origin_form(target: bytes) -> bytes:
    """``http://host/p?q`` (absolute-form, RFC 9112 §3.2.2) -> ``/p?q``; ``*`` stays."""
    scheme = target.find(b"://")
    if scheme < 0:
        return target
    slash = target.find(b"/", scheme + 3)
    query = target.find(b"?", scheme + 3)
    if slash < 0 or 0 <= query < slash:
        return b"/" if query < 0 else b"/" + target[query:]
    return target[slash:]
