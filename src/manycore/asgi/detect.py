"""What kind of application an object is: protocol class, ASGI 3, ASGI 2 or WSGI.

Judged from signatures alone, without calling anything: an ``async`` callable
of three parameters is ASGI 3 (``app(scope, receive, send)``); a plain callable
of two is WSGI (``app(environ, start_response)``); a class whose instances are
made from the scope alone, or a function of one parameter, is the older ASGI 2
double-callable form.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from ..http import HttpServer
from ..protocol import ProtocolSpec

__all__ = ["Interface", "detect_interface"]

Interface = Literal["protocol", "asgi", "asgi2", "wsgi", "unknown"]


def detect_interface(obj: Any) -> Interface:
    """The interface ``obj`` implements, or ``unknown``."""
    if isinstance(obj, type):
        if issubclass(obj, HttpServer):
            return "protocol"
        try:
            ProtocolSpec(obj)
        except (TypeError, ValueError):
            pass
        else:
            return "protocol"
        if _positional_count(obj.__init__, bound=True) == 1 and callable(
            getattr(obj, "__call__", None)  # noqa: B004  # instances are called with receive, send
        ):
            return "asgi2"
        return "unknown"
    if not callable(obj):
        return "unknown"
    call = obj if inspect.isroutine(obj) else getattr(type(obj), "__call__", obj)  # noqa: B004
    bound = not inspect.isroutine(obj)
    count = _positional_count(call, bound=bound)
    if _is_async(obj) or _is_async(call):
        return "asgi" if count == 3 else "asgi2" if count == 1 else "unknown"
    if count == 3:
        return "asgi"  # a plain callable returning an awaitable (a wrapper, say)
    if count == 2:
        return "wsgi"
    if count == 1:
        return "asgi2"
    return "unknown"


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__func__", None)
    )


def _positional_count(fn: Any, *, bound: bool) -> int:
    """How many positional arguments ``fn`` takes (less ``self`` when ``bound``); -1 if unknown."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return -1
    params = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()):
        return -1
    count = len(params)
    if bound and inspect.isfunction(fn) and count:
        count -= 1  # a function looked up on the class still takes self
    return count
