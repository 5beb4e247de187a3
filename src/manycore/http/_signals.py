"""How the connection stops the parser at a request boundary: by raising.

The connection answers each request from inside llhttp's message-complete
callback.  When it must stop there -- it is closing, or it has to wait for a
slow reader -- it raises :class:`StopParsing` or :class:`PauseParsing`.
httptools gives a callback no other way to stop llhttp in the middle of a read
(llhttp's pause is not exposed): a callback's exception aborts ``feed_data``,
which raises ``HttpParserCallbackError`` with the callback's exception as its
``__context__``.  ``RequestReader.feed`` is the one place that unwraps it, and
a protocol error raised in any callback travels the same way.

Raising costs nothing on the hot path: a read parsed to its end raises nothing
and a ``try`` is free until something is raised; a signal is raised at most
once per read, when that read stops early.  The alternative, letting llhttp run
to the end of the read and ignoring what follows, would parse (and check
limits on, and buffer the bodies of) requests that must not be answered yet.
"""

from __future__ import annotations

__all__ = ["ParsingSignal", "PauseParsing", "StopParsing"]


class ParsingSignal(Exception):
    """Raised from a parser callback to stop at a message boundary; not an error."""


class StopParsing(ParsingSignal):
    """The connection is closing: deliver nothing more, discard the rest of the input."""


class PauseParsing(ParsingSignal):
    """Output is over its bounds: keep the rest of the input (``held``) for later."""
