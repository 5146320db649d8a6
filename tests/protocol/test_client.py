"""The client against real and fake backends: states with reasons, local errors, CURVE."""

from dataclasses import replace
import socket
import threading
import time

import pytest
import zmq

from protocol.client import Client, ConnectionState
from protocol.connection import ConnectionInfo
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import Error, GetJob, Ping
from tests.conftest import connect
from tests.support.servers import ServerProcess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_reason(client: Client, words: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.status
        if status.state is ConnectionState.OFFLINE and words in status.reason:
            return status.reason
        time.sleep(0.05)
    raise AssertionError(f"status is {client.status}, wanted offline with {words!r}")


def test_refused_connection_is_reported_and_requests_fail_locally():
    with Client(ConnectionInfo(url=f"tcp://127.0.0.1:{free_port()}", key=b"k" * 16)) as client:
        wait_reason(client, "refused")
        request_id = client.send(Ping())
        deadline = time.monotonic() + 5
        replies = []
        while not replies and time.monotonic() < deadline:
            replies = [i for i in client.poll() if i.kind == "reply"]
            time.sleep(0.02)
        assert replies[0].request_id == request_id
        assert isinstance(replies[0].message, Error) and replies[0].message.code is ErrorCode.OFFLINE
        with pytest.raises(ProtocolError) as info:
            client.request(Ping(), timeout=5)
        assert info.value.code is ErrorCode.OFFLINE
        with pytest.raises(ProtocolError, match="cannot reach"):
            client.wait_connected(0.2)


@pytest.mark.parametrize("url, words", [("localhost:5757", "no scheme"), ("tcp://127.0.0.1:99999", "port"), ("udp://h:1", "transport")])
def test_bad_addresses_are_reported(url, words):
    with Client(ConnectionInfo(url=url, key=b"k" * 16)) as client:
        wait_reason(client, words, timeout=2)


@pytest.mark.slow
def test_a_wrong_key_is_refused_in_the_handshake_and_said_at_once(shared_server):
    wrong = replace(shared_server.info, key=b"x" * 32)
    with Client(wrong) as client:
        assert "not the backend's" in wait_reason(client, "refused the handshake", timeout=3)
    stale = ConnectionInfo(url=shared_server.info.url, key=shared_server.info.key)  # a file from before handshake auth
    with Client(stale) as client:
        assert "older than the backend's" in wait_reason(client, "refused the handshake", timeout=3)


def fake_backend(reply_frames):
    """A ROUTER that answers everything with fixed frames; returns (url, stop)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            if sock.poll(50):
                peer, *_ = sock.recv_multipart()
                if reply_frames is not None:
                    sock.send_multipart([peer, *reply_frames])
        ctx.destroy(linger=0)

    threading.Thread(target=loop, daemon=True).start()
    return f"tcp://127.0.0.1:{port}", stop


def test_backend_on_another_major_version_is_reported():
    url, stop = fake_backend([b"D3DP\x02\x00", b"sig", b"header", b"body"])
    try:
        with Client(ConnectionInfo(url=url, key=b"k" * 16)) as client:
            wait_reason(client, "version mismatch")
    finally:
        stop.set()


def test_silent_backend_times_out_requests_and_goes_offline():
    url, stop = fake_backend(None)
    try:
        with Client(ConnectionInfo(url=url, key=b"k" * 16), heartbeat_s=0.1, offline_after_s=0.5, request_timeout_s=0.5) as client:
            with pytest.raises(ProtocolError) as info:
                client.request(Ping(), timeout=0.3)
            assert info.value.code is ErrorCode.TIMEOUT
            request_id = client.send(Ping())
            deadline = time.monotonic() + 5
            timeouts = []
            while not timeouts and time.monotonic() < deadline:
                timeouts = [i for i in client.poll() if i.kind == "reply" and i.request_id == request_id]
                time.sleep(0.05)
            assert timeouts[0].message.code is ErrorCode.TIMEOUT
    finally:
        stop.set()


@pytest.mark.slow
def test_connected_client_gets_the_welcome_and_error_replies(shared_client):
    status = shared_client.status
    assert status.state is ConnectionState.CONNECTED and status.welcome is not None
    assert {m.name for m in status.welcome.methods} >= {"testbed", "probe"}
    assert status.welcome.devices[0].kind == "cpu"
    with pytest.raises(Exception) as info:
        shared_client.request(GetJob(job_id="nope"))
    assert info.value.code is ErrorCode.UNKNOWN_JOB


@pytest.mark.slow
def test_curve_encryption(tmp_path):
    server = ServerProcess(tmp_path / "data", "--curve")
    info = server.start()
    try:
        assert info.server_public_key and len(info.server_public_key) == 40
        with connect(server) as client:
            assert client.request(Ping()).server_time > 0
        assert info.client_keypair is not None
        wrong = ConnectionInfo(url=info.url, key=info.key, server_public_key="x" * 40, client_public_key=info.client_public_key, client_secret_key=info.client_secret_key)
        with Client(wrong, heartbeat_s=0.2, offline_after_s=1) as client:
            wait_reason(client, "encryption handshake failed")
        stranger = ConnectionInfo(url=info.url, key=info.key, server_public_key=info.server_public_key)  # its own key pair
        with Client(stranger, heartbeat_s=0.2, offline_after_s=1) as client:
            wait_reason(client, "encryption handshake failed")
        plain = ConnectionInfo(url=info.url, key=info.key)
        with Client(plain) as client:
            with pytest.raises(ProtocolError):
                client.wait_connected(1)
    finally:
        server.stop()


@pytest.mark.slow
def test_requests_made_before_start_are_sent_once_connected(shared_server):
    client = Client(shared_server.info)
    future = client.request_async(Ping())
    client.start()
    try:
        assert future.result(10).server_time > 0
    finally:
        client.close()


@pytest.mark.slow
def test_a_cancelled_future_does_not_break_the_client(shared_client):
    future = shared_client.request_async(Ping())
    future.cancel()
    time.sleep(0.3)
    assert shared_client.request(Ping()).server_time > 0


@pytest.mark.slow
def test_oversized_upload_is_refused_locally_with_the_reason(shared_client):
    from protocol.buffers import Blob
    from protocol.messages import ImageInput, JobSpec, Submit

    welcome = shared_client.status.welcome
    too_big = welcome.limits["max_buffer_bytes"] + 1
    with pytest.raises(ProtocolError) as info:
        shared_client.request(Submit(job=JobSpec(method="testbed", image=ImageInput(data=Blob(b"\0" * too_big)))))
    assert info.value.code is ErrorCode.TOO_LARGE and "buffer" in info.value.message


@pytest.mark.slow
def test_attach_without_follow_delivers_the_missed_events_once(shared_client):
    from protocol.messages import Attach, Events, JobSpec, Submit
    from tests.support.jobs import wait_state

    job = shared_client.request(Submit(job=JobSpec(method="testbed", preset="quick"), follow=False)).job
    done = wait_state(shared_client, job.job_id, "succeeded")
    shared_client.request(Attach(job_id=job.job_id, follow=False))
    seqs = []
    deadline = time.monotonic() + 5
    while len(seqs) < done.last_seq and time.monotonic() < deadline:
        for item in shared_client.poll():
            if isinstance(item.message, Events):
                seqs += [e.seq for e in item.message.events]
        time.sleep(0.02)
    assert seqs == list(range(1, done.last_seq + 1))


def test_error_details_may_use_any_key():
    from protocol.errors import RemoteError

    error = RemoteError(ErrorCode.UNKNOWN_JOB, "gone", code="x", message="y", job_id="j")
    assert error.details == {"code": "x", "message": "y", "job_id": "j"} and error.code is ErrorCode.UNKNOWN_JOB


def test_integers_msgpack_cannot_carry_are_refused_at_construction():
    from protocol.messages import JobSpec
    from protocol.schema import SchemaError

    with pytest.raises(SchemaError, match="64-bit"):
        JobSpec(method="m", params={"x": 2**70})
