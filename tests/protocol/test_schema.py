import enum
import math
from dataclasses import dataclass

import pytest

from protocol.buffers import Blob, WireArray
from protocol.schema import Plain, Record, SchemaError, from_plain, param, to_plain


class Colour(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner(Record):
    ratio: float = param(0.5, ge=0.0, le=1.0)
    tags: tuple[str, ...] = param((), max_len=3)


@dataclass(frozen=True)
class Outer(Record):
    name: str = param(pattern=r"[a-z]+", max_len=10)
    count: int = param(1, ge=0)
    flag: bool = False
    colour: Colour = Colour.RED
    inner: Inner = param(factory=Inner)
    maybe: Inner | None = None
    table: dict[str, int] = param(factory=dict, max_len=4)
    anything: Plain = None
    blob: Blob | None = None


def test_converts_nested_plain_data():
    outer = from_plain(Outer, {"name": "abc", "inner": {"ratio": 1, "tags": ["a"]}, "colour": "blue", "maybe": {}})
    assert outer.inner == Inner(ratio=1.0, tags=("a",))
    assert isinstance(outer.inner.ratio, float)
    assert outer.colour is Colour.BLUE and outer.maybe == Inner()


def test_unknown_fields_are_ignored_and_missing_required_named():
    assert from_plain(Outer, {"name": "abc", "from_the_future": 1}).name == "abc"
    with pytest.raises(SchemaError, match="name: is required"):
        from_plain(Outer, {})


@pytest.mark.parametrize(
    "data, path, words",
    [
        ({"name": "ABC"}, "name", "does not match"),
        ({"name": "a" * 11}, "name", "at most 10"),
        ({"name": "a", "count": -1}, "count", "≥ 0"),
        ({"name": "a", "count": True}, "count", "expected an integer"),
        ({"name": "a", "count": 1.0}, "count", "expected an integer"),
        ({"name": "a", "flag": 1}, "flag", "true or false"),
        ({"name": "a", "colour": "green"}, "colour", "one of"),
        ({"name": "a", "inner": {"ratio": 2}}, "inner.ratio", "≤ 1.0"),
        ({"name": "a", "inner": {"ratio": math.nan}}, "inner.ratio", "finite"),
        ({"name": "a", "inner": {"ratio": math.inf}}, "inner.ratio", "finite"),
        ({"name": "a", "inner": {"tags": ["a", 1]}}, "inner.tags.[1]", "expected a string"),
        ({"name": "a", "inner": {"tags": ["a"] * 4}}, "inner.tags", "at most 3"),
        ({"name": "a", "inner": []}, "inner", "expected a map"),
        ({"name": "a", "table": {"x": "y"}}, "table.x", "integer"),
        ({"name": "a", "table": {str(i): i for i in range(5)}}, "table", "at most 4"),
        ({"name": "a", "blob": {"__buffer__": 0}}, "blob", "names no frame"),
        ({"name": "a", "blob": "bytes?"}, "blob", "buffer reference"),
    ],
)
def test_errors_name_the_field(data, path, words):
    with pytest.raises(SchemaError) as info:
        from_plain(Outer, data)
    assert info.value.path == path
    assert words in str(info.value)


def test_direct_construction_is_validated_too():
    with pytest.raises(SchemaError, match="count"):
        Outer(name="a", count=-5)


def test_buffers_round_trip_through_references():
    array = WireArray("<f4", (2,), b"\0" * 8)

    @dataclass(frozen=True)
    class Carrier(Record):
        blob: Blob
        array: WireArray

    buffers: list = []
    plain = to_plain(Carrier(blob=Blob(b"xyz"), array=array), buffers)
    assert plain == {"blob": {"__buffer__": 0}, "array": {"__array__": 1, "dtype": "<f4", "shape": [2]}}
    back = from_plain(Carrier, plain, [b"xyz", b"\0" * 8])
    assert back.blob == b"xyz" and back.array == array
    with pytest.raises(SchemaError, match="needs 8 bytes"):
        from_plain(Carrier, plain, [b"xyz", b"\0" * 7])


def test_to_plain_then_from_plain_is_identity():
    outer = Outer(name="abc", count=3, flag=True, colour=Colour.BLUE, inner=Inner(0.25, ("t",)), table={"a": 1}, anything=[1, {"b": None}])
    assert from_plain(Outer, to_plain(outer)) == outer


def test_check_hook_refuses_records():
    @dataclass(frozen=True)
    class Range(Record):
        low: int = 0
        high: int = 1

        def check(self) -> None:
            if self.low > self.high:
                raise SchemaError("low", "must not exceed high")

    with pytest.raises(SchemaError, match="low: must not exceed high"):
        Range(low=2, high=1)
