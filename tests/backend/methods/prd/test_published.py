"""The published checkpoint's layout maps onto the student: SD 2.1-base's 131 adapters in the reference's order, every key
and shape checked, loud failures."""

import pytest
import torch

from backend.methods.prd.config import StudentConfig
from backend.methods.prd.published import ADAPTER_PREFIX, PublishedCheckpointError, key_map, load_published, read
from backend.methods.prd.student import PRDStudent
from backend.teachers.random_weights import sd_scheduler, sd_vae


def sd21_student() -> PRDStudent:
    """The student on SD 2.1-base's UNet and VAE at full size, on the meta device (shapes only, no memory)."""
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(sample_size=96, in_channels=4, out_channels=4, cross_attention_dim=1024,
                                    attention_head_dim=(5, 10, 20, 20), use_linear_projection=True)  # fmt: skip
        vae = sd_vae()
        return PRDStudent(unet, vae, sd_scheduler(), StudentConfig())


@pytest.fixture(scope="module")
def sd21():
    return sd21_student()


def published_shapes(student: PRDStudent) -> dict[str, tuple[int, ...]]:
    return {key: tuple(dict(student.named_parameters())[name].shape) for key, name in key_map(student).items()}


def test_sd21_gets_the_reference_131_adapters_in_its_order(sd21):
    """Index ranges and shapes as the reference code numbers them (prd-facts.md; derived from its insertion order)."""
    shapes = published_shapes(sd21)
    assert len(sd21.adapters) == 131
    layer = lambda i, sub: shapes[f"{ADAPTER_PREFIX}{i}.{sub}"]  # noqa: E731
    assert layer(0, "to_q_xy_lora_geo.down.weight") == (16, 320) and layer(0, "to_out_yz_lora_tex.up.weight") == (320, 16)
    assert layer(1, "to_k_lora.down.weight") == (16, 1024) and layer(1, "to_v_lora.up.weight") == (320, 16)
    assert layer(4, "to_q_xz_lora_geo.down.weight") == (16, 640) and layer(8, "to_q_xy_lora_tex.down.weight") == (16, 1280)
    assert layer(12, "to_q_xy_lora_geo.down.weight") == (16, 1280), "up_blocks.1 follows the down blocks"
    assert layer(24, "to_q_xy_lora_geo.down.weight") == (16, 320) and layer(30, "to_q_xy_lora_geo.down.weight") == (16, 1280), "mid block last"
    assert layer(32, "to_q_lora.down.weight") == (16, 512), "the VAE's mid attention"
    assert layer(33, "down.weight") == (16, 320, 3, 3), "UNet LoCon starts at down_blocks.0.resnets.0.conv1"
    assert layer(40, "down.weight") == (16, 320, 1, 1) and layer(40, "up.weight") == (640, 16, 1, 1), "down_blocks.1 shortcut 320→640"
    assert layer(37, "down.weight") == (16, 320, 3, 3), "down_blocks.0's downsampler (stride 2, same kernel)"
    assert layer(56, "down.weight") == (16, 2560, 1, 1), "up_blocks.0.resnets.0.conv_shortcut reads 2560 channels"
    assert layer(93, "down.weight") == (16, 1280, 3, 3) and layer(96, "up.weight") == (1280, 16, 1, 1), "UNet mid resnets"
    assert layer(97, "down.weight") == (16, 512, 3, 3), "VAE LoCon starts at the decoder's up_blocks.0"
    assert layer(113, "down.weight") == (16, 512, 1, 1) and layer(113, "up.weight") == (256, 16, 1, 1), "up_blocks.2 shortcut 512→256"
    assert layer(126, "down.weight") == (16, 512, 3, 3), "decoder mid resnets last"
    assert layer(130, "weight") == (64, 128, 3, 3) and layer(130, "bias") == (64,)
    assert shapes["geometry.sdf_network.layers.0.weight"] == (64, 32) and shapes["geometry.feature_network.layers.0.weight"] == (64, 96)
    assert shapes["geometry.deformation_network.layers.4.weight"] == (3, 64)
    parameters = sum(torch.Size(s).numel() for s in shapes.values())
    assert 22.6e6 < parameters < 22.8e6, f"the reference's 91.2 MB file holds about 22.7 M parameters, the map {parameters / 1e6:.2f} M"


def synthetic_state(shapes, generator=None):
    state = {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}
    state["geometry.bbox"] = torch.tensor([[-1.0] * 3, [1.0] * 3])
    state["background.env.weight"] = torch.zeros(3)  # a Lightning checkpoint's other modules are ignored
    return state


def test_a_state_dict_in_the_published_layout_loads_into_the_tiny_student_value_for_value(tiny_student, tmp_path):
    student, _ = tiny_student
    state = synthetic_state(published_shapes(student), torch.Generator().manual_seed(0))
    path = tmp_path / "triplane_turbo_sd_v1.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    load_published(student, read(path), str(path))
    ours = dict(student.named_parameters())
    for index, (name, module) in enumerate(student.adapters):
        for sub_key, parameter in module.named_parameters():
            assert torch.equal(parameter, state[f"{ADAPTER_PREFIX}{index}.{sub_key}"]), (index, name, sub_key)
    assert torch.equal(ours["head.sdf_network.layers.2.weight"], state["geometry.sdf_network.layers.2.weight"])
    assert torch.equal(student.decoder.conv_out.bias, state[f"{ADAPTER_PREFIX}{len(student.adapters) - 1}.bias"])


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.pop(f"{ADAPTER_PREFIX}40.up.weight"), "missing geometry.space_generator.peft_layers.layers.40.up.weight"),
    (lambda s: s.__setitem__(f"{ADAPTER_PREFIX}131.down.weight", torch.zeros(16, 4)), "unexpected .*layers.131.down.weight"),
    (lambda s: s.__setitem__(f"{ADAPTER_PREFIX}0.to_q_xy_lora_geo.down.weight", torch.zeros(32, 320)), r"layers.0.to_q_xy_lora_geo.down.weight: shape \(32, 320\)"),
    (lambda s: s.__setitem__("geometry.bbox", torch.tensor([[-2.0] * 3, [2.0] * 3])), "geometry.bbox"),
])  # fmt: skip
def test_a_missing_extra_or_misshaped_key_fails_loudly_and_names_it(sd21, damage, message):
    state = {key: torch.empty(shape) for key, shape in published_shapes(sd21).items()} | {"geometry.bbox": torch.tensor([[-1.0] * 3, [1.0] * 3])}
    damage(state)
    with pytest.raises(PublishedCheckpointError, match=message):
        load_published(sd21, state)


def test_a_file_that_is_not_a_tensor_checkpoint_is_refused(tmp_path):
    with pytest.raises(PublishedCheckpointError, match="no such file.*ZhiyuanthePony/TriplaneTurbo"):
        read(tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(PublishedCheckpointError, match="not a readable PyTorch checkpoint"):
        read(tmp_path / "junk.pth")
