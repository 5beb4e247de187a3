"""share() packs big dicts and lists of plain data: they read like the originals and stay frozen."""

from __future__ import annotations

import enum
import pickle
from collections import namedtuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from manycore import (
    FrozenDict,
    FrozenList,
    PackedDict,
    PackedList,
    ParallelContextError,
    share,
)
from manycore.shared import PACK_MIN_ENTRIES

BIG = PACK_MIN_ENTRIES


def big_dict() -> dict[str, tuple[int, str, float, bool, None, bytes]]:
    return {f"key{i}": (i, f"value{i}", i / 4, i % 2 == 0, None, b"%d" % i) for i in range(BIG)}


def test_a_big_dict_of_plain_data_is_packed_and_reads_like_the_original():
    original = big_dict()
    table = share(original)
    assert type(table) is PackedDict
    assert table == original and original == table
    assert len(table) == BIG
    assert list(table) == list(original)  # insertion order
    assert list(table.keys()) == list(original.keys())
    assert list(table.values()) == list(original.values())
    assert list(table.items()) == list(original.items())
    assert table["key7"] == (7, "value7", 1.75, False, None, b"7")
    assert table.get("key8") == original["key8"] and table.get("missing", 0) == 0
    assert "key9" in table and "missing" not in table
    assert "key9" in table.keys() and ("key9", original["key9"]) in table.items()  # noqa: SIM118
    assert original["key3"] in table.values()
    assert table.items() == original.items()
    with pytest.raises(KeyError, match="missing"):
        table["missing"]


def test_every_read_returns_a_fresh_equal_object():
    table = share(big_dict())
    first, again = table["key1"], table["key1"]
    assert first == again and first is not again


def test_lookups_compare_keys_like_a_dict():
    table = share({1: "one", (2, "x"): "pair", -1: "minus one", -2: "minus two"}, pack=True)
    assert type(table) is PackedDict
    assert table[1.0] == table[True] == "one"  # 1 == 1.0 == True, as in a dict
    assert table[(2, "x")] == "pair"
    assert table[-1] == "minus one" and table[-2] == "minus two"  # hash(-1) == hash(-2)
    with pytest.raises(TypeError, match="unhashable"):
        table[[1]]  # type: ignore[index]


def test_keys_whose_hashes_share_their_low_bits_are_all_found():
    keys = [i << 40 for i in range(2000)]  # every key lands in slot 0 first
    table = share(dict.fromkeys(keys, "v"), pack=True)
    assert all(table[key] == "v" for key in keys)
    assert (1 << 39) not in table


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.__setitem__("x", 1), "cannot __setitem__ on shared PackedDict"),
        (lambda t: t.__delitem__("key1"), "cannot __delitem__ on shared PackedDict"),
        (lambda t: t.pop("key1"), "cannot pop on shared PackedDict"),
        (lambda t: t.popitem(), "cannot popitem on shared PackedDict"),
        (lambda t: t.setdefault("x", 1), "cannot setdefault on shared PackedDict"),
        (lambda t: t.update(x=1), "cannot update on shared PackedDict"),
        (lambda t: t.clear(), "cannot clear on shared PackedDict"),
        (lambda t: t.__ior__({"x": 1}), "cannot __ior__ on shared PackedDict"),
    ],
)
def test_every_mutation_of_a_packed_dict_raises_and_names_it(mutate, message):
    table = share(big_dict())
    with pytest.raises(ParallelContextError, match=message):
        mutate(table)
    assert len(table) == BIG and "x" not in table


def test_statement_forms_of_mutation_are_refused():
    table = share(big_dict())
    with pytest.raises(ParallelContextError):
        table["x"] = (1,)
    with pytest.raises(ParallelContextError):
        del table["key1"]
    with pytest.raises(ParallelContextError):
        table |= {"x": (1,)}


def test_copy_and_merge_give_plain_mutable_dicts():
    table = share({"a": 1, "b": 2}, pack=True)
    mine = table.copy()
    mine["c"] = 3
    assert type(mine) is dict and table == {"a": 1, "b": 2}
    assert table | {"b": 9} == {"a": 1, "b": 9}
    assert {"b": 9, "z": 0} | table == {"b": 2, "z": 0, "a": 1}


def test_repr_shows_the_first_entries_and_the_size():
    assert repr(share({"a": (1, "x")}, pack=True)) == "PackedDict({'a': (1, 'x')})"
    text = repr(share(big_dict()))
    assert text.startswith("PackedDict({'key0': (0, 'value0', 0.0, True, None, b'0'), ")
    assert text.endswith(f", ...}}, {BIG} entries)")
    assert repr(share([1, "two"], pack=True)) == "PackedList([1, 'two'])"
    assert repr(share(list(range(BIG)))).endswith(f", ...], {BIG} items)")


def test_packed_containers_pickle_and_stay_packed():
    table = share({"a": (1, 2), "b": None}, pack=True)
    again = pickle.loads(pickle.dumps(table))
    assert type(again) is PackedDict and again == table
    items = share([1, (2, "x")], pack=True)
    assert pickle.loads(pickle.dumps(items)) == items


def test_sharing_twice_returns_the_same_packed_container():
    table = share(big_dict())
    assert share(table) is table
    assert share({"t": table})["t"] is table


def test_small_containers_and_pack_false_stay_frozen_builtins():
    assert type(share({"a": 1})) is FrozenDict
    assert type(share(list(range(BIG - 1)))) is FrozenList
    assert type(share(big_dict(), pack=False)) is FrozenDict


Point = namedtuple("Point", "x y")


class Colour(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    "value",
    [[1], {"a": 1}, {1}, Point(1, 2), Colour.RED, (1, [2]), bytearray(b"x")],
    ids=["list", "dict", "set", "namedtuple", "intenum", "tuple-with-list", "bytearray"],
)
def test_containers_holding_anything_but_plain_data_stay_frozen_builtins(value):
    source = {f"k{i}": i for i in range(BIG)}
    source["odd"] = value
    table = share(source, pack=True)
    assert type(table) is FrozenDict
    assert type(share([*range(BIG), value], pack=True)) is FrozenList


def test_a_big_plain_dict_inside_other_state_is_packed_in_place():
    state = share({"index": big_dict(), "names": ["a", "b"]})
    assert type(state) is FrozenDict
    assert type(state["index"]) is PackedDict and type(state["names"]) is FrozenList


def test_a_big_list_of_plain_data_is_packed_and_reads_like_the_original():
    original = [(i, str(i)) for i in range(BIG)]
    items = share(original)
    assert type(items) is PackedList
    assert items == original and original == items and items == share(original, pack=False)
    assert len(items) == BIG and list(items) == original
    assert items[0] == (0, "0") and items[-1] == (BIG - 1, str(BIG - 1))
    assert items[10:13] == original[10:13] and items[::-4000] == original[::-4000]
    assert items.index((5, "5")) == 5 and items.count((5, "5")) == 1 and (6, "6") in items
    assert list(reversed(items))[:2] == original[::-1][:2]
    assert items != tuple(original)  # like a list, unlike a tuple
    assert hash(items) == hash(FrozenList(original)) == hash(tuple(original))
    assert items + [1] == [*original, 1] and [1] + items == [1, *original]  # noqa: RUF005
    for index in (BIG, -BIG - 1):
        with pytest.raises(IndexError):
            items[index]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.append(1), "cannot append on shared PackedList"),
        (lambda s: s.extend([1]), "cannot extend on shared PackedList"),
        (lambda s: s.insert(0, 1), "cannot insert on shared PackedList"),
        (lambda s: s.pop(), "cannot pop on shared PackedList"),
        (lambda s: s.remove(1), "cannot remove on shared PackedList"),
        (lambda s: s.sort(), "cannot sort on shared PackedList"),
        (lambda s: s.reverse(), "cannot reverse on shared PackedList"),
        (lambda s: s.clear(), "cannot clear on shared PackedList"),
        (lambda s: s.__setitem__(0, 1), "cannot __setitem__ on shared PackedList"),
        (lambda s: s.__delitem__(0), "cannot __delitem__ on shared PackedList"),
        (lambda s: s.__iadd__([1]), "cannot __iadd__ on shared PackedList"),
        (lambda s: s.__imul__(2), "cannot __imul__ on shared PackedList"),
    ],
)
def test_every_mutation_of_a_packed_list_raises_and_names_it(mutate, message):
    items = share([3, 1, 2], pack=True)
    with pytest.raises(ParallelContextError, match=message):
        mutate(items)
    assert items == [3, 1, 2]


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
plain = st.recursive(
    scalars, lambda inner: st.tuples(inner, inner) | st.tuples(inner), max_leaves=6
)


@given(st.dictionaries(plain, plain, max_size=60), st.lists(plain, max_size=10))
def test_a_packed_dict_answers_every_lookup_as_the_dict_does(source, probes):
    table = share(source, pack=True)
    assert type(table) is PackedDict
    assert table == source and list(table.items()) == list(source.items())
    for key in [*source, *probes]:
        assert (key in table) == (key in source)
        assert table.get(key, "absent") == source.get(key, "absent")


@given(st.lists(plain, max_size=60))
def test_a_packed_list_reads_as_the_list_does(source):
    items = share(source, pack=True)
    assert type(items) is PackedList
    assert items == source and list(items) == source and len(items) == len(source)
