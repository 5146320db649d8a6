"""A student UNet loads through the teachers' folder loader, trainable; LoRA adapters train while the base stays put."""

import pytest
import torch

from backend.teachers import stable_diffusion
from backend.teachers.registry import MissingModelError
from backend.teachers.student import LoraSpec, add_lora, load_unet

from . import tiny_models


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_models.stable_diffusion(tmp_path_factory.mktemp("sd") / "sd")


def _step(unet, parameters):
    torch.manual_seed(0)
    x, t = torch.randn(2, 4, 8, 8), torch.tensor([10, 500])
    text = torch.randn(2, 77, unet.config.cross_attention_dim)
    loss = unet(x, t, encoder_hidden_states=text).sample.pow(2).mean()
    optimizer = torch.optim.SGD(parameters, lr=1.0)
    loss.backward()
    optimizer.step()


def test_the_student_is_the_teachers_unet_unfrozen(folder):
    teacher = stable_diffusion.load(folder)
    student = load_unet(folder)
    assert student.training and all(p.requires_grad for p in student.parameters())
    assert not teacher.unet.training and not any(p.requires_grad for p in teacher.unet.parameters()), "teachers stay frozen"
    for (name, a), b in zip(student.state_dict().items(), teacher.unet.state_dict().values()):
        assert torch.equal(a, b), name
    before = [p.detach().clone() for p in student.parameters()]
    _step(student, list(student.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before, student.parameters())), "every weight trains"


def test_a_lora_adapter_starts_as_the_base_model_and_only_it_trains(folder):
    student = load_unet(folder)
    base = {name: p.detach().clone() for name, p in student.named_parameters()}
    torch.manual_seed(1)
    x, t, text = torch.randn(1, 4, 8, 8), torch.tensor([300]), torch.randn(1, 77, student.config.cross_attention_dim)
    with torch.no_grad():
        plain = student(x, t, encoder_hidden_states=text).sample
    parameters = add_lora(student, LoraSpec(rank=4))
    assert parameters and all("lora_" in name for name, p in student.named_parameters() if p.requires_grad)
    with torch.no_grad():
        assert torch.allclose(student(x, t, encoder_hidden_states=text).sample, plain, atol=1e-6), "B = 0 at the start"
    lora = {name: p.detach().clone() for name, p in student.named_parameters() if p.requires_grad}
    _step(student, parameters)
    changed = {name for name, p in student.named_parameters() if name in lora and not torch.equal(p, lora[name])}
    assert changed, "the adapter trains"
    for name, p in student.named_parameters():
        if name in base:
            assert torch.equal(p, base[name]), f"{name} is the base model's and must not move"
    with pytest.raises(ValueError):
        add_lora(student, LoraSpec(rank=2, target_modules=("no_such_layer",), name="other"))


def test_a_missing_student_folder_is_a_missing_model_error_naming_it(tmp_path):
    with pytest.raises(MissingModelError):
        load_unet(tmp_path / "nowhere")
