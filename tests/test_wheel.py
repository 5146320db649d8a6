"""The backend as a user installs it: ``python -m build --wheel`` from this checkout's files, a clean virtualenv (no
system site-packages, the checkout not importable), ``pip install`` of the wheel with ``constraints.txt``, and the
installed ``distill3d`` run from a folder outside the checkout: ``methods``, a PRD job through ``generate --local``
and CAD's shipped generator through ``sample`` (both read files the wheel has to carry as package data)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
import trimesh

from tests.support.servers import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PACKAGES = ("backend/", "protocol/", "blender_addon/")
"""The top-level packages pyproject.toml ships."""
NOT_SHIPPED = {"blender_addon/blender_manifest.toml"}
"""Files of those packages the wheel leaves out: the extension zip is built from the checkout (build_addon.py)."""


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    """``command`` run to completion; fails the test with the end of its output when it exits non-zero."""
    done = subprocess.run([str(word) for word in command], check=False, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command[:4]} exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def source_files() -> list[str]:
    """What a build of this working tree reads: the files git tracks, plus new ones it does not ignore."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the source files so that the build writes nothing into the checkout."""
    source = tmp_path_factory.mktemp("source")
    for name in source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, source])
    (built,) = dist.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path):
    """A fresh virtualenv with the wheel installed (about 6 GB with torch's CUDA libraries: removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="distill3d-wheel-") as folder:
        root = Path(folder)
        run([sys.executable, "-m", "venv", root])
        install = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
        run([root / "bin" / "python", *install, "-c", REPO / "constraints.txt", wheel])
        yield root


def in_venv(venv: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    """``argv`` run in ``cwd`` with the virtualenv first on PATH, no PYTHONPATH and ``cwd`` as HOME."""
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(cwd), "OMP_NUM_THREADS": "1"}
    return run(list(argv), cwd=cwd, env=env, timeout=300)


def mesh_faces(path: Path) -> int:
    """The face count of the GLB at ``path`` (trimesh refuses a file that is no GLB)."""
    return len(trimesh.load(path, force="mesh").faces)


def test_the_wheel_carries_every_file_of_its_packages_and_nothing_else(wheel):
    shipped = set(zipfile.ZipFile(wheel).namelist())
    wanted = {name for name in source_files() if name.startswith(PACKAGES)} - NOT_SHIPPED
    assert sorted(wanted - shipped) == [], "package files the wheel lacks (pyproject.toml's package-data)"
    code = {name for name in shipped if not name.startswith("distill3d-")}
    assert code <= wanted, f"not from the packages: {sorted(code - wanted)}"


def test_the_installed_backend_lists_the_checkouts_methods(venv, tmp_path):
    where = "import backend, protocol; print(backend.__file__, protocol.__file__)"
    located = in_venv(venv, tmp_path, "python", "-c", where)
    assert all(Path(path).is_relative_to(venv) for path in located.stdout.split()), located.stdout
    installed = json.loads(in_venv(venv, tmp_path, "distill3d", "methods", "--json").stdout)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # no DISTILL3D_PLUGINS: the tests' own methods stay out
    checkout = json.loads(run([sys.executable, "-m", "backend.cli", "methods", "--json"], cwd=REPO, env=env).stdout)
    assert [method["name"] for method in installed] == [method["name"] for method in checkout]
    assert {"cad", "dtc123", "prd"} <= {method["name"] for method in installed}


def test_the_installed_backend_runs_a_job_and_the_shipped_generator(venv, tmp_path):
    in_venv(venv, tmp_path, "distill3d", "generate", "--local", "--method", "prd", "--preset", "demo",
            "--prompt", "a blue torus", "--seed", "1", "--out", "torus.glb")  # fmt: skip
    assert mesh_faces(tmp_path / "torus.glb") > 0
    in_venv(venv, tmp_path, "distill3d", "sample", "--generator", "demo", "--n", "1", "--out", "variants")
    assert mesh_faces(tmp_path / "variants" / "variant-0.glb") > 0
