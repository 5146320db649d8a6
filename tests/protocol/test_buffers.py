import numpy as np
import pytest

from protocol.buffers import Blob, WireArray


def test_numpy_round_trip_keeps_dtype_shape_and_values():
    array = np.arange(12, dtype=np.float32).reshape(4, 3)
    wire = WireArray.from_numpy(array)
    assert (wire.dtype, wire.shape, wire.nbytes) == ("<f4", (4, 3), 48)
    np.testing.assert_array_equal(wire.to_numpy(), array)


def test_big_endian_arrays_are_sent_little_endian():
    array = np.arange(5, dtype=">i4")
    wire = WireArray.from_numpy(array)
    assert wire.dtype == "<i4"
    np.testing.assert_array_equal(wire.to_numpy(), array)


def test_non_contiguous_arrays_are_made_contiguous():
    array = np.arange(20, dtype=np.int32).reshape(4, 5)[:, ::2]
    np.testing.assert_array_equal(WireArray.from_numpy(array).to_numpy(), array)


def test_byte_count_must_match_dtype_and_shape():
    with pytest.raises(ValueError, match="needs 48 bytes, the buffer has 47"):
        WireArray("<f4", (4, 3), b"\0" * 47)


@pytest.mark.parametrize("dtype", ["|O", "<U4", ">f4", "float32", "<c8"])
def test_only_plain_little_endian_dtypes(dtype):
    with pytest.raises(ValueError, match="not allowed"):
        WireArray(dtype, (1,), b"\0" * 4)


@pytest.mark.parametrize("shape", [(-1,), (1.5,), (True,), (1,) * 9])
def test_shapes_are_checked(shape):
    with pytest.raises(ValueError):
        WireArray("|u1", shape, b"\0")


def test_blob_views_any_buffer_and_compares_by_content():
    blob = Blob(bytearray(b"abc"))
    assert len(blob) == 3 and bytes(blob) == b"abc"
    assert blob == b"abc" and blob == Blob(memoryview(b"abc"))
    assert Blob(np.frombuffer(b"abcd", dtype=np.uint16)) == b"abcd"
