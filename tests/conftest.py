from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from protocol.client import Client
from tests.support.servers import PLUGINS, ServerProcess

os.environ.setdefault("DISTILL3D_PLUGINS", PLUGINS)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh backend for one test."""
    process = ServerProcess(tmp_path / "data")
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One backend for a whole test module (tests that do not restart or break it)."""
    process = ServerProcess(tmp_path_factory.mktemp("shared") / "data")
    process.start()
    yield process
    process.stop()


def connect(process: ServerProcess, **kwargs) -> Client:
    client = Client(process.info, **kwargs).start()
    client.wait_connected(15)
    return client


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with connect(server) as c:
        yield c


@pytest.fixture
def shared_client(shared_server: ServerProcess) -> Iterator[Client]:
    with connect(shared_server) as c:
        yield c
