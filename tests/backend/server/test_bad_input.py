"""The issue's bad-input list, sent by hand to a live backend: each gets an error (or a logged drop), and the next valid request is served."""

import math
import struct
import zlib

import pytest

from protocol.buffers import WireArray
from protocol.codec import pack
from protocol.errors import ErrorCode
from protocol.framing import VERSION_FRAME
from protocol.messages import Cancel, Error, FetchResult, Ping, Pong, Submit, JobSpec
from protocol.transport import AUTH_FAILURE_NOTICE
from tests.support.wire import RawPeer

pytestmark = pytest.mark.slow


@pytest.fixture
def peer(shared_server):
    raw = RawPeer(shared_server.info)
    yield raw
    # after every bad input, the same socket still gets a valid request served
    msg_id, _ = raw.send(Ping())
    reply = raw.recv_message()
    assert reply is not None and reply.header.re == msg_id and isinstance(reply.message, Pong)
    assert shared_server.alive()
    raw.close()


def error_reply(peer: RawPeer, request_id: str | None = None, timeout: float = 5.0) -> Error:
    envelope = peer.recv_message(timeout)
    assert envelope is not None, "no reply"
    assert isinstance(envelope.message, Error), envelope.message
    if request_id is not None:
        assert envelope.header.re == request_id
    return envelope.message


def valid_frames(peer: RawPeer) -> list:
    return list(peer.framer.encode(Ping())[1])


@pytest.mark.parametrize(
    "frames, code",
    [
        ([b"D3"], ErrorCode.BAD_FRAME),
        ([b"\x00" * 64] * 4, ErrorCode.BAD_FRAME),
        ([b"GET / HTTP/1.1\r\n\r\n", b"", b"", b""], ErrorCode.BAD_FRAME),
        ([b"D3DP\x09\x00", b"sig", b"h", b"b"], ErrorCode.UNSUPPORTED_VERSION),
        ([VERSION_FRAME] + [b"x"] * 40, ErrorCode.TOO_LARGE),
    ],
)
def test_malformed_frames_get_error_replies(peer, frames, code):
    peer.send_frames(frames)
    assert error_reply(peer).code is code


def test_wrong_magic_on_an_otherwise_valid_message(peer):
    frames = valid_frames(peer)
    peer.send_frames([b"XXXX\x01\x00", *frames[1:]])
    assert error_reply(peer).code is ErrorCode.BAD_FRAME


def test_oversized_buffer_frame(peer):
    _, frames = peer.signed_raw("ping", pack({}), b"\0" * (17 << 20))
    peer.send_frames(frames)
    error = error_reply(peer)
    assert error.code is ErrorCode.TOO_LARGE and "buffer 0" in error.message


@pytest.mark.parametrize("mangle", ["flip", "missing", "other_key"])
def test_bad_or_missing_signature_is_dropped_with_only_a_notice(peer, mangle):
    frames = valid_frames(peer)
    if mangle == "flip":
        frames[1] = bytes([frames[1][0] ^ 1]) + frames[1][1:]
    elif mangle == "missing":
        frames[1] = b""
    else:
        from protocol.framing import Framer

        frames = list(Framer(b"not the server key").encode(Ping())[1])
    peer.send_frames(frames)
    notice = peer.recv(5)
    assert notice is not None and tuple(notice[1:]) == AUTH_FAILURE_NOTICE


def test_replayed_message_is_dropped(peer):
    msg_id, frames = peer.send(Ping())
    assert peer.recv_message().header.re == msg_id
    peer.send_frames(frames)
    assert peer.recv(1.0) is None


@pytest.mark.parametrize(
    "body, code",
    [
        (b"\x91" * 100 + b"\xc0", ErrorCode.BAD_MESSAGE),
        (b"\x81\xa1x" + b"\xa3\xff\xfe\xfd", ErrorCode.BAD_MESSAGE),
        (pack({"job": "not a map"}), ErrorCode.INVALID_PARAMS),
        (b"\xc1", ErrorCode.BAD_MESSAGE),
    ],
)
def test_signed_but_malformed_bodies(peer, body, code):
    msg_id, frames = peer.signed_raw("submit", body)
    peer.send_frames(frames)
    assert error_reply(peer, msg_id).code is code


def test_unknown_message_type(peer):
    msg_id, frames = peer.signed_raw("launch", pack({}))
    peer.send_frames(frames)
    assert error_reply(peer, msg_id).code is ErrorCode.UNKNOWN_TYPE


def test_reply_type_sent_as_request(peer):
    msg_id, _ = peer.send(Pong(server_time=0.0))
    assert error_reply(peer, msg_id).code is ErrorCode.UNKNOWN_TYPE


def test_array_whose_byte_count_disagrees_with_dtype_and_shape(peer):
    body = pack({"job": {"method": "testbed", "arrays": {"mask": {"__array__": 0, "dtype": "<f4", "shape": [4, 4]}}}})
    msg_id, frames = peer.signed_raw("submit", body, b"\0" * 63)
    peer.send_frames(frames)
    error = error_reply(peer, msg_id)
    assert error.code is ErrorCode.INVALID_PARAMS and "needs 64 bytes" in error.message


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def submit_raw(peer: RawPeer, job: dict, *buffers: bytes) -> Error:
    msg_id, frames = peer.signed_raw("submit", pack({"job": job}), *buffers)
    peer.send_frames(frames)
    return error_reply(peer, msg_id)


@pytest.mark.parametrize("data", [b"definitely not an image", png_claiming(60_000, 60_000), png_claiming(64, 64)])
def test_images_that_are_not_images_or_are_bombs(peer, data):
    error = submit_raw(peer, {"method": "testbed", "image": {"data": {"__buffer__": 0}}}, data)
    assert error.code is ErrorCode.INVALID_IMAGE


@pytest.mark.parametrize("camera", [{"elevation_deg": math.nan}, {"azimuth_deg": math.inf}, {"distance": -math.inf}, {"elevation_deg": 400}, {"distance": 0}])
def test_nan_inf_and_out_of_range_cameras(peer, camera):
    error = submit_raw(peer, {"method": "testbed", "camera": camera})
    assert error.code is ErrorCode.INVALID_PARAMS and "camera" in error.message


def test_prompt_over_the_limit(peer):
    error = submit_raw(peer, {"method": "testbed", "prompt": "a" * 5000})
    assert error.code is ErrorCode.INVALID_PARAMS and "prompt" in error.message


@pytest.mark.parametrize(
    "job, code",
    [
        ({"method": "nerf"}, ErrorCode.UNKNOWN_METHOD),
        ({"method": "testbed", "params": {"warp_drive": 1}}, ErrorCode.UNKNOWN_PARAMETER),
        ({"method": "testbed", "params": {"steps": 10**9}}, ErrorCode.INVALID_PARAMS),
        ({"method": "testbed", "params": {"step_seconds": math.nan}}, ErrorCode.INVALID_PARAMS),
        ({"method": "testbed", "preset": "paper"}, ErrorCode.UNKNOWN_PRESET),
    ],
)
def test_unknown_method_and_parameters(peer, job, code):
    assert submit_raw(peer, job).code is code


@pytest.mark.parametrize("request_", [Cancel(job_id="20200101T000000-deadbeef"), FetchResult(job_id="nope", item="a", chunk=0)])
def test_unknown_job_ids(peer, request_):
    msg_id, _ = peer.send(request_)
    assert error_reply(peer, msg_id).code is ErrorCode.UNKNOWN_JOB


def test_path_like_job_id_never_reaches_the_store(peer):
    msg_id, frames = peer.signed_raw("get_job", pack({"job_id": "../../etc/passwd"}))
    peer.send_frames(frames)
    assert error_reply(peer, msg_id).code is ErrorCode.INVALID_PARAMS


def test_valid_submit_with_an_array_input_is_accepted(peer):
    import numpy as np

    spec = JobSpec(method="testbed", preset="quick", arrays={"mask": WireArray.from_numpy(np.ones((4, 4), np.float32))})
    msg_id, _ = peer.send(Submit(job=spec, follow=False))
    envelope = peer.recv_message()
    assert envelope.header.re == msg_id and envelope.message.TYPE == "submitted"


def test_huge_sequence_number_and_long_quoted_strings(peer):
    from tests.support.wire import sign_raw

    import itertools

    peer.send_frames(sign_raw(peer.framer, {"type": "ping", "id": "big", "seq": 2**62}, pack({})))
    assert peer.recv_message().header.re == "big"
    peer.framer._seq = itertools.count(2**62 + 1)  # this session's next messages follow the jump
    body = pack({"job": {"method": "testbed", "arrays": {"m": {"__array__": 0, "dtype": "x" * 50_000, "shape": [1]}}}})
    peer.send_frames(sign_raw(peer.framer, {"type": "submit", "id": "long"}, body, b"\0"))
    error = error_reply(peer, "long")
    assert error.code is ErrorCode.INVALID_PARAMS and len(error.message) <= 4000
