"""The one checkpoint format: everything a run needs to continue, in one safetensors file, no pickle."""

import json

import pytest
import torch
from safetensors.torch import save_file

from backend.engine.checkpoint import CheckpointError, TrainingState, load, read_header, save, saved_step


def _state(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.5, 0.9))
    return model, optimizer, torch.Generator().manual_seed(seed)


def _train(model, optimizer, generator, steps):
    for _ in range(steps):
        x = torch.randn(8, 3, generator=generator)
        loss = model(x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_a_restored_run_continues_exactly_as_the_uninterrupted_one(tmp_path):
    straight = _state()
    _train(*straight, 6)
    interrupted = _state()
    _train(*interrupted, 3)
    save(tmp_path / "c.safetensors", 3, TrainingState({"model": interrupted[0]}, {"adam": interrupted[1]}, {"rng": interrupted[2]}, {"ada_p": 0.25, "signs": [1.0, -1.0]}))
    resumed = _state(seed=1)  # other weights, other stream: all of it must come from the file
    step, values = load(tmp_path / "c.safetensors", TrainingState({"model": resumed[0]}, {"adam": resumed[1]}, {"rng": resumed[2]}))
    assert step == 3 and values == {"ada_p": 0.25, "signs": [1.0, -1.0]}
    assert resumed[1].param_groups[0]["betas"] == (0.5, 0.9), "hyper-parameters keep their types"
    _train(*resumed, 3)
    for a, b in zip(straight[0].state_dict().values(), resumed[0].state_dict().values()):
        assert torch.equal(a, b)


def test_the_step_is_read_from_the_header_alone_and_the_file_is_plain_safetensors(tmp_path):
    model, optimizer, generator = _state()
    path = tmp_path / "c.safetensors"
    assert saved_step(path) == 0, "no file: a fresh run"
    save(path, 42, TrainingState({"model": model}, {"adam": optimizer}, {"rng": generator}))
    assert saved_step(path) == 42 and read_header(path)["format"] == 1
    raw = path.read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert "module/model/0.weight" in header and "rng/rng" in header, "tensors by name, readable by any safetensors reader"
    assert raw[8:9] == b"{" and not list(tmp_path.glob(".*.tmp")), "a length and a JSON header (no pickle); no temporary left behind"


def test_files_that_are_not_our_checkpoints_or_do_not_fit_are_refused_with_a_reason(tmp_path):
    model, optimizer, generator = _state()
    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        saved_step(foreign)
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError):
        saved_step(tmp_path / "junk.safetensors")
    path = tmp_path / "c.safetensors"
    save(path, 1, TrainingState({"model": model}))
    with pytest.raises(CheckpointError, match="does not fit"):
        load(path, TrainingState({"model": torch.nn.Linear(5, 5)}))
