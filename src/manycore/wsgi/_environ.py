"""The WSGI environ (PEP 3333, "environ Variables") built from an ASGI HTTP scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from ._errors import ErrorStream
from ._files import FileWrapper

_HEADER_KEYS: dict[bytes, str] = {
    b"content-type": "CONTENT_TYPE",
    b"content-length": "CONTENT_LENGTH",
}
_MAX_CACHED_KEYS = 1024


def _header_key(name: bytes) -> str:
    """``HTTP_USER_AGENT`` for ``user-agent``; "" (dropped) for a name with an underscore.

    CGI spells ``-`` as ``_``, so ``X_Forwarded_For`` would reach the application as the
    same key as ``X-Forwarded-For``, and a client could forge what a proxy set; such
    headers are dropped, as gunicorn and nginx do.
    """
    text = name.decode("latin-1")
    key = "" if "_" in text else "HTTP_" + text.upper().replace("-", "_")
    if len(_HEADER_KEYS) < _MAX_CACHED_KEYS:
        _HEADER_KEYS[name] = key
    return key


def _path_info(scope: Mapping[str, Any], script_name: str) -> str:
    """The decoded path as PEP 3333's native string: its bytes, each one a latin-1 character.

    ``raw_path`` keeps bytes that are not UTF-8 (``%FF``), which the decoded ``path`` has
    already replaced; the scope's path includes ``root_path``, which is SCRIPT_NAME's part.
    """
    raw = scope.get("raw_path")
    if raw:
        path = (unquote_to_bytes(raw) if b"%" in raw else raw).decode("latin-1")
    else:
        path = scope["path"].encode("utf-8").decode("latin-1")
    if script_name and path.startswith(script_name):
        rest = path[len(script_name) :]
        if not rest or rest[0] == "/":
            return rest
    return path


def base_environ(*, multithread: bool, multiprocess: bool) -> dict[str, Any]:
    """The variables every request of one application shares; each environ starts as a copy."""
    return {
        "wsgi.version": (1, 0),
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        # The input ends where the body ends, so a chunked body needs no CONTENT_LENGTH.
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.errors": ErrorStream(),
    }


def build_environ(scope: Mapping[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The environ without ``wsgi.input``, which the caller adds."""
    environ = base.copy()
    root_path: str = scope.get("root_path", "")
    raw = scope.get("raw_path")
    if raw and not root_path and b"%" not in raw:
        environ["SCRIPT_NAME"] = ""
        environ["PATH_INFO"] = raw.decode("latin-1")
    else:
        script_name = root_path.encode("utf-8").decode("latin-1") if root_path else ""
        environ["SCRIPT_NAME"] = script_name
        environ["PATH_INFO"] = _path_info(scope, script_name)
    environ["REQUEST_METHOD"] = scope["method"]
    environ["QUERY_STRING"] = scope.get("query_string", b"").decode("latin-1")
    server = scope.get("server") or ("localhost", None)
    environ["SERVER_NAME"] = server[0]
    environ["SERVER_PORT"] = "" if server[1] is None else str(server[1])
    environ["SERVER_PROTOCOL"] = "HTTP/" + scope.get("http_version", "1.1")
    environ["wsgi.url_scheme"] = scope.get("scheme", "http")
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    keys = _HEADER_KEYS
    for name, value in scope["headers"]:
        key = keys.get(name) or _header_key(name)
        if not key:
            continue
        if key in environ:
            # RFC 9110 section 5.3: repeated fields join with commas; cookies with "; "
            # (RFC 6265 section 5.4), since a cookie's value may hold a comma.
            joiner = "; " if key == "HTTP_COOKIE" else ","
            environ[key] = environ[key] + joiner + value.decode("latin-1")
        else:
            environ[key] = value.decode("latin-1")
    return environ


def has_body(environ: Mapping[str, Any]) -> bool:
    """Whether the request announces a body (RFC 9112 section 6.3)."""
    return "HTTP_TRANSFER_ENCODING" in environ or environ.get("CONTENT_LENGTH", "0") != "0"


def scope_has_body(scope: Mapping[str, Any]) -> bool:
    """:func:`has_body` from the scope's headers, for when no environ is at hand."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False
