import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import CodecError, pack, unpack
from protocol.limits import Limits

plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@given(plain)
def test_plain_data_round_trips(value):
    assert unpack(pack(value)) == value


@pytest.mark.parametrize(
    "data, words",
    [
        (msgpack.packb(msgpack.Timestamp(1, 0)), "malformed"),
        (msgpack.packb(msgpack.ExtType(5, b"abc")), "malformed"),
        (b"\x81\x01\x02", "malformed"),  # {1: 2}: int key
        (b"\xa3\xff\xfe\xfd", "UTF-8"),
        (b"\x93\x01", "malformed"),  # truncated array
        (b"\x01\x02", "trailing"),
        (b"\x91" * 5000 + b"\xc0", "deep"),
        (b"\xdd\xff\xff\xff\xff", "malformed"),  # claims 4 billion entries
        (b"", "malformed"),
    ],
)
def test_refuses_unsafe_or_broken_msgpack(data, words):
    with pytest.raises(CodecError, match=words):
        unpack(data)


def test_depth_limit_is_enforced_below_msgpacks_own():
    nested = []
    for _ in range(40):
        nested = [nested]
    with pytest.raises(CodecError, match="nesting deeper than 32"):
        unpack(pack(nested))
    assert unpack(pack(nested), Limits(max_depth=64)) == nested


def test_container_length_limit():
    with pytest.raises(CodecError):
        unpack(pack(list(range(200))), Limits(max_container_len=100))


def test_pack_refuses_non_plain_values():
    with pytest.raises(CodecError):
        pack({"x": object()})


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes_only_ever_raise_codec_error(data):
    try:
        unpack(data)
    except CodecError:
        pass
