import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.buffers import Blob
from protocol.codec import pack
from protocol.errors import ErrorCode, FrameRejected
from protocol.framing import VERSION_FRAME, Framer
from protocol.limits import Limits
from protocol.messages import Camera, ImageInput, JobSpec, Ping, Pong, ResultChunk, Submit

KEY = b"k" * 32


def pair(**kwargs):
    return Framer(KEY, **kwargs), Framer(KEY, **kwargs)


def submit():
    spec = JobSpec(method="testbed", camera=Camera(elevation_deg=30), image=ImageInput(data=Blob(b"png-bytes")), params={"steps": 3})
    return Submit(job=spec)


def test_round_trip_with_buffers():
    sender, receiver = pair()
    msg_id, frames = sender.encode(submit())
    envelope = receiver.decode(frames)
    assert envelope.header.id == msg_id and envelope.header.type == "submit"
    assert envelope.message == submit()


def test_reply_names_its_request():
    sender, receiver = pair()
    _, frames = sender.encode(Pong(server_time=1.0), re="abc")
    assert receiver.decode(frames).header.re == "abc"


def test_precomputed_digest_gives_the_same_signature():
    import hashlib

    sender, receiver = pair()
    data = b"x" * 1000
    _, with_digest = sender.encode(ResultChunk(job_id="j", item="i", chunk=0, offset=0, data=Blob(data, sha256=hashlib.sha256(data).digest())))
    receiver.decode(with_digest)
    _, lying = sender.encode(ResultChunk(job_id="j", item="i", chunk=0, offset=0, data=Blob(data, sha256=b"\0" * 32)))
    with pytest.raises(FrameRejected, match="signature"):
        receiver.decode(lying)


def rejected(framer, frames) -> FrameRejected:
    with pytest.raises(FrameRejected) as info:
        framer.decode(frames)
    return info.value


@pytest.mark.parametrize("index", [0, 2, 3, 4])
def test_any_tampered_frame_breaks_the_signature(index):
    sender, receiver = pair()
    _, frames = sender.encode(submit())
    frames = [bytes(f) for f in frames]
    frames[index] = frames[index][:-1] + bytes([frames[index][-1] ^ 1])
    error = rejected(receiver, frames)
    assert error.code in (ErrorCode.BAD_SIGNATURE, ErrorCode.BAD_FRAME) and not (error.code is ErrorCode.BAD_SIGNATURE and error.reply)


def test_wrong_key_missing_signature_and_replay_are_dropped_silently():
    sender, receiver = pair()
    _, frames = Framer(b"other key 123456").encode(Ping())
    assert rejected(receiver, frames).reply is False
    _, frames = sender.encode(Ping())
    frames = list(frames)
    unsigned = [frames[0], b"", *frames[2:]]
    assert rejected(receiver, unsigned).reason == "bad_signature"
    receiver.decode(frames)
    replay = rejected(receiver, frames)
    assert (replay.reply, replay.reason) == (False, "replayed")


def test_stale_messages_are_refused():
    now = [1000.0]
    sender = Framer(KEY, clock=lambda: now[0])
    receiver = Framer(KEY, replay_window_s=60, clock=lambda: now[0] + 61)
    _, frames = sender.encode(Ping())
    assert rejected(receiver, frames).reason == "stale"


def test_bad_magic_and_versions():
    sender, receiver = pair()
    _, frames = sender.encode(Ping())
    assert rejected(receiver, [b"HTTP/1", *frames[1:]]).code is ErrorCode.BAD_FRAME
    error = rejected(receiver, [b"D3DP" + bytes([2, 0]), *frames[1:]])
    assert error.code is ErrorCode.UNSUPPORTED_VERSION and "2.0" in error.message and error.reply


def test_newer_minor_version_is_accepted():
    sender, receiver = pair()
    _, frames = sender.encode(Ping())
    newer = [b"D3DP" + bytes([1, 7]), *frames[1:]]
    newer[1] = sender.signer.sign([newer[0], *newer[2:]])
    assert receiver.decode(newer).header.type == "ping"


def test_frame_count_and_size_limits():
    limits = Limits(max_frames=5, max_header_bytes=128, max_body_bytes=128, max_buffer_bytes=10, max_message_bytes=400)
    sender, receiver = Framer(KEY), Framer(KEY, limits=limits)
    assert rejected(receiver, [b""] * 6).code is ErrorCode.TOO_LARGE
    assert rejected(receiver, [VERSION_FRAME, b""]).code is ErrorCode.BAD_FRAME
    _, frames = sender.encode(ResultChunk(job_id="j", item="i", chunk=0, offset=0, data=Blob(b"x" * 11)))
    assert "buffer 0" in rejected(receiver, frames).message
    assert "body" in rejected(receiver, [VERSION_FRAME, b"", b"h", b"b" * 129]).message
    assert "header" in rejected(receiver, [VERSION_FRAME, b"", b"h" * 129, b"b"]).message


def sign_raw(sender: Framer, header: bytes, body: bytes) -> list:
    frames = [VERSION_FRAME, b"", header, body]
    frames[1] = sender.signer.sign([frames[0], *frames[2:]])
    return frames


def header(type_="ping", **overrides):
    fields = {"type": type_, "id": "abc", "session": "s1", "seq": 1, "ts": time.time(), **overrides}
    return pack(fields)


def test_signed_but_undecodable_parts_get_precise_errors():
    sender, receiver = pair()
    error = rejected(receiver, sign_raw(sender, b"\xc1", pack({})))
    assert error.code is ErrorCode.BAD_MESSAGE and error.request_id is None
    error = rejected(receiver, sign_raw(sender, header(), b"\xa3\xff\xfe\xfd"))
    assert error.code is ErrorCode.BAD_MESSAGE and error.request_id == "abc"
    error = rejected(receiver, sign_raw(sender, header("launch_missiles", seq=2), pack({})))
    assert error.code is ErrorCode.UNKNOWN_TYPE and error.request_id == "abc"
    error = rejected(receiver, sign_raw(sender, header("cancel", seq=3), pack({"job_id": "../../etc"})))
    assert error.code is ErrorCode.INVALID_PARAMS and "job_id" in error.message
    error = rejected(receiver, sign_raw(sender, header(id="../x", seq=4), pack({})))
    assert error.code is ErrorCode.BAD_MESSAGE


def test_array_reference_with_wrong_byte_count_is_invalid():
    sender, receiver = pair()
    frames = sign_raw(sender, header("result_chunk"), pack({"job_id": "j", "item": "i", "chunk": 0, "offset": 0, "data": {"__buffer__": 3}}))
    assert rejected(receiver, frames).code is ErrorCode.INVALID_PARAMS


frame = st.binary(max_size=64)


@settings(max_examples=300, deadline=None)
@given(st.lists(frame, max_size=8), st.booleans())
def test_fuzzed_frames_only_ever_raise_frame_rejected(frames, signed):
    sender, receiver = pair()
    if signed and len(frames) >= 4:
        frames = [VERSION_FRAME, b"", *frames[2:]]
        frames[1] = sender.signer.sign([frames[0], *frames[2:]])
    try:
        receiver.decode(frames)
    except FrameRejected:
        pass


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "id", "session", "seq", "ts", "re", "x"]),
                       st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10) | st.floats()),
       st.binary(max_size=64))
def test_fuzzed_signed_headers_and_bodies_only_raise_frame_rejected(fields, body):
    sender, receiver = pair()
    try:
        receiver.decode(sign_raw(sender, pack(fields), body))
    except FrameRejected:
        pass
