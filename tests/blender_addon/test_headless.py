"""The add-on's headless scenarios in real Blender against a live backend on loopback (see headless_scenario.py and
headless_models_scenario.py).

The rendered PNG of the imported results is kept in ``$DISTILL3D_TEST_ARTIFACTS`` (default ``test-artifacts/``).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hub import HubServer, serve_prd_paper_models, use
from tests.support.prd import prd_generator
from tests.support.servers import REPO, ServerProcess, server_env

pytestmark = pytest.mark.slow


def test_generate_cancel_reattach_variants_interpolate_render(server, tmp_path):
    artifacts = Path(os.environ.get("DISTILL3D_TEST_ARTIFACTS", REPO / "test-artifacts")) / "blender_addon"
    env = {**server_env(), "DISTILL3D_TEST_PRD_GENERATOR": str(prd_generator(tmp_path))}
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("headless_scenario.py")), str(server.connection_file), str(artifacts)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    steps = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    assert result.returncode == 0 and "scenario ok" in result.stdout, "\n".join(steps) + "\n" + result.stdout[-3000:] + result.stderr[-5000:] + server.log()[-3000:]
    assert (artifacts / "imported.png").stat().st_size > 10_000


def test_models_a_run_needs_are_shown_with_size_and_licence_and_downloaded_from_the_panel(tmp_path, monkeypatch):
    with HubServer(bytes_per_s=3 * 1024 * 1024) as hub:
        serve_prd_paper_models(hub, tmp_path)
        use(hub, monkeypatch, tmp_path)  # the backend and Blender below inherit this environment
        backend = ServerProcess(tmp_path / "data")
        backend.start()
        try:
            result = subprocess.run(
                [sys.executable, str(Path(__file__).with_name("headless_models_scenario.py")), str(backend.connection_file)],
                cwd=REPO, env=server_env(), capture_output=True, text=True, timeout=300,
            )
        finally:
            backend.stop()
    steps = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    assert result.returncode == 0 and "scenario ok" in result.stdout, "\n".join(steps) + "\n" + result.stdout[-3000:] + result.stderr[-5000:] + backend.log()[-3000:]
