"""Plain data packed into a few flat buffers, so that reading it writes no shared memory.

On the ``processes`` engine the workers share the main context's pages copy
on write.  Reading a Python object writes its reference count, so a worker
that reads a big dict of tuples copies every page it touches, until it holds
a private copy of the whole dict; ``gc.freeze()`` stops the collector's
writes, not these.  CPython 3.11 has no immortal objects to avoid them.

:class:`PackedDict` and :class:`PackedList` hold no Python object per entry:
each key and value is encoded with :mod:`marshal` into one ``bytes`` blob,
and the index (offsets, key hashes and an open-addressing hash table) lives
in ``array.array`` buffers.  A read decodes the entry it needs into fresh
objects, equal to the originals; the only shared memory it writes is the
reference count in the header of a handful of container objects.

Only *plain data* packs: ``str``, ``bytes``, ``int``, ``float``, ``complex``,
``bool``, ``None`` and tuples of them (exact types, so enums and namedtuples
keep their identity in a :class:`~manycore.FrozenDict` instead).  Keys hash
with the process's own ``hash()``, which forked workers and threads share;
a pickled packed container is rebuilt, and so rehashed, where it is loaded.
"""

from __future__ import annotations

import marshal
from array import array
from collections.abc import ItemsView, Iterable, Iterator, Mapping, Sequence, ValuesView
from itertools import chain, islice
from typing import Any, TypeVar, overload

__all__ = ["PackedDict", "PackedList", "all_plain", "is_plain"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

_loads = marshal.loads
_PLAIN_SCALARS = frozenset({str, bytes, int, float, complex, bool, type(None)})
_UNSIGNED_64 = (1 << 64) - 1
_PERTURB_SHIFT = 5  # CPython's dict probing (Objects/dictobject.c), so ints spread too
_REPR_ENTRIES = 8


def is_plain(obj: object) -> bool:
    """Whether ``obj`` survives a marshal round trip as an equal, immutable value."""
    cls = type(obj)
    if cls in _PLAIN_SCALARS:
        return True
    return cls is tuple and all(map(is_plain, obj))  # type: ignore[call-overload]


def all_plain(values: Iterable[object]) -> bool:
    """Whether every one of ``values`` is plain data (stops at the first that is not)."""
    return all(map(is_plain, values))


class _Blob:
    """Values encoded end to end in one ``bytes``; ``bounds[i]:bounds[i + 1]`` is one value."""

    __slots__ = ("bounds", "data")

    def __init__(self, values: Iterable[Any]) -> None:
        # One growing buffer, not a list of parts: each encoded value is freed at once, so
        # packing a million entries leaves no million small objects for the allocator to keep.
        data, bounds, dumps = bytearray(), array("q", [0]), marshal.dumps
        for value in values:
            data += dumps(value)
            bounds.append(len(data))
        self.bounds = bounds
        self.data = bytes(data)

    def load(self, index: int) -> Any:
        bounds = self.bounds
        return _loads(self.data[bounds[index] : bounds[index + 1]])

    def nbytes(self) -> int:
        return len(self.data) + self.bounds.itemsize * len(self.bounds)


class PackedDict(Mapping[K, V]):
    """A read-only mapping of plain data whose entries are no Python objects until read.

    Iterates in insertion order; compares equal to any mapping with equal items.
    """

    __slots__ = ("_hashes", "_mask", "_records", "_slots")

    # Entry e's key is record 2e and its value record 2e + 1, so one lookup reads one
    # stretch of the blob; ``_slots`` maps a hash's slot to an entry, -1 when empty.
    _records: _Blob
    _hashes: array[int]
    _slots: array[int]
    _mask: int

    def __init__(self, source: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        items = source if isinstance(source, dict) else dict(source)
        self._records = _Blob(chain.from_iterable(items.items()))
        self._hashes = array("q", map(hash, items.keys()))
        capacity = 8
        while capacity < 2 * len(items):  # at most half full: short probe chains
            capacity *= 2
        self._mask = mask = capacity - 1
        self._slots = slots = array("i", [-1]) * capacity
        for entry, key_hash in enumerate(self._hashes):
            slot, perturb = key_hash & mask, key_hash & _UNSIGNED_64
            while slots[slot] >= 0:
                perturb >>= _PERTURB_SHIFT
                slot = (slot * 5 + perturb + 1) & mask
            slots[slot] = entry

    def _find(self, key: object) -> int:
        """The record index of ``key``'s value, or -1 (the same probe sequence as the build)."""
        key_hash = hash(key)
        mask, slots, hashes = self._mask, self._slots, self._hashes
        bounds, data = self._records.bounds, self._records.data
        slot, perturb = key_hash & mask, key_hash & _UNSIGNED_64
        while True:
            entry = slots[slot]
            if entry < 0:
                return -1
            if hashes[entry] == key_hash:
                value_at = 2 * entry + 1
                if _loads(data[bounds[value_at - 1] : bounds[value_at]]) == key:
                    return value_at
            perturb >>= _PERTURB_SHIFT
            slot = (slot * 5 + perturb + 1) & mask

    def __getitem__(self, key: K) -> V:
        value_at = self._find(key)
        if value_at < 0:
            raise KeyError(key)
        bounds = self._records.bounds
        value: V = _loads(self._records.data[bounds[value_at] : bounds[value_at + 1]])
        return value

    def get(self, key: object, default: Any = None) -> Any:
        value_at = self._find(key)
        return default if value_at < 0 else self._records.load(value_at)

    def __contains__(self, key: object) -> bool:
        return self._find(key) >= 0

    def __len__(self) -> int:
        return len(self._hashes)

    def __iter__(self) -> Iterator[K]:
        return map(self._records.load, range(0, 2 * len(self), 2))

    def _values_in_order(self) -> Iterator[V]:
        return map(self._records.load, range(1, 2 * len(self), 2))

    def _items_in_order(self) -> Iterator[tuple[K, V]]:
        return zip(self, self._values_in_order(), strict=True)

    def values(self) -> ValuesView[V]:
        return _PackedValues(self)

    def items(self) -> ItemsView[K, V]:
        return _PackedItems(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        if len(other) != len(self):
            return False
        missing = object()
        return all(other.get(key, missing) == value for key, value in self._items_in_order())

    __hash__ = None  # type: ignore[assignment]  # a mapping, like dict

    def __or__(self, other: object) -> dict[Any, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: object) -> dict[Any, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = dict(other)
        merged.update(self._items_in_order())
        return merged

    def copy(self) -> dict[K, V]:
        """A plain, mutable ``dict`` with every entry decoded."""
        return dict(self._items_in_order())

    def __reduce__(self) -> tuple[type[PackedDict[K, V]], tuple[dict[K, V]]]:
        return (PackedDict, (self.copy(),))

    def __repr__(self) -> str:
        shown = islice(self._items_in_order(), _REPR_ENTRIES)
        body = ", ".join(f"{key!r}: {value!r}" for key, value in shown)
        if len(self) > _REPR_ENTRIES:
            return f"PackedDict({{{body}, ...}}, {len(self)} entries)"
        return f"PackedDict({{{body}}})"

    def nbytes(self) -> int:
        """The size of the buffers that hold the entries (they are shared, not copied)."""
        return (
            self._records.nbytes()
            + self._hashes.itemsize * len(self._hashes)
            + self._slots.itemsize * len(self._slots)
        )


class _PackedValues(ValuesView[V]):
    """``PackedDict.values()``: decodes in one pass instead of one lookup per key."""

    _mapping: PackedDict[Any, V]

    def __iter__(self) -> Iterator[V]:
        return self._mapping._values_in_order()


class _PackedItems(ItemsView[K, V]):
    """``PackedDict.items()``, set-like as ``dict.items()``, decoded in one pass."""

    _mapping: PackedDict[K, V]

    def __iter__(self) -> Iterator[tuple[K, V]]:
        return self._mapping._items_in_order()


class PackedList(Sequence[T]):
    """A read-only sequence of plain data whose items are no Python objects until read.

    Compares equal to lists (and frozen lists) with equal items, and hashes like
    the tuple of its items, as :class:`~manycore.FrozenList` does.
    """

    __slots__ = ("_items",)

    _items: _Blob

    def __init__(self, source: Iterable[T] = ()) -> None:
        self._items = _Blob(source)

    def __len__(self) -> int:
        return len(self._items.bounds) - 1

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._items.load(i) for i in range(*index.indices(len(self)))]
        length = len(self)
        position = index.__index__()
        if position < 0:
            position += length
        if not 0 <= position < length:
            raise IndexError("PackedList index out of range")
        item: T = self._items.load(position)
        return item

    def __iter__(self) -> Iterator[T]:
        return map(self._items.load, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list | PackedList):
            return NotImplemented
        return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __add__(self, other: object) -> list[Any]:
        if not isinstance(other, list | PackedList):
            return NotImplemented
        return [*self, *other]

    def __radd__(self, other: object) -> list[Any]:
        if not isinstance(other, list):
            return NotImplemented
        return [*other, *self]

    def copy(self) -> list[T]:
        """A plain, mutable ``list`` with every item decoded."""
        return list(self)

    def __reduce__(self) -> tuple[type[PackedList[T]], tuple[list[T]]]:
        return (PackedList, (self.copy(),))

    def __repr__(self) -> str:
        shown = ", ".join(repr(self._items.load(i)) for i in range(min(len(self), _REPR_ENTRIES)))
        if len(self) > _REPR_ENTRIES:
            return f"PackedList([{shown}, ...], {len(self)} items)"
        return f"PackedList([{shown}])"

    def nbytes(self) -> int:
        """The size of the buffers that hold the items (they are shared, not copied)."""
        return self._items.nbytes()
