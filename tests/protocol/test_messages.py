import dataclasses

import pytest

from protocol.buffers import Blob
from protocol.framing import Framer
from protocol.messages import (
    MAX_PROMPT_CHARS,
    Attach,
    Camera,
    CancelPull,
    Error,
    Event,
    Events,
    JobInfo,
    JobSpec,
    JobState,
    ListModels,
    Message,
    ModelInfo,
    ModelList,
    Preview,
    PreviewInfo,
    PullInfo,
    PullModels,
    PullStatus,
    Request,
    ResultItem,
    ResultManifest,
    Submit,
    _registry,
)
from protocol.errors import ErrorCode
from protocol.schema import SchemaError


def test_every_request_declares_its_reply_type():
    requests = [cls for cls in _registry.values() if issubclass(cls, Request)]
    assert len(requests) >= 10
    for cls in requests:
        assert issubclass(cls.Reply, Message) and cls.Reply.TYPE in _registry


@pytest.mark.parametrize(
    "fields, path",
    [
        ({"elevation_deg": 91}, "elevation_deg"),
        ({"elevation_deg": float("nan")}, "elevation_deg"),
        ({"azimuth_deg": float("inf")}, "azimuth_deg"),
        ({"azimuth_deg": 1e9}, "azimuth_deg"),
        ({"distance": 0}, "distance"),
        ({"distance": -1}, "distance"),
        ({"fov_deg": 180}, "fov_deg"),
    ],
)
def test_absurd_cameras_are_refused(fields, path):
    with pytest.raises(SchemaError) as info:
        Camera(**fields)
    assert info.value.path == path


def test_prompt_limits_and_control_characters():
    JobSpec(method="m", prompt="a" * MAX_PROMPT_CHARS, negative_prompt="line\nbreak\tok")
    with pytest.raises(SchemaError, match="prompt"):
        JobSpec(method="m", prompt="a" * (MAX_PROMPT_CHARS + 1))
    with pytest.raises(SchemaError, match="control characters"):
        JobSpec(method="m", prompt="bell\x07")


@pytest.mark.parametrize("job_id", ["../etc", "a/b", "", "x" * 65, "a b", "..\\x"])
def test_job_ids_can_never_name_a_path(job_id):
    with pytest.raises(SchemaError):
        Attach(job_id=job_id)


@pytest.mark.parametrize("method", ["Cad", "-x", "a.b", ""])
def test_method_names_are_simple(method):
    with pytest.raises(SchemaError):
        JobSpec(method=method)


def test_seed_range():
    JobSpec(method="m", seed=2**32 - 1)
    with pytest.raises(SchemaError):
        JobSpec(method="m", seed=2**32)


def test_params_take_scalars_and_flat_lists_only():
    JobSpec(method="m", params={"a": 1, "b": [1.5, "x"], "c": None})
    with pytest.raises(SchemaError):
        JobSpec(method="m", params={"a": {"nested": 1}})


def test_pushes_and_replies_survive_the_wire():
    job = JobInfo(
        job_id="j1", method="m", preset="p", state=JobState.SUCCEEDED, created_at=1.0,
        result=ResultManifest(items=(ResultItem(name="positions", kind="array", nbytes=12, nchunks=1, dtype="<f4", shape=(1, 3)),), chunk_bytes=4),
    )
    messages = [
        Events(job_id="j1", events=(Event(seq=1, time=2.0, kind="state", data={"state": "queued"}),), job=job),
        Preview(job_id="j1", info=PreviewInfo(seq=3, media_type="image/png", width=2, height=2), image=Blob(b"png")),
        Error(code=ErrorCode.UNKNOWN_JOB, message="no", details={"job_id": "j1"}),
        Submit(job=JobSpec(method="m")),
    ]
    sender, receiver = Framer(b"k" * 16), Framer(b"k" * 16)
    for message in messages:
        _, frames = sender.encode(message)
        assert receiver.decode(frames).message == message


def test_manifest_item_lookup():
    manifest = ResultManifest(items=(ResultItem(name="a", kind="file", nbytes=1, nchunks=1),), chunk_bytes=1)
    assert manifest.item("a").name == "a"
    with pytest.raises(KeyError):
        manifest.item("b")
    assert dataclasses.is_dataclass(manifest)


def test_model_messages_survive_the_wire_and_a_pull_names_real_roles():
    pull = PullInfo(pull_id="p1", roles=("zero123", "clip"), state="running", started_at=1.0, files_total=3, bytes_total=10, bytes_done=4,
                    current="zero123: unet/config.json")  # fmt: skip
    model = ModelInfo(role="zero123", state="missing", reference="bennyguo/zero123-xl-diffusers", licence="mit",
                      licence_url="https://opensource.org/license/mit", download_bytes=2_500_000_000)  # fmt: skip
    sender, receiver = Framer(b"k" * 16), Framer(b"k" * 16)
    for message in (ModelList(models=(model,), pull=pull), PullStatus(pull=pull), PullModels(roles=("zero123",), token="hf_x"), CancelPull(), ListModels()):
        _, frames = sender.encode(message)
        assert receiver.decode(frames).message == message
    for roles in ((), ("../etc",), ("Zero123",)):
        with pytest.raises(SchemaError, match="roles"):
            PullModels(roles=roles)
    with pytest.raises(SchemaError, match="state"):
        dataclasses.replace(pull, state="paused")
