import io

import pytest
from PIL import Image

from backend.server.submission import prepare, spec_digest
from protocol.buffers import Blob
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import Camera, ImageInput, JobSpec


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_prepares_a_storable_job():
    spec = JobSpec(method="testbed", preset="quick", params={"noise.scale": 3}, prompt="p", camera=Camera(elevation_deg=10), image=ImageInput(data=Blob(png()), name="in.png"))
    job = prepare(spec)
    assert (job.method, job.preset, job.image[1]) == ("testbed", "quick", "png")
    assert job.config["noise"]["scale"] == 3.0 and job.config["steps"] == 3
    assert 0 <= job.spec["seed"] < 2**32 and "image" not in job.spec and job.spec["image_name"] == "in.png"


def test_digest_ignores_client_key_but_not_content():
    base = JobSpec(method="testbed", prompt="p", seed=1, client_key="a")
    assert spec_digest(base) == spec_digest(JobSpec(method="testbed", prompt="p", seed=1, client_key="b"))
    assert spec_digest(base) != spec_digest(JobSpec(method="testbed", prompt="q", seed=1))
    with_image = JobSpec(method="testbed", image=ImageInput(data=Blob(b"1")))
    assert spec_digest(with_image) != spec_digest(JobSpec(method="testbed", image=ImageInput(data=Blob(b"2"))))


@pytest.mark.parametrize(
    "spec, code",
    [
        (JobSpec(method="nerf"), ErrorCode.UNKNOWN_METHOD),
        (JobSpec(method="testbed", preset="paper"), ErrorCode.UNKNOWN_PRESET),
        (JobSpec(method="testbed", params={"stepz": 1}), ErrorCode.UNKNOWN_PARAMETER),
        (JobSpec(method="testbed", params={"steps": -1}), ErrorCode.INVALID_PARAMS),
        (JobSpec(method="testbed", image=ImageInput(data=Blob(b"not an image"))), ErrorCode.INVALID_IMAGE),
        (JobSpec(method="needs-image", prompt="p"), ErrorCode.INVALID_PARAMS),
        (JobSpec(method="needs-image", image=ImageInput(data=Blob(png())), prompt="  "), ErrorCode.INVALID_PARAMS),
    ],
)
def test_refusals(spec, code):
    with pytest.raises(ProtocolError) as info:
        prepare(spec)
    assert info.value.code is code


def test_a_job_whose_model_is_missing_is_refused_at_submit(monkeypatch, tmp_path):
    monkeypatch.setenv("DISTILL3D_MODEL_ZERO123", str(tmp_path / "nowhere"))
    with pytest.raises(ProtocolError) as info:
        prepare(JobSpec(method="testbed", params={"needs_model": "zero123"}))
    assert info.value.code is ErrorCode.MISSING_MODEL
    assert "zero123" in info.value.message and "distill3d models" in info.value.message
    assert info.value.details["models"] == ["zero123"]
    (tmp_path / "zero123").mkdir()
    (tmp_path / "zero123" / "model_index.json").write_text("{}")
    monkeypatch.setenv("DISTILL3D_MODEL_ZERO123", str(tmp_path / "zero123"))
    assert prepare(JobSpec(method="testbed", params={"needs_model": "zero123"})).config["needs_model"] == "zero123"


def test_a_broken_models_config_is_a_clear_refusal(monkeypatch, tmp_path):
    (tmp_path / "models.toml").write_text("[models\n")
    monkeypatch.setenv("DISTILL3D_MODELS_FILE", str(tmp_path / "models.toml"))
    monkeypatch.delenv("DISTILL3D_MODEL_ZERO123", raising=False)
    with pytest.raises(ProtocolError) as info:
        prepare(JobSpec(method="testbed", params={"needs_model": "zero123"}))
    assert info.value.code is ErrorCode.MISSING_MODEL and "cannot read the models config" in info.value.message


def synthetic_target(path) -> JobSpec:
    return JobSpec(method="dtc123", params={"teacher": "synthetic", "target": str(path)})


def test_a_target_that_is_no_glb_is_refused_at_submit(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, not a mesh\n")
    for path, words in ((tmp_path / "notes.txt", "is not a GLB file"), (tmp_path / "gone.glb", "No such file")):
        with pytest.raises(ProtocolError) as info:
            prepare(synthetic_target(path))
        assert info.value.code is ErrorCode.INVALID_PARAMS and words in info.value.message
        assert info.value.details["parameter"] == "target"
    import trimesh

    (tmp_path / "box.glb").write_bytes(trimesh.creation.box().export(file_type="glb"))
    assert prepare(synthetic_target(tmp_path / "box.glb")).config["target"] == str(tmp_path / "box.glb")


def test_a_bad_image_is_named_before_the_missing_weights_of_the_default_teacher(monkeypatch, tmp_path):
    for role in ("ZERO123", "STABLE_DIFFUSION"):
        monkeypatch.setenv(f"DISTILL3D_MODEL_{role}", str(tmp_path / "nowhere"))
    with pytest.raises(ProtocolError) as info:
        prepare(JobSpec(method="dtc123", image=ImageInput(data=Blob(b"hello, not an image"))))
    assert info.value.code is ErrorCode.INVALID_IMAGE and "not a PNG, JPEG or WebP image" in info.value.message
    with pytest.raises(ProtocolError) as info:
        prepare(JobSpec(method="dtc123", image=ImageInput(data=Blob(png()))))
    assert info.value.code is ErrorCode.MISSING_MODEL
