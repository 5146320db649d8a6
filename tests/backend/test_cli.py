"""The `distill3d` command as a user runs it, against a real backend."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import trimesh

from tests.support.servers import REPO, server_env

pytestmark = pytest.mark.slow


def distill3d(*args, check=True, timeout=120):
    result = subprocess.run([sys.executable, "-m", "backend.cli", *map(str, args)], cwd=REPO, env=server_env(),
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def test_generate_writes_the_glb_arrays_and_previews(shared_server, tmp_path):
    out = tmp_path / "out" / "thing.glb"
    image = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (64, 48), "red").save(image)
    result = distill3d("generate", "--connect", shared_server.connection_file, "--method", "testbed", "--preset", "quick",
                       "--image", image, "--camera-elevation", 20, "--prompt", "a red cube", "--seed", 4,
                       "--set", "steps=4", "--set", "noise.kind=uniform", "--out", out)
    assert "succeeded" in result.stderr and "stage1" in result.stderr
    mesh = trimesh.load(out, force="mesh")
    assert len(mesh.faces) == 4
    arrays = np.load(tmp_path / "out" / "thing.arrays.npz")
    assert arrays["positions"].shape == (12, 3) and arrays["faces"].dtype == np.int32
    assert Image.open(tmp_path / "out" / "thing.texture.png").size == (32, 32)
    previews = sorted((tmp_path / "out" / "thing.previews").iterdir())
    assert previews and previews[-1].suffix == ".jpg"


def test_jobs_attach_and_cancel(shared_server, tmp_path):
    conn = ("--connect", shared_server.connection_file)
    finished = distill3d("generate", *conn, "--method", "testbed", "--preset", "quick", "--out", tmp_path / "a.glb")
    job_id = finished.stderr.split("job ")[1].split()[0]
    listing = distill3d("jobs", *conn).stdout
    assert job_id in listing and "succeeded" in listing
    distill3d("attach", job_id, *conn, "--out", tmp_path / "again.glb")
    assert (tmp_path / "again.glb").read_bytes() == (tmp_path / "a.glb").read_bytes()
    from protocol.client import Client
    from protocol.messages import JobSpec, Submit

    with Client(shared_server.info) as client:
        client.wait_connected(10)
        long_job = client.request(Submit(job=JobSpec(method="testbed", params={"steps": 1000, "step_seconds": 0.05}), follow=False)).job
    assert "cancel" in distill3d("cancel", long_job.job_id, *conn).stdout
    attached = distill3d("attach", long_job.job_id, *conn, check=False)
    assert attached.returncode == 1 and "cancelled" in attached.stderr


def test_local_mode_needs_no_running_server(tmp_path):
    out = tmp_path / "local.glb"
    distill3d("generate", "--local", "--device", "cpu", "--method", "testbed", "--preset", "quick", "--out", out)
    assert trimesh.load(out, force="mesh").faces.shape == (4, 3)


def test_local_mode_shows_each_job_log_line_once_and_keeps_the_server_logs(tmp_path):
    data = tmp_path / "data"
    result = distill3d("generate", "--local", "--device", "cpu", "--data-dir", data, "--method", "testbed", "--preset", "quick",
                       "--set", "steps=3", "--set", "log_every=1", "--out", tmp_path / "local.glb")
    shown = [line for line in result.stderr.splitlines() if "stage1 step" in line]
    assert shown == ["[info] stage1 step 1", "[info] stage1 step 2", "[info] stage1 step 3"], result.stderr
    assert "stage1 step 3" in (data / "logs" / "worker-0.log").read_text()
    assert "submitted: testbed/quick" in (data / "logs" / "server.log").read_text()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--set", "steps"], "--set takes key=value"),
        (["--set", "stepz=1"], "did you mean steps"),
        (["--camera-elevation", "95"], "--camera-elevation: must be ≤ 90"),
        (["--image", "/no/such.png"], "cannot read --image"),
    ],
)
def test_bad_generate_arguments_exit_2_with_a_reason(shared_server, tmp_path, args, words):
    result = distill3d("generate", "--connect", shared_server.connection_file, "--method", "testbed", *args, "--out", tmp_path / "x.glb", check=False)
    assert result.returncode == 2 and words in result.stderr, result.stderr


def test_failed_job_exits_1(shared_server, tmp_path):
    result = distill3d("generate", "--connect", shared_server.connection_file, "--method", "testbed", "--preset", "quick",
                       "--set", "fail_at_step=2", "--out", tmp_path / "x.glb", check=False)
    assert result.returncode == 1 and "testbed failure at step 2" in result.stderr


def test_missing_connection_file(tmp_path):
    result = distill3d("jobs", "--connect", tmp_path / "nope.json", check=False)
    assert result.returncode == 2 and "distill3d serve" in result.stderr


def test_info_and_methods(shared_server):
    info = distill3d("info", "--connect", shared_server.connection_file).stdout
    assert "protocol 1.0" in info and "testbed" in info and "cpu" in info
    listed = json.loads(distill3d("methods", "--json").stdout)
    testbed = next(m for m in listed if m["name"] == "testbed")
    assert "quick" in testbed["presets"] and any(p["name"] == "noise.scale" for p in testbed["params"])


def test_second_server_on_the_same_data_dir_is_refused(shared_server):
    result = distill3d("serve", "--data-dir", shared_server.data_dir, "--bind", "tcp://127.0.0.1:0", check=False, timeout=30)
    assert result.returncode == 2 and "another distill3d server" in result.stderr


def test_network_address_needs_curve_or_insecure(tmp_path):
    result = distill3d("serve", "--data-dir", tmp_path / "d", "--bind", "tcp://0.0.0.0:0", check=False, timeout=30)
    assert result.returncode == 2 and "--curve" in result.stderr


@pytest.mark.parametrize("args, words", [(["jobs", "--limit", "0"], "limit"), (["cancel", "a/b"], "job_id")])
def test_invalid_client_arguments_exit_2_without_a_traceback(shared_server, args, words):
    result = distill3d(*args, "--connect", shared_server.connection_file, check=False)
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr


def test_dtc123_on_a_synthetic_world_object_through_the_backend(shared_server, tmp_path):
    distill3d("world", "mushroom", "--seed", 1, "--out", tmp_path / "truth.glb")
    result = distill3d("generate", "--connect", shared_server.connection_file, "--method", "dtc123", "--teacher", "synthetic",
                       "--target", tmp_path / "truth.glb", "--camera-elevation", 15, "--preset", "tiny",
                       "--set", "coarse.iterations=20", "--set", "export_resolution=32", "--out", tmp_path / "out" / "mushroom.glb", timeout=300)
    assert "succeeded" in result.stderr
    assert len(trimesh.load(tmp_path / "out" / "mushroom.glb", force="mesh").faces) > 100
    from PIL import Image

    assert Image.open(tmp_path / "out" / "mushroom.turntable.png").size == (8 * 192, 192)
    assert any((tmp_path / "out" / "mushroom.previews").iterdir())


def test_world_refuses_an_unknown_family(tmp_path):
    result = distill3d("world", "dragon", "--out", tmp_path / "x.glb", check=False)
    assert result.returncode == 2 and "snowman" in result.stderr


def test_cad_on_a_synthetic_family_writes_a_sample_and_a_generator_folder(shared_server, tmp_path):
    result = distill3d("generate", "--connect", shared_server.connection_file, "--method", "cad", "--prior", "synthetic",
                       "--family", "snowman", "--preset", "tiny", "--set", "train.stage1_steps=6", "--set", "train.stage2_steps=2",
                       "--set", "sampling.samples=24", "--out", tmp_path / "out" / "cad.glb", timeout=300)  # fmt: skip
    assert "succeeded" in result.stderr
    folder = tmp_path / "out" / "cad.generator"
    assert json.loads((folder / "generator.json").read_text())["kind"] == "cad" and (folder / "generator.safetensors").stat().st_size > 0
    from backend.generators import load
    from backend.methods import generator_catalog

    assert load(str(folder), generator_catalog()).latent(0, 0.7).code.dtype == np.float32


def test_sample_and_interpolate_the_shipped_demo_generator_without_a_server(tmp_path):
    distill3d("sample", "--generator", "demo", "--n", 2, "--seed", 5, "--out", tmp_path / "variants")
    names = sorted(p.name for p in (tmp_path / "variants").iterdir())
    assert names == ["latents.json", "sheet.png", "variant-5.glb", "variant-6.glb"]
    assert len(trimesh.load(tmp_path / "variants" / "variant-5.glb", force="mesh").faces) > 100
    distill3d("interpolate", "--generator", "demo", "--seeds", 0, 1, "--steps", 3, "--space", "z", "--out", tmp_path / "interp")
    latents = json.loads((tmp_path / "interp" / "latents.json").read_text())
    assert [entry["t"] for entry in latents] == [0.0, 0.5, 1.0]


def test_sampling_a_generator_whose_latents_have_no_surface_says_so_and_writes_nothing(tmp_path):
    from backend.methods.cad.demo import DEMO_GENERATOR

    folder = tmp_path / "unripe.generator"
    folder.mkdir()
    description = json.loads((DEMO_GENERATOR / "generator.json").read_text())
    description["export"]["surface_density"] = 1e9  # above any density it has: every latent is surface-less
    (folder / "generator.json").write_text(json.dumps(description))
    (folder / "generator.safetensors").write_bytes((DEMO_GENERATOR / "generator.safetensors").read_bytes())
    result = distill3d("sample", "--generator", folder, "--n", 2, "--out", tmp_path / "variants", check=False)
    assert result.returncode == 2 and "none of the 2 latents gives a surface" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "variants").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["sample", "--generator", "no-such", "--out", "x"], "is not 'demo'"),
        (["sample", "--generator", "demo", "--n", 0, "--out", "x"], "number of variants"),
        (["sample", "--generator", "demo", "--truncation", 3, "--out", "x"], "truncation"),
        (["interpolate", "--generator", "demo", "--seeds", 0, 1, "--steps", 1, "--out", "x"], "steps"),
        (["invert", "--generator", "demo:snowman", "--image", "missing.png", "--out", "x.glb"], "cannot read --image"),
        (["train", "--method", "cad", "--prior", "synthetic", "--family", "dragons", "--out", "x.generator"], "family 'dragons'"),
        (["train", "--method", "cad", "--family", "snowman", "--out", "x.generator"], "--prior synthetic"),
        (["train", "--method", "dtc123", "--out", "x.generator"], "has no train command (trainable: cad"),
    ],
)
def test_generator_commands_refuse_bad_arguments_readably(tmp_path, args, words):
    result = distill3d(*[tmp_path / a if a in ("x", "x.glb", "x.generator") else a for a in args], check=False)
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr


def test_invert_writes_the_mesh_latent_and_render_of_an_image(tmp_path):
    from PIL import Image

    import torch

    from backend.core.cameras import spherical_to_c2w
    from backend.teachers.synthetic.families import family
    from backend.teachers.synthetic.render import SceneObject

    image = tmp_path / "ref.png"
    render = SceneObject(family("snowman").sample(torch.Generator().manual_seed(9))).render(
        spherical_to_c2w(torch.tensor([10.0]), torch.tensor([180.0]), torch.tensor([2.0])), 49.1, 64, 64, shaded=True)
    Image.fromarray((render.rgb[0].numpy() * 255).astype("uint8")).save(image)
    result = distill3d("invert", "--generator", "demo", "--image", image, "--camera-elevation", 10, "--steps", 20, "--out", tmp_path / "inv.glb", timeout=300)
    assert "→" in result.stdout
    assert np.load(tmp_path / "inv.latent.npy").ndim == 2 and (tmp_path / "inv.render.png").exists() and (tmp_path / "inv.glb").exists()


def test_method_flags_come_from_the_method_named_on_the_command_line():
    dtc123 = distill3d("generate", "--method", "dtc123", "--help").stdout
    cad = distill3d("train", "--method", "cad", "--help").stdout
    generic = distill3d("generate", "--help").stdout
    assert "--target" in dtc123 and "options of method dtc123" in dtc123 and "--family" not in dtc123
    assert "--family" in cad and "--elevation" in cad and "--target" not in cad
    assert "--target" not in generic and "--family" not in generic and "see --help with --method" in generic
    refused = distill3d("generate", "--method", "cad", "--target", "x.glb", "--out", "x.glb", check=False)
    assert refused.returncode == 2 and "unrecognized arguments: --target" in refused.stderr


def test_jobs_prune_deletes_finished_jobs_to_the_quota(tmp_path):
    from tests.support.servers import ServerProcess

    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        conn = ("--connect", server.connection_file)
        for seed in (1, 2):
            distill3d("generate", *conn, "--method", "testbed", "--preset", "quick", "--seed", seed, "--out", tmp_path / f"{seed}.glb")
        refused = distill3d("jobs", *conn, "--prune", check=False)
        assert refused.returncode == 2 and "--max-disk" in refused.stderr
        pruned = distill3d("jobs", *conn, "--prune", "--max-disk", "0")
        assert "pruned 2 finished job(s)" in pruned.stderr and "0 of 0 job(s)" in pruned.stderr
        assert list((tmp_path / "data" / "jobs").iterdir()) == []
        distill3d("generate", *conn, "--method", "testbed", "--preset", "quick", "--out", tmp_path / "3.glb")
        server.stop()
        server.extra = ("--max-disk", "1K")  # the quota applies from the start of a server
        server.start()
        deadline = time.monotonic() + 10
        while list((tmp_path / "data" / "jobs").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list((tmp_path / "data" / "jobs").iterdir()) == []
    finally:
        server.stop()


def test_sizes_read_as_binary_units():
    import argparse

    from backend.cli.common import parse_size

    assert parse_size("500M") == 500 << 20 and parse_size("1.5G") == 3 << 29 and parse_size("20GiB") == 20 << 30 and parse_size("4096") == 4096
    with pytest.raises(argparse.ArgumentTypeError, match="not a size"):
        parse_size("lots")
