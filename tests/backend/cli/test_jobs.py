import contextlib
from dataclasses import replace
from types import SimpleNamespace

import pytest

from backend.cli import jobs, main
from protocol.messages import DeviceInfo, Welcome
from tests.conftest import connect

STARTING = Welcome(server_version="0", protocol_version=(1, 0), devices=(DeviceInfo(kind="starting"),), methods=())
READY = replace(STARTING, devices=(DeviceInfo(kind="cpu", name="2 CPU cores"),))


class FakeClient:
    """A connected client whose backend answers each hello with the next welcome (the last one from then on)."""

    name = "test"
    info = SimpleNamespace(url="tcp://127.0.0.1:1")

    def __init__(self, *welcomes: Welcome) -> None:
        self.welcomes = list(welcomes)
        self.hellos = 0

    def request(self, message):
        self.hellos += 1
        return self.welcomes[min(self.hellos, len(self.welcomes) - 1)]


def info(monkeypatch, capsys, client: FakeClient, *args: str) -> str:
    """What ``distill3d info`` prints against ``client`` (its first welcome is the one the connection brought)."""
    monkeypatch.setattr(jobs, "connected", lambda _: contextlib.nullcontext((client, client.welcomes[0])))
    assert main(["info", *args]) == 0
    return capsys.readouterr().out


def test_info_waits_for_a_starting_worker_to_report_its_device(monkeypatch, capsys):
    client = FakeClient(STARTING, STARTING, READY)
    out = info(monkeypatch, capsys, client)
    assert "device: cpu 2 CPU cores" in out and "starting" not in out and client.hellos == 2


def test_info_says_plainly_when_a_worker_is_still_starting_after_the_wait(monkeypatch, capsys):
    client = FakeClient(STARTING)
    out = info(monkeypatch, capsys, client, "--device-wait", "0.3")
    assert "  device: worker starting (not known yet)\n" in out and client.hellos >= 1


def test_info_does_not_wait_when_told_not_to(monkeypatch, capsys):
    client = FakeClient(STARTING, READY)
    assert "worker starting (not known yet)" in info(monkeypatch, capsys, client, "--device-wait", "0") and client.hellos == 0


@pytest.mark.slow
def test_a_new_hello_brings_the_devices_a_real_backend_knows_now(server):
    with connect(server) as client:
        welcome = jobs.with_devices_known(client, STARTING, wait_s=30)
    assert [device.kind for device in welcome.devices] == ["cpu"]
