"""The client against real and fake backends: states with reasons, local errors, CURVE."""

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
def test_wrong_key_is_reported_as_signature_mismatch(shared_server):
    wrong = ConnectionInfo(url=shared_server.info.url, key=b"x" * 32)
    with Client(wrong) as client:
        assert "signature mismatch" in wait_reason(client, "signature mismatch")


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
        wrong = ConnectionInfo(url=info.url, key=info.key, server_public_key="x" * 40)
        with Client(wrong, heartbeat_s=0.2, offline_after_s=1) as client:
            wait_reason(client, "encryption handshake failed")
        plain = ConnectionInfo(url=info.url, key=info.key)
        with Client(plain) as client:
            with pytest.raises(ProtocolError):
                client.wait_connected(1)
    finally:
        server.stop()
