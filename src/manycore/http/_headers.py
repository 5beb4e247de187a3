"""Read-only multi-dicts: request headers (case-insensitive) and query parameters.

Both are built lazily from bytes the parser already holds, so a handler that
never looks at them costs nothing.  Header field names are compared in lower
case; values are decoded as ISO-8859-1 (RFC 9110 §5.5: field values are octets;
latin-1 maps each octet to one character and never fails).  Header syntax was
validated by llhttp before a request is delivered, so splitting here only has
to handle well-formed lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar
from urllib.parse import parse_qsl

from ._errors import HTTPError

__all__ = ["Headers", "MultiDict", "QueryParams", "parse_fields"]

T = TypeVar("T")


class MultiDict:
    """An ordered, read-only sequence of (name, value) pairs with dict-like lookups.

    ``md[key]`` and ``md.get(key)`` give the first value, ``md.getall(key)`` all of
    them in order; ``items()`` keeps duplicates.
    """

    __slots__ = ("_index", "_pairs")

    def __init__(self, pairs: list[tuple[str, str]] | None = None) -> None:
        self._pairs: list[tuple[str, str]] = pairs if pairs is not None else []
        self._index: dict[str, list[str]] | None = None

    def _key(self, key: str) -> str:
        return key

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self._pairs:
                index.setdefault(name, []).append(value)
            self._index = index
        return index

    def __getitem__(self, key: str) -> str:
        values = self._lookup().get(self._key(key))
        if values is None:
            raise KeyError(key)
        return values[0]

    def get(self, key: str, default: T | None = None) -> str | T | None:
        values = self._lookup().get(self._key(key))
        return default if values is None else values[0]

    def getall(self, key: str, default: list[str] | None = None) -> list[str]:
        """Every value of ``key`` in order (``default``, or ``[]``, when absent)."""
        values = self._lookup().get(self._key(key))
        if values is None:
            return [] if default is None else default
        return list(values)

    def by_name(self) -> dict[str, list[str]]:
        """The underlying name -> values index (names normalised); do not modify it."""
        return self._lookup()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._key(key) in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._pairs)

    def keys(self) -> list[str]:
        return list(self._lookup())

    def values(self) -> list[str]:
        return [value for _, value in self._pairs]

    def items(self) -> list[tuple[str, str]]:
        """All (name, value) pairs in the order received, duplicates included."""
        return list(self._pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict):
            return self._pairs == other._pairs
        return NotImplemented

    # Mutable and compared by content, so unhashable (as dict is); typeshed types
    # object.__hash__ as a method, which this None replaces.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"


class Headers(MultiDict):
    """Request header fields; names are case-insensitive (``h["Content-Type"]``)."""

    __slots__ = ()

    def _key(self, key: str) -> str:
        return key.lower()


class QueryParams(MultiDict):
    """``?a=1&b=2&a=3`` as a multi-dict: ``q["a"] == "1"``, ``q.getall("a") == ["1", "3"]``."""

    __slots__ = ()

    max_fields = 1000  # parse_qsl refuses more; the request is then a 400

    def get(self, key: str, default: T | None = None) -> str | T | None:
        pairs = self._pairs
        if self._index is None and len(pairs) <= 8:  # a short scan beats building the index
            for name, value in pairs:
                if name == key:
                    return value
            return default
        return MultiDict.get(self, key, default)

    @classmethod
    def from_bytes(cls, query: bytes) -> QueryParams:
        if not query:
            return cls([])
        if b"%" not in query and b"+" not in query:
            # Nothing to unquote (the common case, e.g. ?queries=20): split by hand,
            # exactly as parse_qsl would, at a fraction of its cost.
            if b"&" not in query:  # one parameter (?count=20)
                name, _, value = query.decode("latin-1").partition("=")
                return cls([(name, value)])
            if query.count(b"&") >= cls.max_fields:
                raise HTTPError(400, f"more than {cls.max_fields} query parameters")
            return cls(
                [
                    (name, value)
                    for name, sep, value in (
                        piece.partition("=") for piece in query.decode("latin-1").split("&")
                    )
                    if name or sep or value
                ]
            )
        try:
            pairs = parse_qsl(
                query.decode("latin-1"),
                keep_blank_values=True,
                encoding="utf-8",
                errors="replace",
                max_num_fields=cls.max_fields,
            )
        except ValueError:
            raise HTTPError(400, f"more than {cls.max_fields} query parameters") from None
        return cls(pairs)


def parse_fields(head: bytes) -> list[tuple[str, str]]:
    """The header fields of a request head (request line first, no final blank line)."""
    lines = head.lstrip(b"\r\n").split(b"\r\n")
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields.append((name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
    return fields
