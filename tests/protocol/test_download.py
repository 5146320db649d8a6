import numpy as np
import pytest

from protocol.buffers import Blob, WireArray
from protocol.download import ResultDownload
from protocol.errors import ProtocolError
from protocol.messages import ResultChunk, ResultItem, ResultManifest

CHUNK = 8


def manifest_for(arrays: dict, files: dict) -> ResultManifest:
    items = []
    for name, array in arrays.items():
        items.append(ResultItem(name=name, kind="array", nbytes=array.nbytes, nchunks=-(-array.nbytes // CHUNK), dtype=array.dtype.str, shape=array.shape))
    for name, data in files.items():
        items.append(ResultItem(name=name, kind="file", nbytes=len(data), nchunks=-(-len(data) // CHUNK)))
    return ResultManifest(items=tuple(items), chunk_bytes=CHUNK)


def serve(manifest, blobs, request):
    start = request.chunk * CHUNK
    return ResultChunk(job_id=request.job_id, item=request.item, chunk=request.chunk, offset=start, data=Blob(blobs[request.item][start : start + CHUNK]))


def test_window_bounds_requests_in_flight_and_result_is_reassembled():
    positions = np.arange(30, dtype=np.float32).reshape(10, 3)
    blobs = {"positions": positions.tobytes(), "mesh.glb": b"glTF" * 5, "empty": b""}
    manifest = manifest_for({"positions": positions}, {"mesh.glb": blobs["mesh.glb"], "empty": b""})
    download = ResultDownload("j", manifest, window=3)
    rounds = 0
    while not download.done:
        requests = download.next_requests()
        assert len(requests) <= 3
        for request in requests:
            download.accept(serve(manifest, blobs, request))
        rounds += 1
    assert rounds == -(-(15 + 3) // 3)
    result = download.result()
    np.testing.assert_array_equal(result["positions"].to_numpy(), positions)
    assert isinstance(result["positions"], WireArray)
    assert result["mesh.glb"] == blobs["mesh.glb"] and result["empty"] == b""
    assert download.received_bytes == download.total_bytes == 140


def test_unexpected_or_wrong_sized_chunks_are_refused():
    manifest = manifest_for({}, {"f": b"x" * 20})
    download = ResultDownload("j", manifest, window=1)
    (request,) = download.next_requests()
    with pytest.raises(ProtocolError, match="unexpected"):
        download.accept(ResultChunk(job_id="j", item="f", chunk=1, offset=8, data=Blob(b"x" * 8)))
    with pytest.raises(ProtocolError, match="expected 0 and 8"):
        download.accept(ResultChunk(job_id="j", item="f", chunk=0, offset=0, data=Blob(b"x" * 7)))
    download.retry("f", 0)
    assert download.next_requests()[0].chunk == 0
