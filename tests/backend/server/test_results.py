import hashlib

import numpy as np
import pytest

from backend.methods.base import JobResult, ResultFile
from backend.server.results import ResultReader, write_result
from protocol.errors import ErrorCode, ProtocolError


def test_items_are_chunked_with_digests_and_read_back(tmp_path):
    positions = np.random.default_rng(0).random((100, 3)).astype(np.float32)
    faces = np.arange(30, dtype=">i4").reshape(10, 3)
    result = JobResult(arrays={"positions": positions, "faces": faces}, files={"mesh.glb": ResultFile(b"glTF" * 100, "model/gltf-binary")}, metadata={"n": 1})
    manifest = write_result(tmp_path / "result", result, chunk_bytes=256)
    assert [i.name for i in manifest.items] == ["positions", "faces", "mesh.glb"]
    assert manifest.item("positions").nchunks == 5 and manifest.item("faces").dtype == "<i4"
    reader = ResultReader(tmp_path / "result")
    assert reader.manifest == manifest
    data = b""
    for index in range(5):
        offset, chunk, digest = reader.read_chunk("positions", index)
        assert offset == index * 256 and hashlib.sha256(chunk).digest() == digest
        data += chunk
    np.testing.assert_array_equal(np.frombuffer(data, "<f4").reshape(100, 3), positions)
    assert not (tmp_path / "result.partial").exists()


def test_unknown_items_and_chunks(tmp_path):
    write_result(tmp_path / "r", JobResult(files={"a": ResultFile(b"xyz", "text/plain")}), chunk_bytes=2)
    reader = ResultReader(tmp_path / "r")
    for name, index in (("b", 0), ("a", 2), ("a", -1)):
        with pytest.raises(ProtocolError) as info:
            reader.read_chunk(name, index)
        assert info.value.code is ErrorCode.UNKNOWN_ITEM


@pytest.mark.parametrize("result", [JobResult(arrays={"../x": np.zeros(1)}), JobResult(arrays={"o": np.array([object()])}), JobResult(arrays={"a": np.zeros(1)}, files={"a": ResultFile(b"", "x")})])
def test_bad_results_are_refused(tmp_path, result):
    with pytest.raises(ValueError):
        write_result(tmp_path / "r", result)
