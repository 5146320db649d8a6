import pytest

from protocol.errors import FrameRejected
from protocol.signing import ReplayGuard, Signer


def test_signature_covers_version_and_header():
    signer = Signer(b"0123456789abcdef")
    signature = signer.sign(b"D3DP\x01\x00", b"header")
    assert signer.verify(signature, b"D3DP\x01\x00", b"header")
    assert not signer.verify(signature, b"D3DP\x01\x01", b"header")
    assert not signer.verify(signature, b"D3DP\x01\x00", b"headex")
    assert not signer.verify(signature[:-1], b"D3DP\x01\x00", b"header")
    assert not Signer(b"fedcba9876543210").verify(signature, b"D3DP\x01\x00", b"header")


def test_short_keys_are_refused():
    with pytest.raises(ValueError):
        Signer(b"short")


def test_replay_guard_refuses_seen_and_too_old_seqs_and_tolerates_reordering():
    guard = ReplayGuard(window_s=10, clock=lambda: 0.0, window=8)
    for seq in (1, 5, 3, 2):  # out of order is fine
        guard.check("a", seq, 0.0)
    guard.check("b", 1, 0.0)  # sessions are independent
    for seq in (5, 3, 1):
        with pytest.raises(FrameRejected, match="replayed"):
            guard.check("a", seq, 0.0)
    guard.check("a", 4, 0.0)
    guard.check("a", 20, 0.0)
    with pytest.raises(FrameRejected, match="replayed"):
        guard.check("a", 12, 0.0)  # below the window: can no longer be told apart
    guard.check("a", 13, 0.0)


def test_forgotten_sessions_cannot_be_replayed_because_their_messages_are_stale():
    now = [0.0]
    guard = ReplayGuard(window_s=10, clock=lambda: now[0])
    guard.check("a", 1, 0.0)
    now[0] = 25.0
    guard.check("b", 1, 25.0)  # triggers pruning of "a"
    assert guard.sessions == 1
    with pytest.raises(FrameRejected, match="timestamp"):
        guard.check("a", 1, 0.0)


def test_a_jump_beyond_the_window_resets_the_bitmap():
    guard = ReplayGuard(window_s=10, clock=lambda: 0.0, window=8)
    guard.check("a", 1, 0.0)
    guard.check("a", 2**62, 0.0)
    guard.check("a", 2**62 - 3, 0.0)
    with pytest.raises(FrameRejected, match="replayed"):
        guard.check("a", 2**62 - 3, 0.0)
