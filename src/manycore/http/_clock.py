"""The Date header, and the response bytes built with it, cached per parallel context.

Every response carries ``Date`` (RFC 9110 §6.6.1), which changes once a second;
everything else in a common response head does not change at all.  So each
parallel context keeps a :class:`HeadCache`: the current Date line, response
heads built with it (keyed by status, content type and connection mode), and
whole small 200 responses seen again and again (``Hello, World!``).  When the
second changes the cache is emptied and refilled on demand.

Per parallel context, not per process: a cache is thread-local, so on the
threads engine no two workers ever write the same dict (the project's rule:
nothing mutable is shared between parallel contexts), and on the processes
engine each worker simply has its own.  Every cache is bounded.

A cache made for an event loop also expires on it: while it holds dated bytes, a
timer on that loop refreshes it when the second ends, so that a connection can
send a remembered answer again without reading the clock (the one-copy read, the
commonest of all).  An idle cache has no timer.  A cache belongs to one loop: a
connection made on another loop in the same thread gets a new cache.
"""

from __future__ import annotations

import threading
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._modes import ConnectionMode

__all__ = ["HeadCache", "head_cache"]

_MAX_PREFIXES = 512  # content types are chosen by the application: bound them
_MAX_REMEMBERED = 64  # content types, and small bodies per content type
_NO_BODY = object()


class Timers(Protocol):
    """What a cache needs of its event loop (a ``manycore.testing.FakeClock`` has it too)."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Any, *args: Any) -> Any: ...


class HeadCache:
    """This parallel context's Date line and the heads built with it."""

    __slots__ = (
        "date_line",
        "expires",
        "expiry",
        "http_date",
        "last_body",
        "last_full",
        "last_modified",
        "last_type",
        "loop",
        "ok_prefixes",
        "ok_responses",
        "prefixes",
    )

    def __init__(self, loop: Timers | None = None) -> None:
        self.loop = loop  # whose clock ``expires`` is on, and which times the expiry
        self.expiry: object = None  # the pending expiry timer, if any
        self.date_line = b""
        self.http_date = ""
        self.expires = 0.0  # when date_line goes stale, on the loop's clock (else monotonic)
        # (status, content_type, mode) -> head up to and including "Content-Length: "
        self.prefixes: dict[tuple[int, str | None, ConnectionMode], bytes] = {}
        # the commonest key, (200, content_type, KEEP), in a dict of its own
        self.ok_prefixes: dict[str, bytes] = {}
        # content_type -> small body -> the whole 200 response
        self.ok_responses: dict[str, dict[bytes, bytes]] = {}
        # file modification second -> its HTTP-date (Last-Modified)
        self.last_modified: dict[int, bytes] = {}
        # the last remembered response sent, with the body and content type objects it
        # was sent for: a handler returning constants gets it by two identity checks
        self.last_body: object = _NO_BODY  # never a response's body: matches nothing
        self.last_type: str | None = None
        self.last_full = b""

    def refresh(self, now: float) -> None:
        """A new second: a new Date line, and nothing built with the old one."""
        wall = time.time()
        text = formatdate(wall, usegmt=True)
        self.http_date = text
        self.date_line = b"Date: " + text.encode("ascii") + b"\r\n"
        self.expires = now + (1.0 - wall % 1.0)
        self.prefixes.clear()
        self.ok_prefixes.clear()
        self.ok_responses.clear()
        self.last_body = _NO_BODY
        self.last_type = None
        self.last_full = b""

    def _expire_later(self) -> None:
        """Dated bytes were stored: have the loop refresh them when the second ends."""
        if self.expiry is None and self.loop is not None:
            self.expiry = self.loop.call_at(self.expires, self._expire)

    def _expire(self) -> None:
        self.expiry = None
        assert self.loop is not None  # only a loop's timer calls this
        now = self.loop.time()
        if now >= self.expires:
            self.refresh(now)
        else:  # a timer may fire a little early
            self._expire_later()

    def fresh(self) -> HeadCache:
        """Refresh if the second changed (for callers without a loop clock at hand)."""
        now = time.monotonic()
        if now >= self.expires:
            self.refresh(now)
        return self

    def store_prefix(
        self,
        key: tuple[int, str | None, ConnectionMode],
        prefix: bytes,
        ok_content_type: str | None,
    ) -> None:
        if len(self.prefixes) < _MAX_PREFIXES:
            self.prefixes[key] = prefix
            if ok_content_type is not None:
                self.ok_prefixes[ok_content_type] = prefix
            self._expire_later()

    def remember(self, content_type: str, body: bytes, full: bytes) -> None:
        """Keep a small 200 response to send again without formatting it."""
        responses = self.ok_responses.get(content_type)
        if responses is None:
            if len(self.ok_responses) >= _MAX_REMEMBERED:
                return
            responses = self.ok_responses[content_type] = {}
        if len(responses) < _MAX_REMEMBERED:
            responses[body] = full
            self._expire_later()

    def http_date_of(self, seconds: int) -> bytes:
        text = self.last_modified.get(seconds)
        if text is None:
            if len(self.last_modified) > 1024:
                self.last_modified.clear()
            text = formatdate(seconds, usegmt=True).encode("ascii")
            self.last_modified[seconds] = text
        return text


_local = threading.local()


def head_cache(loop: Timers | None = None) -> HeadCache:
    """The calling parallel context's cache (made on first use).

    Given the event loop a connection runs on, the cache is one that expires on that
    loop: a thread's first connection on a new loop replaces the thread's cache.
    """
    cache: HeadCache | None = getattr(_local, "cache", None)
    if cache is None or (loop is not None and cache.loop is not loop):
        cache = _local.cache = HeadCache(loop)
    return cache
