"""Routes: the ``@route`` decorator and the per-class routing table.

Strategy: routing is decided once per application class, when the class is
created (``HttpServer.__init_subclass__`` calls :func:`build_router`).  A path
without parameters becomes a key of a dict of raw path bytes, so the common
case is one dict lookup on the bytes the parser produced, with no decoding.
Paths with parameters (``/items/{id:int}``) are compiled to regular
expressions tried in definition order against the percent-decoded path; static
mounts are tried last, by prefix.

Invariants: a GET route also answers HEAD (unless HEAD has its own route); a
path that exists with other methods answers 405 with ``Allow``; a path that
matches nothing answers 404.  Two routes of one class claiming the same method
and path is an error at class creation, not a surprise at run time.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote_to_bytes

from ._errors import HTTPError
from ._files import StaticFiles

__all__ = ["Route", "Router", "build_router", "route"]

_Handler = TypeVar("_Handler", bound=Callable[..., Any])

_Converters = dict[str, Callable[[str], Any]]  # parameter name -> its converter

_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_][A-Za-z0-9_]*))?}")
_CONVERTERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "str": (r"[^/]+", str),
    "int": (r"-?[0-9]+", int),
    "float": (r"-?[0-9]+(?:\.[0-9]+)?", float),
    "path": (r".+", str),
}


@dataclass(frozen=True)
class RouteSpec:
    """What ``@route`` recorded on a function."""

    path: str
    methods: tuple[str, ...]


def route(path: str, methods: Iterable[str] | None = None) -> Callable[[_Handler], _Handler]:
    """Bind a handler method to ``path`` for ``methods`` (default GET, which also serves HEAD).

    ``path`` may hold parameters: ``{name}`` (one segment), ``{name:int}``,
    ``{name:float}``, ``{name:path}`` (the rest, slashes included).  The handler
    receives them as keyword arguments: ``def item(self, request, id: int)``.
    A method may carry several ``@route`` decorators.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"route path must be a str starting with '/', got {path!r}")
    if isinstance(methods, str):
        raise TypeError(f"methods must be a list such as [{methods!r}], not a str")
    names = tuple(m.upper() for m in (methods or ("GET",)))
    for name in names:
        if not _METHOD.match(name):
            raise ValueError(f"{name!r} is not a valid HTTP method name")
    _compile(path)  # report a bad pattern where the decorator is written
    spec = RouteSpec(path, names)

    def decorate(fn: _Handler) -> _Handler:
        if not callable(fn):
            raise TypeError(f"@route({path!r}) must decorate a function, got {fn!r}")
        specs = getattr(fn, "__manycore_routes__", ())
        fn.__manycore_routes__ = (*specs, spec)  # type: ignore[attr-defined]  # a function takes attributes
        return fn

    return decorate


class Route:
    """One handler bound to one path: what the connection calls."""

    __slots__ = ("fn", "is_async", "name", "path")
    implicit: ClassVar[bool] = False  # a HEAD route made from a GET route

    def __init__(self, fn: Callable[..., Any], path: str, name: str) -> None:
        self.fn = fn
        self.path = path
        self.name = name
        self.is_async = inspect.iscoroutinefunction(fn)

    def __repr__(self) -> str:
        return f"<Route {self.path} -> {self.name}>"


def _compile(path: str) -> tuple[re.Pattern[str], _Converters] | None:
    """A regex and converters for a parameterised path, None for a literal path."""
    if "{" not in path:
        return None
    pattern = ["^"]
    converters: dict[str, Callable[[str], Any]] = {}
    pos = 0
    for match in _PARAM.finditer(path):
        pattern.append(re.escape(path[pos : match.start()]))
        name, kind = match.group(1), match.group(2) or "str"
        if kind not in _CONVERTERS:
            raise ValueError(
                f"unknown parameter type {kind!r} in route {path!r}; "
                f"use one of {', '.join(_CONVERTERS)}"
            )
        if name in converters:
            raise ValueError(f"parameter {name!r} appears twice in route {path!r}")
        regex, convert = _CONVERTERS[kind]
        pattern.append(f"(?P<{name}>{regex})")
        converters[name] = convert
        pos = match.end()
    rest = path[pos:]
    if "{" in rest or "}" in rest:
        raise ValueError(f"unbalanced or malformed '{{...}}' in route {path!r}")
    pattern.append(re.escape(rest) + "$")
    return re.compile("".join(pattern)), converters


class Router:
    """The routing table of one application class."""

    __slots__ = ("mounts", "patterns", "static")

    def __init__(self) -> None:
        # raw path bytes -> method bytes -> Route (bytes: what llhttp hands over)
        self.static: dict[bytes, dict[bytes, Route]] = {}
        # (regex, converters, method bytes -> Route), in definition order
        self.patterns: list[
            tuple[re.Pattern[str], dict[str, Callable[[str], Any]], dict[bytes, Route]]
        ] = []
        # (prefix with trailing '/', mount), longest prefix first
        self.mounts: list[tuple[str, Any]] = []

    def add(self, path: str, methods: tuple[str, ...], entry: Route) -> None:
        compiled = _compile(path)
        if compiled is None:
            table = self.static.setdefault(path.encode("utf-8"), {})
        else:
            regex, converters = compiled
            for other_regex, _, other_table in self.patterns:
                if other_regex.pattern == regex.pattern:
                    table = other_table
                    break
            else:
                table = {}
                self.patterns.append((regex, converters, table))
        for name in methods:
            method = name.encode("ascii")
            previous = table.get(method)
            if previous is not None and previous.name != entry.name and not previous.implicit:
                raise TypeError(
                    f"{name} {path} is routed to both {previous.name}() and {entry.name}(); "
                    "remove one of the @route decorators"
                )
            table[method] = entry
        if "GET" in methods and b"HEAD" not in table:
            table[b"HEAD"] = _ImplicitHead(entry.fn, entry.path, entry.name)

    def add_mount(self, prefix: str, mount: Any) -> None:
        prefix = "/" + prefix.strip("/")
        self.mounts.append((prefix.rstrip("/") + "/", mount))
        self.mounts.sort(key=lambda item: -len(item[0]))

    def lookup(self, method: bytes, raw_path: bytes) -> tuple[Any, dict[str, Any] | None]:
        """``(route, params)``; raises HTTPError 404 or 405 (with Allow)."""
        table = self.static.get(raw_path)
        if table is None and b"%" in raw_path:
            table = self.static.get(unquote_to_bytes(raw_path))
        if table is not None:
            entry = table.get(method)
            if entry is None:
                raise _not_allowed(method, table)
            return entry, None
        path = (unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path).decode(
            "utf-8", "replace"
        )
        allowed: dict[bytes, Route] = {}
        for regex, converters, table in self.patterns:
            match = regex.match(path)
            if match is None:
                continue
            entry = table.get(method)
            if entry is None:
                allowed.update(table)
                continue
            try:
                params = {
                    name: converters[name](value) for name, value in match.groupdict().items()
                }
            except ValueError:
                continue  # e.g. a float pattern that float() refuses: no match
            return entry, params
        for prefix, mount in self.mounts:
            if path.startswith(prefix) or path == prefix[:-1]:
                if method not in (b"GET", b"HEAD"):
                    raise _not_allowed(method, {b"GET": None, b"HEAD": None})
                return mount, {"path": path[len(prefix) :]}
        if allowed:
            raise _not_allowed(method, allowed)
        raise HTTPError(404, f"no route for {path}")

    def describe(self) -> list[str]:
        """``["GET /json -> json", ...]`` for error messages and debugging."""
        lines = []
        for raw, table in self.static.items():
            for method, entry in table.items():
                lines.append(f"{method.decode()} {raw.decode('utf-8')} -> {entry.name}")
        for _, _, table in self.patterns:
            for method, entry in table.items():
                lines.append(f"{method.decode()} {entry.path} -> {entry.name}")
        for prefix, mount in self.mounts:
            lines.append(f"GET {prefix}... -> {mount!r}")
        return lines


class _ImplicitHead(Route):
    """The HEAD twin of a GET route (an explicit HEAD route may replace it)."""

    __slots__ = ()
    implicit = True


def _not_allowed(method: bytes, table: dict[bytes, Any]) -> HTTPError:
    allow = ", ".join(sorted(name.decode("ascii") for name in table))
    return HTTPError(
        405,
        f"{method.decode('ascii')} is not allowed here; allowed: {allow}",
        [("Allow", allow)],
    )


def build_router(cls: type) -> Router:
    """Collect ``@route`` methods and ``static()`` mounts of ``cls`` and its bases.

    A route belongs to an attribute name: a subclass that overrides the method
    (decorated or not) keeps the route and changes the code; decorating the
    override replaces the base's routes for that name.
    """
    specs: dict[str, tuple[RouteSpec, ...]] = {}
    members: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        for name, member in vars(base).items():
            members[name] = member
            routes = getattr(member, "__manycore_routes__", None)
            if routes is None and isinstance(member, staticmethod | classmethod):
                routes = getattr(member.__func__, "__manycore_routes__", None)
            if routes:
                if isinstance(member, staticmethod | classmethod):
                    raise TypeError(
                        f"{cls.__qualname__}.{name}: a route handler is a plain method "
                        "def handler(self, request), not a staticmethod or classmethod"
                    )
                specs[name] = routes
    router = Router()
    for name, member in members.items():
        if name in specs and callable(member):
            for spec in specs[name]:
                router.add(spec.path, spec.methods, Route(member, spec.path, name))
        elif isinstance(member, StaticFiles):
            router.add_mount(member.prefix, member)
    return router
