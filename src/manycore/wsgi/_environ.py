"""The WSGI environ (PEP 3333, "environ Variables") built from an ASGI HTTP scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from ._errors import ErrorStream
from ._input import InputStream

_HEADER_KEYS: dict[bytes, str | None] = {
    b"content-type": "CONTENT_TYPE",
    b"content-length": "CONTENT_LENGTH",
}
_MAX_CACHED_KEYS = 1024


def _header_key(name: bytes) -> str | None:
    """``HTTP_USER_AGENT`` for ``user-agent``; None for a name with an underscore.

    CGI spells ``-`` as ``_``, so ``X_Forwarded_For`` would reach the application as the
    same key as ``X-Forwarded-For``, and a client could forge what a proxy set; such
    headers are dropped, as gunicorn and nginx do.
    """
    key = _HEADER_KEYS.get(name)
    if key is None and name not in _HEADER_KEYS:
        text = name.decode("latin-1")
        key = None if "_" in text else "HTTP_" + text.upper().replace("-", "_")
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


def build_environ(
    scope: Mapping[str, Any],
    body: InputStream,
    errors: ErrorStream,
    *,
    multithread: bool,
    multiprocess: bool,
) -> dict[str, Any]:
    root_path: str = scope.get("root_path", "")
    script_name = root_path.encode("utf-8").decode("latin-1") if root_path else ""
    server = scope.get("server") or ("localhost", None)
    client = scope.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": _path_info(scope, script_name),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": "" if server[1] is None else str(server[1]),
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": errors,
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        # The input ends where the body ends, so a chunked body needs no CONTENT_LENGTH.
        "wsgi.input_terminated": True,
    }
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for name, value in scope["headers"]:
        key = _header_key(name)
        if key is None:
            continue
        text = value.decode("latin-1")
        if key in environ:
            # RFC 9110 section 5.3: repeated fields join with commas; cookies with "; "
            # (RFC 6265 section 5.4), since a cookie's value may hold a comma.
            text = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + text
        environ[key] = text
    return environ


def has_body(scope: Mapping[str, Any]) -> bool:
    """Whether the request announces a body (RFC 9112 section 6.3)."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


__all__ = ["build_environ", "has_body"]
