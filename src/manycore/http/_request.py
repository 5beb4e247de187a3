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
from ._errors import HTTPError, RemoteProtocolError
from ._headers import Headers, QueryParams, parse_fields
from ._heads import check_host_value, locate_head
from .proxy import TrustedProxies, resolve_client

__all__ = ["ParsedRequest", "Request", "decode_path"]

_getattr = getattr


# Every method name llhttp accepts, as str: read-only, so parallel contexts share it.
_METHOD_NAMES: dict[bytes, str] = {
    m.encode("ascii"): m
    for m in (
        "DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND "
        "PROPPATCH SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE "
        "M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE "
        "PRI DESCRIBE ANNOUNCE SETUP PLAY PAUSE TEARDOWN GET_PARAMETER SET_PARAMETER "
        "REDIRECT RECORD FLUSH QUERY"
    ).split()
}


def decode_path(raw_path: bytes) -> str:
    """Percent-decode a path and read it as UTF-8 (bad bytes become U+FFFD)."""
    if b"%" in raw_path:
        raw_path = unquote_to_bytes(raw_path)
    return raw_path.decode("utf-8", "replace")


class Request:
    """One HTTP request: ``method``, ``path``, ``query``, ``headers``, ``body``, ``client``.

    - ``method``: ``"GET"``, ``"POST"``, ... (a HEAD request is routed like GET and
      keeps ``method == "HEAD"``); ``head``: the raw request line and header fields.
    - ``path``: the decoded path (``"/a b"`` for ``/a%20b``); ``raw_path``: its bytes
      as sent; ``target``: the whole request target as sent, query included.
    - ``query``: a :class:`~manycore.http.QueryParams` multi-dict.
    - ``headers``: case-insensitive :class:`~manycore.http.Headers`.
    - ``body``: the request body as bytes (``text()`` and ``json()`` decode it).
    - ``params``: the path parameters matched by the route.
    - ``client``: the peer's (host, port); ``version``: ``"1.1"`` or ``"1.0"``.
    """

    __slots__ = (
        "_at",
        "_body",
        "_data",
        "_end",
        "_head",
        "_headers",
        "_method",
        "_params",
        "_query",
        "target",
        "transport",
    )
    # Filled on first use (None, or unset, until then).
    _headers: Headers | None
    _query: QueryParams | None
    _params: dict[str, Any] | None
    # Set by the parser on fast-path requests (the others have their head at once).
    _data: bytes  # the read the request was parsed from
    _at: int  # where its head starts in _data
    _end: int  # just past its head, once found

    # The parser makes a ParsedRequest and gives it a few slot stores (no __init__
    # frame on the hot path).  Slots it leaves unset are computed on first use: the
    # properties read them with getattr(..., None), a third of the cost of catching the
    # AttributeError that reading an unset slot raises.
    def __init__(
        self,
        method: str = "GET",
        target: bytes = b"/",
        head: bytes = b"",
        body: bytes = b"",
        transport: Any = None,
    ) -> None:
        self._method = method.encode("ascii")
        self.target = target
        self._head = head or b"%s %s HTTP/1.1\r\nHost: localhost" % (self._method, target)
        self._body = body
        self.transport = transport

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target.decode('latin-1')!r}>"

    @property
    def method(self) -> str:
        """``"GET"``, ``"POST"``, ...; a HEAD request keeps ``"HEAD"`` (routed like GET)."""
        raw = self._method
        return _METHOD_NAMES.get(raw) or raw.decode("ascii")

    @property
    def head(self) -> bytes:
        """The request line and header fields as received (without the final CRLF CRLF)."""
        head = _getattr(self, "_head", None)
        if head is None:
            locate_head(self)
            head = self._head
        return head

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
        query = _getattr(self, "_query", None)
        if query is None:
            query = self._query = QueryParams.from_bytes(self.query_string)
        return query

    @property
    def params(self) -> dict[str, Any]:
        """Path parameters matched by the route (``{"id": 42}``)."""
        params = _getattr(self, "_params", None)
        return {} if params is None else params

    @params.setter
    def params(self, value: dict[str, Any]) -> None:
        self._params = value

    # ------------------------------------------------------------- the head
    @property
    def headers(self) -> Headers:
        """The header fields; a request without exactly one valid Host is answered 400 here."""
        cached: Headers | None = _getattr(self, "_headers", None)
        if cached is not None:
            return cached
        headers = Headers(parse_fields(self.head))
        hosts = headers.by_name().get("host", ())
        if len(hosts) != 1 and (hosts or self.version != "1.0"):
            raise HTTPError(400, f"a request needs exactly one Host header field, not {len(hosts)}")
        if hosts:
            try:
                check_host_value(hosts[0].encode("latin-1"))
            except RemoteProtocolError as exc:
                raise HTTPError(400, str(exc)) from None
        self._headers = headers
        return headers

    @property
    def version(self) -> str:
        """``"1.1"`` or ``"1.0"``: the HTTP version of the request line."""
        head = self.head.lstrip(b"\r\n")
        end = head.find(b"\r\n")
        line = head if end < 0 else head[:end]
        return line[line.rfind(b"/") + 1 :].decode("ascii", "replace")

    @property
    def host(self) -> str | None:
        return self.headers.get("host")

    @property
    def client(self) -> tuple[str, int] | None:
        """The peer's (host, port); behind a trusted proxy, the client it forwards for."""
        peer = self._peer()
        trusted = self._trusted_proxies()
        if trusted is None:
            return peer
        return resolve_client(peer, self._header_pairs(), trusted, self._own_scheme())[0]

    @property
    def scheme(self) -> str:
        """``"https"`` over TLS, else ``"http"``; behind a trusted proxy, the one it was sent."""
        scheme = self._own_scheme()
        trusted = self._trusted_proxies()
        if trusted is None:
            return scheme
        return resolve_client(self._peer(), self._header_pairs(), trusted, scheme)[1]

    @property
    def root_path(self) -> str:
        """The prefix a proxy serves the application under (``--root-path``), or ``""``."""
        return str(getattr(type(self._app()), "root_path", "") or "")

    def _peer(self) -> tuple[str, int] | None:
        peer = getattr(self.transport, "peername", None)
        return (peer[0], peer[1]) if isinstance(peer, tuple) else None

    def _own_scheme(self) -> str:
        get_extra_info = getattr(self.transport, "get_extra_info", None)
        if get_extra_info is not None and get_extra_info("ssl_object") is not None:
            return "https"
        return "http"

    def _app(self) -> Any:
        """The application instance serving this request (through its transport's owner)."""
        return getattr(getattr(self.transport, "events", None), "protocol", None)

    def _trusted_proxies(self) -> TrustedProxies | None:
        cls = type(self._app())
        if not getattr(cls, "proxy_headers", False):
            return None
        trusted: TrustedProxies | None = getattr(cls, "trusted_proxies", None)
        return trusted

    def _header_pairs(self) -> list[tuple[bytes, bytes]]:
        # From the head itself: the access log asks for the client of requests
        # that ``headers`` answers 400 (no Host), and must not raise for them.
        headers = _getattr(self, "_headers", None)
        pairs = headers.items() if headers is not None else parse_fields(self.head)
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]

    # ------------------------------------------------------------- the body
    @property
    def body(self) -> bytes:
        """The request body (``b""`` when there is none)."""
        body = _getattr(self, "_body", None)
        return b"" if body is None else body

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


class ParsedRequest(Request):
    """A Request as the reader makes it: called with no arguments, it runs no Python.

    Its ``__init__`` is ``object``'s, so the class call is C from start to end, which is
    cheaper than ``object.__new__(Request)`` (no argument tuple); the reader then stores
    the fields it knows.  Everything else is Request's.
    """

    __slots__ = ()
    __init__ = object.__init__


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
