"""Main-context state that parallel contexts may read and never mutate.

``share(obj)`` returns a deep-frozen copy of ``obj``: dicts become
:class:`FrozenDict`, lists :class:`FrozenList`, sets ``frozenset``,
bytearrays ``bytes``, numpy arrays lose their write flag, and objects that are
already immutable (numbers, strings, tuples of immutables, frozen dataclasses,
marisa tries, mmaps) pass through.  Anything else is refused with a
``TypeError``, because a mutable object that slipped through would make the
``processes`` engine (each worker mutates its own copy) and the ``threads``
engine (all workers mutate one object) mean different things.

Dicts and lists of plain data with at least ``PACK_MIN_ENTRIES`` entries
become a :class:`PackedDict` or :class:`PackedList` instead (``packed.py``):
reading a builtin container writes its objects' reference counts, which on
the ``processes`` engine copies every page a worker reads; a packed one has no
object per entry to write.

The frozen containers are subclasses of ``dict`` and ``list`` so reads cost
exactly what they cost on the builtins; only the mutating methods are
replaced, and they raise :class:`ParallelContextError` naming the type and the
operation.  (numpy raises its own ``ValueError: assignment destination is
read-only``; the array's memory is never written either way.)

Guard mode (``run(guard=True)``) additionally watches the application
module's globals: a parallel context that rebinds one, or mutates a plain
mutable container bound at module level, is reported by name.
"""

from __future__ import annotations

import dataclasses
import mmap
import sys
import types
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, TypeGuard, TypeVar, overload

from .context import ParallelContextError, context_name
from .packed import PackedDict, PackedList, all_plain

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "PACK_MIN_ENTRIES",
    "FrozenDict",
    "FrozenList",
    "GlobalsGuard",
    "PackedDict",
    "PackedList",
    "register_immutable",
    "share",
]

# Below this many entries a private copy per worker costs at most a few MB, less than
# the slower reads of a packed container would cost the program.
PACK_MIN_ENTRIES = 10_000

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

_IMMUTABLE_TYPES: set[type] = {
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    range,
    frozenset,
    memoryview,
    types.FunctionType,
    types.BuiltinFunctionType,
    type,
    types.ModuleType,
    mmap.mmap,
}
# Known immutable third-party types, matched by module and name so we never import them.
_IMMUTABLE_NAMES = {
    ("marisa_trie", "Trie"),
    ("marisa_trie", "BinaryTrie"),
    ("marisa_trie", "BytesTrie"),
    ("marisa_trie", "RecordTrie"),
    ("datetime", "date"),
    ("datetime", "datetime"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("decimal", "Decimal"),
    ("fractions", "Fraction"),
    ("uuid", "UUID"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
    ("re", "Pattern"),
}


def register_immutable(cls: type) -> type:
    """Declare that instances of ``cls`` never change, so :func:`share` passes them through.

    Usable as a class decorator.
    """
    _IMMUTABLE_TYPES.add(cls)
    return cls


def _refuse(obj: object, operation: str) -> NoReturn:
    raise ParallelContextError(
        f"cannot {operation} on shared {type(obj).__name__} from {context_name()}: "
        "state returned by manycore.share() is read-only in every context. Keep "
        "per-connection state on the protocol instance, per-worker state in an "
        "on_worker_start hook, or ask the main context with call_from_main_thread()."
    )


def _mutator(name: str) -> Callable[..., NoReturn]:
    def method(self: object, *args: object, **kwargs: object) -> NoReturn:
        _refuse(self, name)

    method.__name__ = name
    return method


def _forbid_mutation(names: str, *classes: type) -> None:
    """The methods ``names`` (space-separated) of every class raise ParallelContextError."""
    for name in names.split():
        for cls in classes:
            setattr(cls, name, _mutator(name))


class FrozenDict(dict[K, V]):
    """A ``dict`` whose mutating methods raise :class:`ParallelContextError`."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[FrozenDict[K, V]], tuple[dict[K, V]]]:
        return (FrozenDict, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def copy(self) -> dict[K, V]:
        """A plain, mutable ``dict`` copy (for code that wants to build on it)."""
        return dict(self)


_forbid_mutation(
    "__setitem__ __delitem__ __ior__ clear pop popitem setdefault update", FrozenDict, PackedDict
)


class FrozenList(list[T]):
    """A ``list`` whose mutating methods raise :class:`ParallelContextError`."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[FrozenList[T]], tuple[list[T]]]:
        return (FrozenList, (list(self),))

    def __repr__(self) -> str:
        return f"FrozenList({list.__repr__(self)})"

    # list declares itself unhashable (__hash__ = None); a frozen list hashes like a tuple.
    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))

    def copy(self) -> list[T]:
        """A plain, mutable ``list`` copy."""
        return list(self)


_forbid_mutation(
    "__setitem__ __delitem__ __iadd__ __imul__ append extend insert pop remove clear sort reverse",
    FrozenList,
    PackedList,
)


# The overloads name the frozen type a container becomes; everything else keeps its type.
@overload
def share(obj: dict[K, V], *, pack: bool | None = None) -> FrozenDict[K, V] | PackedDict[K, V]: ...
@overload
def share(obj: list[T], *, pack: bool | None = None) -> FrozenList[T] | PackedList[T]: ...
@overload
def share(obj: set[T] | frozenset[T], *, pack: bool | None = None) -> frozenset[T]: ...
@overload
def share(obj: bytearray, *, pack: bool | None = None) -> bytes: ...
@overload
def share(obj: T, *, pack: bool | None = None) -> T: ...
def share(obj: object, *, pack: bool | None = None) -> object:
    """Deep-freeze ``obj`` so every parallel context can read it and none can change it.

    Call it in the main context while loading state, before ``manycore.run()``.
    Returns the frozen object (dicts and lists are copied once; numpy arrays are
    frozen in place, since copying gigabytes is never what you want).

    Dicts and lists of plain data (see :mod:`manycore.packed`) with at least
    ``PACK_MIN_ENTRIES`` entries become a :class:`PackedDict` or :class:`PackedList`,
    which reading never copies into a forked worker; ``pack=True`` packs every
    such container whatever its size, ``pack=False`` none.
    """
    return _freeze(obj, {}, pack)


def _should_pack(obj: dict[Any, Any] | list[Any], pack: bool | None) -> bool:
    if pack is False or (pack is None and len(obj) < PACK_MIN_ENTRIES):
        return False
    if isinstance(obj, dict):
        return all_plain(obj.keys()) and all_plain(obj.values())
    return all_plain(obj)


def _freeze(obj: Any, memo: dict[int, Any], pack: bool | None) -> Any:
    cls = type(obj)
    if cls in _IMMUTABLE_TYPES or cls in _FROZEN_CONTAINERS:
        return obj
    key = id(obj)
    if key in memo:
        return memo[key]
    if isinstance(obj, dict):
        if _should_pack(obj, pack):
            frozen: Any = PackedDict(obj)
        else:
            frozen = FrozenDict(
                (_freeze(k, memo, pack), _freeze(v, memo, pack)) for k, v in obj.items()
            )
    elif isinstance(obj, list):
        if _should_pack(obj, pack):
            frozen = PackedList(obj)
        else:
            frozen = FrozenList(_freeze(v, memo, pack) for v in obj)
    elif isinstance(obj, tuple):
        items = tuple(_freeze(v, memo, pack) for v in obj)
        frozen = (
            obj if all(a is b for a, b in zip(items, obj, strict=True)) else _rebuild(obj, items)
        )
    elif isinstance(obj, set | frozenset):
        frozen = frozenset(_freeze(v, memo, pack) for v in obj)
    elif isinstance(obj, bytearray):
        frozen = bytes(obj)
    elif _is_numpy_array(obj):
        frozen = _freeze_numpy(obj)
    elif (
        _is_frozen_dataclass(obj)
        or _is_known_immutable(cls)
        or isinstance(obj, mmap.mmap | int | float | str | bytes)  # incl. IntEnum & co.
    ):
        frozen = obj
    else:
        raise TypeError(
            f"manycore.share() cannot freeze a {cls.__module__}.{cls.__qualname__}: it is "
            "not a dict, list, tuple, set, numpy array or known immutable type. Convert it "
            "to one of those, make it a frozen dataclass, or declare it immutable with "
            "manycore.shared.register_immutable(YourType)."
        )
    memo[key] = frozen
    return frozen


_FROZEN_CONTAINERS = frozenset({FrozenDict, FrozenList, PackedDict, PackedList})


def _rebuild(original: tuple[Any, ...], items: tuple[Any, ...]) -> tuple[Any, ...]:
    if hasattr(original, "_fields"):  # namedtuple
        return type(original)(*items)
    return items


def _is_known_immutable(cls: type) -> bool:
    return any((c.__module__.split(".")[0], c.__name__) in _IMMUTABLE_NAMES for c in cls.__mro__)


def _is_frozen_dataclass(obj: object) -> bool:
    params = getattr(type(obj), "__dataclass_params__", None)
    return dataclasses.is_dataclass(obj) and params is not None and params.frozen


def _is_numpy_array(obj: object) -> TypeGuard[npt.NDArray[Any]]:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(obj, numpy.ndarray)


def _freeze_numpy(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if array.dtype.hasobject:
        raise TypeError(
            "manycore.share() cannot freeze a numpy array of Python objects: the objects "
            "inside could still be mutated; use a numeric or fixed-width string dtype"
        )
    array.setflags(write=False)
    return array


# --------------------------------------------------------------------------- guard mode

_MUTABLE_GLOBAL_TYPES = (dict, list, set, bytearray)


class GlobalsGuard:
    """Detects parallel contexts that rebind or mutate an application module's globals.

    A snapshot of every global's identity (and a shallow copy of plain mutable
    containers) is taken when the engine starts; :meth:`check` compares against
    it after each protocol callback and raises :class:`ParallelContextError`
    naming the first offending global, after putting the original binding (or
    contents) back so the main context's state stays pristine.
    """

    def __init__(self, modules: Iterable[types.ModuleType]) -> None:
        self._modules = [m for m in modules if m is not None]
        self._bindings = {m.__name__: dict(vars(m)) for m in self._modules}
        self._originals = {
            (m.__name__, name): (value.copy(), _fingerprint(value))
            for m in self._modules
            for name, value in vars(m).items()
            if type(value) in _MUTABLE_GLOBAL_TYPES
        }

    def check(self) -> None:
        for module in self._modules:
            namespace = vars(module)
            before = self._bindings[module.__name__]
            if namespace.keys() != before.keys():
                added = sorted(namespace.keys() - before.keys())
                removed = sorted(before.keys() - namespace.keys())
                for name in added:
                    del namespace[name]
                namespace.update({name: before[name] for name in removed})
                culprit = (added or removed)[0]
                self._report(module, culprit, "bound" if added else "deleted")
            for name, value in before.items():
                if namespace[name] is not value:
                    namespace[name] = value
                    self._report(module, name, "rebound")
                original = self._originals.get((module.__name__, name))
                if original is not None and _fingerprint(value) != original[1]:
                    _restore_contents(value, original[0])
                    self._report(module, name, f"mutated ({type(value).__name__})")

    def _report(self, module: types.ModuleType, name: str, what: str) -> NoReturn:
        raise ParallelContextError(
            f"guard: {context_name()} {what} the global {module.__name__}.{name}; "
            "main-context state must not change after manycore.run() starts. Use "
            "manycore.share() for read-only state, or per-connection/per-worker state."
        )


def _restore_contents(value: Any, original: Any) -> None:
    if isinstance(value, dict | set):
        value.clear()
        value.update(original)
    else:  # list, bytearray
        value[:] = original


def _fingerprint(value: Any) -> tuple[object, ...]:
    if isinstance(value, dict):
        return (len(value), tuple(map(id, value.keys())), tuple(map(id, value.values())))
    if isinstance(value, set):
        return (len(value), frozenset(map(id, value)))
    if isinstance(value, bytearray):
        return (bytes(value),)
    return (len(value), tuple(map(id, value)))
