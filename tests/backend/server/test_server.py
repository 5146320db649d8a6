"""Server start-up and shutdown order: the connection file is the signal that the server is ready to be stopped."""

import signal
import threading

import pytest

from backend.server import server as server_module
from backend.server.server import Server, ServerConfig
from tests.support.servers import ServerProcess


def test_the_connection_file_appears_only_once_the_workers_run_and_a_signal_stops_the_server_in_order(tmp_path, monkeypatch):
    seen: dict[str, object] = {}
    write = server_module.write_connection_file

    def record_then_write(path, info):
        seen["workers alive"] = [worker.alive() for worker in server.workers]
        seen["SIGTERM handler"] = signal.getsignal(signal.SIGTERM)
        write(path, info)

    monkeypatch.setattr(server_module, "write_connection_file", record_then_write)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = Server(ServerConfig(data_dir=tmp_path / "data", bind="tcp://127.0.0.1:0", device="cpu"))
    try:
        server.stop_on_signals()
        server.start()
        assert seen["workers alive"] == [True]
        assert callable(seen["SIGTERM handler"]), "a SIGTERM sent when the file appears must not kill the process outright"
        signal.raise_signal(signal.SIGTERM)  # the handler asks the loop to stop; run() then returns after closing
        runner = threading.Thread(target=server.run)
        runner.start()
        runner.join(30)
        assert not runner.is_alive()
        assert not any(worker.alive() for worker in server.workers)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not getattr(server, "_closed", True):
            server.close()


@pytest.mark.slow
def test_a_backend_stopped_the_moment_its_connection_file_appears_stops_cleanly(tmp_path):
    for attempt in range(3):
        backend = ServerProcess(tmp_path / f"data-{attempt}")
        backend.start()
        assert backend.stop(signal.SIGTERM) == 0, backend.log()
        assert "server stopped" in backend.log()
