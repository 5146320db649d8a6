import time

import zmq

from backend.server.outbox import Outbox
from backend.server.subscriptions import MAX_JOBS_PER_PEER, Subscriptions


def router_and_dealer(ctx, hwm=2):
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    router.setsockopt(zmq.SNDHWM, hwm)
    router.bind("inproc://outbox")
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.RCVHWM, hwm)
    dealer.connect("inproc://outbox")
    dealer.send(b"hi")
    peer, _ = router.recv_multipart()
    return router, dealer, peer


def test_full_peer_overflows_then_drops_without_blocking_and_flushes_in_order():
    ctx = zmq.Context()
    router, dealer, peer = router_and_dealer(ctx)
    outbox = Outbox(router, max_messages=3, max_bytes=1 << 20)
    started = time.monotonic()
    results = [outbox.send(peer, [str(i).encode()]) for i in range(20)]
    assert time.monotonic() - started < 1.0
    assert results.count(False) > 0 and outbox.dropped == results.count(False) and outbox.backlogged(peer)
    received = []
    while outbox.has_backlog or len(received) < results.count(True):
        while dealer.poll(10):
            received.append(int(dealer.recv()))
        outbox.flush()
    assert received == sorted(received) and len(received) == results.count(True)
    ctx.destroy(linger=0)


def test_vanished_peer_is_reported_gone():
    ctx = zmq.Context()
    router, dealer, peer = router_and_dealer(ctx)
    outbox = Outbox(router)
    assert outbox.send(b"no-such-peer", [b"x"]) is False
    assert b"no-such-peer" in outbox.gone
    ctx.destroy(linger=0)


def test_subscriptions_track_cursors_and_dirty_pairs():
    subs = Subscriptions()
    assert subs.subscribe(b"p", "j", 3, True)
    assert subs.dirty == {(b"p", "j")} and subs.cursor(b"p", "j").seq == 3
    subs.dirty.clear()
    subs.job_changed("j")
    subs.job_changed("other")
    assert subs.dirty == {(b"p", "j")}
    subs.drop_peer(b"p")
    assert len(subs) == 0 and subs.peers == 0 and not subs.dirty
    for i in range(MAX_JOBS_PER_PEER):
        assert subs.subscribe(b"q", f"j{i}", 0, True)
    assert not subs.subscribe(b"q", "one-too-many", 0, True)
