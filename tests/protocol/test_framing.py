import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.buffers import Blob
from protocol.codec import pack
from protocol.errors import ErrorCode, FrameRejected, ProtocolError
from protocol.framing import VERSION_FRAME, Framer
from protocol.limits import Limits
from protocol.messages import Camera, ImageInput, JobSpec, Ping, Pong, ResultChunk, Submit
from tests.support.wire import sign_raw

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
    with pytest.raises(FrameRejected, match="digest"):
        receiver.decode(lying)


def rejected(framer, frames) -> FrameRejected:
    with pytest.raises(FrameRejected) as info:
        framer.decode(frames)
    return info.value


@pytest.mark.parametrize("index, reason", [(0, "bad_signature"), (2, "bad_signature"), (3, "bad_digest"), (4, "bad_digest")])
def test_any_tampered_frame_is_dropped_silently(index, reason):
    sender, receiver = pair()
    _, frames = sender.encode(submit())
    frames = [bytes(f) for f in frames]
    frames[index] = frames[index][:-1] + bytes([frames[index][-1] ^ 1])
    error = rejected(receiver, frames)
    assert error.reason == reason
    assert error.reply is False


def test_forgery_is_refused_before_any_bulk_hashing(monkeypatch):
    import protocol.framing as framing

    sender, receiver = pair()
    _, frames = Framer(b"not the right key").encode(ResultChunk(job_id="j", item="i", chunk=0, offset=0, data=Blob(b"x" * (1 << 20))))
    hashed = []
    real = framing.hashlib.sha256
    monkeypatch.setattr(framing.hashlib, "sha256", lambda data=b"": hashed.append(len(data)) or real(data))
    assert rejected(receiver, frames).reason == "bad_signature"
    assert max(hashed, default=0) < 4096  # the HMAC of version + header only; the 1 MiB buffer untouched


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


def test_stale_messages_are_answered_with_the_clock_difference():
    now = [1000.0]
    sender = Framer(KEY, clock=lambda: now[0])
    receiver = Framer(KEY, replay_window_s=60, clock=lambda: now[0] + 61)
    msg_id, frames = sender.encode(Ping())
    error = rejected(receiver, frames)
    assert (error.reason, error.code, error.request_id) == ("stale", ErrorCode.CLOCK_SKEW, msg_id)
    assert "-61 s" in error.message


def test_huge_sequence_numbers_cost_nothing():
    sender, receiver = pair()
    receiver.decode(sign_raw(sender, {"type": "ping", "id": "a", "seq": 1}, pack({})))
    receiver.decode(sign_raw(sender, {"type": "ping", "id": "b", "seq": 2**62}, pack({})))
    assert rejected(receiver, sign_raw(sender, {"type": "ping", "id": "c", "seq": 2**64 - 1}, pack({}))).code is ErrorCode.BAD_MESSAGE


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
    newer[1] = sender.signer.sign(newer[0], newer[2])
    assert receiver.decode(newer).header.type == "ping"


def test_frame_count_and_size_limits():
    limits = Limits(max_frames=5, max_header_bytes=512, max_body_bytes=128, max_buffer_bytes=10, max_message_bytes=400)
    sender, receiver = Framer(KEY), Framer(KEY, limits=limits)
    assert rejected(receiver, [b""] * 6).code is ErrorCode.TOO_LARGE
    assert rejected(receiver, [VERSION_FRAME, b""]).code is ErrorCode.BAD_FRAME
    _, frames = sender.encode(ResultChunk(job_id="j", item="i", chunk=0, offset=0, data=Blob(b"x" * 11)))
    assert "buffer 0" in rejected(receiver, frames).message
    assert "body" in rejected(receiver, [VERSION_FRAME, b"", b"h", b"b" * 129]).message
    assert "header" in rejected(receiver, [VERSION_FRAME, b"", b"h" * 513, b"b"]).message


def header(type_="ping", **overrides):
    return {"type": type_, "id": "abc", **overrides}


def test_signed_but_undecodable_parts_get_precise_errors():
    sender, receiver = pair()
    frames = sign_raw(sender, {}, pack({}))
    frames[2] = b"\xc1"
    frames[1] = sender.signer.sign(frames[0], frames[2])
    error = rejected(receiver, frames)
    assert error.code is ErrorCode.BAD_MESSAGE and error.request_id is None
    error = rejected(receiver, sign_raw(sender, header(), b"\xa3\xff\xfe\xfd"))
    assert error.code is ErrorCode.BAD_MESSAGE and error.request_id == "abc"
    error = rejected(receiver, sign_raw(sender, header("launch_missiles"), pack({})))
    assert error.code is ErrorCode.UNKNOWN_TYPE and error.request_id == "abc"
    error = rejected(receiver, sign_raw(sender, header("cancel"), pack({"job_id": "../../etc"})))
    assert error.code is ErrorCode.INVALID_PARAMS and "job_id" in error.message
    error = rejected(receiver, sign_raw(sender, header(id="../x"), pack({})))
    assert error.code is ErrorCode.BAD_MESSAGE
    error = rejected(receiver, sign_raw(sender, header(digests=[]), pack({})))
    assert error.reason == "bad_digest"


def test_array_reference_with_wrong_byte_count_is_invalid():
    sender, receiver = pair()
    frames = sign_raw(sender, header("result_chunk"), pack({"job_id": "j", "item": "i", "chunk": 0, "offset": 0, "data": {"__buffer__": 3}}))
    assert rejected(receiver, frames).code is ErrorCode.INVALID_PARAMS


def test_outgoing_messages_over_the_limits_are_refused_at_the_sender():
    sender = Framer(KEY, limits=Limits(max_buffer_bytes=10, max_body_bytes=200, max_message_bytes=1000))
    with pytest.raises(ProtocolError) as info:
        sender.encode(ResultChunk(job_id="j", item="i", chunk=0, offset=0, data=Blob(b"x" * 11)))
    assert info.value.code is ErrorCode.TOO_LARGE and "buffer of 11 bytes" in info.value.message
    with pytest.raises(ProtocolError, match="body of"):
        sender.encode(Submit(job=JobSpec(method="m", prompt="p" * 300)))


frame = st.binary(max_size=64)


@settings(max_examples=300, deadline=None)
@given(st.lists(frame, max_size=8), st.booleans())
def test_fuzzed_frames_only_ever_raise_frame_rejected(frames, signed):
    sender, receiver = pair()
    if signed and len(frames) >= 4:
        frames = [VERSION_FRAME, sender.signer.sign(VERSION_FRAME, frames[2]), *frames[2:]]
    try:
        receiver.decode(frames)
    except FrameRejected:
        pass


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "id", "session", "seq", "ts", "re", "digests", "x"]),
                       st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10) | st.floats()
                       | st.lists(st.binary(min_size=32, max_size=32), max_size=2)),
       st.binary(max_size=64))
def test_fuzzed_signed_headers_and_bodies_only_raise_frame_rejected(fields, body):
    sender, receiver = pair()
    try:
        receiver.decode(sign_raw(sender, fields, body))
    except FrameRejected:
        pass
