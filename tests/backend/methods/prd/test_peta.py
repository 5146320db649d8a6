"""PETA inside a real diffusers UNet and VAE decoder: what trains, which rows see which LoRA, attention joint over an
object's six planes and nothing else, the decoder's new output width."""

import torch

from backend.methods.prd.adapters import AdaptedConv, LoCon, LoRA
from backend.methods.prd.peta import PLANES, PlaneJointSelfAttention, SharedLoRAAttention

from .conftest import TINY


def test_adapters_start_at_zero_and_locon_keeps_the_wrapped_convs_geometry():
    torch.manual_seed(0)
    lora = LoRA(8, 6, 4)
    assert torch.equal(lora(torch.randn(3, 8)), torch.zeros(3, 6)) and lora.down.weight.std() > 0
    conv = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1)
    adapted = AdaptedConv(conv, LoCon(conv, 2))
    x = torch.randn(1, 4, 9, 9)
    assert torch.equal(adapted(x), conv(x)), "up = 0: the adapted conv starts as the base"
    assert adapted.locon.down.stride == (2, 2) and adapted.locon.up.kernel_size == (1, 1)


def test_only_the_adapters_and_the_mlps_train(tiny_student):
    student, _ = tiny_student
    trainable = {id(p) for p in student.trainable_parameters()}
    frozen = [n for n, p in student.named_parameters() if id(p) not in trainable]
    assert all(not p.requires_grad for n, p in student.named_parameters() if id(p) not in trainable)
    assert any(".base." in n for n in frozen) and any("to_q.weight" in n for n in frozen), "the base convs and projections stay frozen"
    assert student.decoder.conv_out.out_channels == 2 * TINY.feature_channels and student.decoder.conv_out.weight.requires_grad
    kinds = {type(module).__name__ for _, module in student.adapters}
    assert kinds == {"PlaneJointSelfAttention", "SharedLoRAAttention", "LoCon", "Conv2d"}


def test_self_attention_is_joint_over_an_objects_six_planes_and_blind_to_other_objects(tiny_student):
    student, prompts = tiny_student
    text = prompts(["a red cube", "a blue torus"])
    torch.manual_seed(0)
    x = torch.randn(12, 4, 8, 8)
    changed = x.clone()
    changed[3] += 1.0  # object 0's xy texture plane
    with torch.no_grad():
        a, b = student.predict_eps(x, 500, text), student.predict_eps(changed, 500, text)
    difference = (a - b).flatten(1).abs().amax(1)
    assert difference[0] > 1e-4 and difference[2] > 1e-4, "object 0's geometry planes see its texture plane"
    assert difference[6:].max() == 0, "object 1 does not"


def test_each_plane_gets_its_own_lora_and_cross_attention_shares_one():
    from diffusers.models.attention_processor import Attention

    torch.manual_seed(0)
    attn = Attention(8, heads=2, dim_head=4)
    processor = PlaneJointSelfAttention(8, 2)
    attn.set_processor(processor)
    x = torch.randn(12, 5, 8)  # two objects
    with torch.no_grad():
        base = attn(x)
        processor.to_v_xz_lora_geo.up.weight.normal_()
        moved = attn(x)
        update = processor._per_plane("v", x).flatten(1).abs().amax(1)
    assert (moved - base).abs().amax() > 1e-4, "the adapter is in the attention's path"
    assert update[[1, 7]].min() > 0 and update[[0, 2, 3, 4, 5, 6, 8, 9, 10, 11]].max() == 0, "only xz-geometry rows (1, 7) get that LoRA"
    shared = SharedLoRAAttention(8, 16, 2)
    assert shared.to_k_lora.down.in_features == 16 and len(list(shared.children())) == 4
    assert len(PLANES) == 6 and sum(1 for _ in processor.children()) == 24
