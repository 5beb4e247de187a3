"""share(): deep freezing, and the errors that say what was attempted."""

from __future__ import annotations

import dataclasses
import mmap
import pickle
from collections import namedtuple

import numpy as np
import pytest

import manycore
from manycore import FrozenDict, FrozenList, ParallelContextError, share


def test_containers_are_frozen_deeply_and_read_like_the_originals():
    state = share({"a": [1, {"b": {2, 3}}], "c": bytearray(b"xy"), "t": (1, [2])})
    assert state == {"a": [1, {"b": {2, 3}}], "c": b"xy", "t": (1, [2])}
    assert type(state) is FrozenDict
    assert type(state["a"]) is FrozenList
    assert type(state["a"][1]["b"]) is frozenset
    assert type(state["c"]) is bytes
    assert type(state["t"][1]) is FrozenList
    assert isinstance(state, dict) and isinstance(state["a"], list)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.__setitem__("x", 1), "cannot __setitem__ on shared FrozenDict"),
        (lambda s: s.pop("a"), "cannot pop on shared FrozenDict"),
        (lambda s: s.setdefault("x", 1), "cannot setdefault on shared FrozenDict"),
        (lambda s: s.clear(), "cannot clear on shared FrozenDict"),
        (lambda s: s["a"].append(4), "cannot append on shared FrozenList"),
        (lambda s: s["a"].sort(), "cannot sort on shared FrozenList"),
        (lambda s: s["a"].__setitem__(0, 9), "cannot __setitem__ on shared FrozenList"),
        (lambda s: s["a"].__iadd__([1]), "cannot __iadd__ on shared FrozenList"),
    ],
)
def test_every_mutation_raises_and_names_the_type_and_operation(mutate, message):
    state = share({"a": [3, 1, 2]})
    with pytest.raises(ParallelContextError, match=message):
        mutate(state)
    assert state == {"a": [3, 1, 2]}


def test_del_and_augmented_assignment_are_refused():
    state = share({"a": [1], "n": 1})
    with pytest.raises(ParallelContextError):
        del state["a"]
    with pytest.raises(ParallelContextError):
        state |= {"x": 1}
    with pytest.raises(ParallelContextError):
        state["a"] += [2]


def test_copy_gives_a_mutable_plain_container():
    state = share({"a": [1]})
    mine = state.copy()
    mine["b"] = 2
    assert type(mine) is dict and state == {"a": [1]}


def test_numpy_arrays_become_read_only_without_a_copy():
    array = np.arange(10)
    shared = share({"array": array})["array"]
    assert shared is array
    with pytest.raises(ValueError, match="read-only"):
        shared[0] = 5


def test_numpy_object_arrays_are_refused():
    with pytest.raises(TypeError, match="array of Python objects"):
        share(np.array([{}, []], dtype=object))


def test_immutable_and_mmap_objects_pass_through():
    Point = namedtuple("Point", "x y")

    @dataclasses.dataclass(frozen=True)
    class Frozen:
        x: int

    buffer = mmap.mmap(-1, 16)
    frozen = Frozen(1)
    state = share({"m": buffer, "p": Point(1, [2]), "f": frozen, "s": "text", "n": None})
    assert state["m"] is buffer and state["f"] is frozen
    assert state["p"] == Point(1, [2]) and type(state["p"]) is Point
    assert type(state["p"].y) is FrozenList
    buffer.close()


def test_unknown_mutable_objects_are_refused_with_the_fix():
    class Cache:
        pass

    with pytest.raises(TypeError, match=r"cannot freeze a .*Cache.*register_immutable"):
        share({"cache": Cache()})

    manycore.register_immutable(Cache)
    cache = Cache()
    assert share({"cache": cache})["cache"] is cache


def test_frozen_containers_pickle_and_stay_frozen():
    state = share({"a": [1, 2]})
    again = pickle.loads(pickle.dumps(state))
    assert again == state and type(again) is FrozenDict and type(again["a"]) is FrozenList


def test_shared_structures_keep_identity_of_repeated_objects():
    inner = [1, 2]
    state = share({"x": inner, "y": inner})
    assert state["x"] is state["y"]
