"""PETA, PRD's parameter-efficient triplane adapter, installed into a diffusers UNet and a VAE decoder.

The student denoises six latent planes per object, stacked prompt-major along the batch: rows ``6·b + p`` hold plane
``p`` of object ``b``, in the order of :data:`PLANES` (xy, xz, yz geometry, then xy, xz, yz texture). What PETA adds:

- every UNet self-attention gets one rank-r LoRA per plane on q, k, v and out, and attends jointly over the six
  planes of an object (6·H·W tokens), so the planes agree with each other (:class:`PlaneJointSelfAttention`);
- every UNet cross-attention gets one LoRA shared by all planes on q, k, v, out (:class:`SharedLoRAAttention`);
- every resnet conv1 / conv2 / conv_shortcut and every down/up-sampler conv of the UNet and the VAE decoder gets a
  shared :class:`~.adapters.LoCon`;
- the VAE decoder's mid-block attention gets a shared LoRA (attention per plane, not joint), and its conv_out is
  replaced by a fully trainable 3×3 conv to 2·F feature channels (PRD: 128 → 64).

Everything else stays frozen. :func:`adapter_modules` lists the adapters in the order the published checkpoint
numbers them (:mod:`backend.methods.prd.published`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .adapters import AdaptedConv, LoCon, LoRA

PLANES = ("xy_geo", "xz_geo", "yz_geo", "xy_tex", "xz_tex", "yz_tex")
"""The six planes of an object, in their batch order."""
PROJECTIONS = ("q", "k", "v", "out")


def _plane_key(projection: str, plane: str) -> str:
    """Attribute name of a plane's LoRA, e.g. ``to_q_xy_lora_geo`` (the published checkpoint's)."""
    axes, kind = plane.split("_")
    return f"to_{projection}_{axes}_lora_{kind}"


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, N, C) → (B, heads, N, C / heads)."""
    batch, tokens, channels = x.shape
    return x.view(batch, tokens, heads, channels // heads).transpose(1, 2)


class Processor(nn.Module):
    """An attention processor that holds trainable modules; its ``__call__`` names the arguments diffusers' ``Attention``
    passes (it drops those a processor's signature does not list) and runs ``forward``."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        return nn.Module.__call__(self, attn, hidden_states, encoder_hidden_states, attention_mask, temb)


class PlaneJointSelfAttention(Processor):
    """Self-attention processor of a UNet transformer block: per-plane LoRAs, attention joint over an object's planes.

    Called by diffusers' ``Attention`` with hidden states (B·6, N, C); returns (B·6, N, C)."""

    def __init__(self, hidden: int, rank: int) -> None:
        super().__init__()
        for plane in PLANES:
            for projection in PROJECTIONS:
                self.add_module(_plane_key(projection, plane), LoRA(hidden, hidden, rank))

    def _per_plane(self, projection: str, x: torch.Tensor) -> torch.Tensor:
        """Each plane's LoRA on its rows of x (B·6, N, C)."""
        rows = x.view(-1, len(PLANES), *x.shape[1:])
        return torch.stack([getattr(self, _plane_key(projection, plane))(rows[:, p]) for p, plane in enumerate(PLANES)], 1).view_as(x)

    def forward(self, attn, hidden_states: torch.Tensor, encoder_hidden_states=None, attention_mask=None, temb=None, **_) -> torch.Tensor:
        if hidden_states.shape[0] % len(PLANES):
            raise ValueError(f"PETA self-attention needs a batch of whole objects (6 planes each), got {hidden_states.shape[0]} rows")
        planes, tokens = len(PLANES), hidden_states.shape[1]
        objects = hidden_states.shape[0] // planes
        q = attn.to_q(hidden_states) + self._per_plane("q", hidden_states)
        k = attn.to_k(hidden_states) + self._per_plane("k", hidden_states)
        v = attn.to_v(hidden_states) + self._per_plane("v", hidden_states)
        joint = [_heads(x.reshape(objects, planes * tokens, -1), attn.heads) for x in (q, k, v)]  # plane-major tokens
        out = F.scaled_dot_product_attention(*joint, scale=attn.scale)
        out = out.transpose(1, 2).reshape(objects * planes, tokens, -1).to(q.dtype)
        out = attn.to_out[0](out)
        out = out + self._per_plane("out", out)  # the reference adds the out LoRA after the projection
        out = attn.to_out[1](out)
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


class SharedLoRAAttention(Processor):
    """Attention processor with one LoRA on q, k, v and out shared by every row: the UNet's cross-attention (k, v read
    the text states of ``context`` channels) and the VAE decoder's mid-block self-attention (4-D input, group norm,
    residual). Attention is per row, as diffusers computes it."""

    def __init__(self, hidden: int, context: int, rank: int) -> None:
        super().__init__()
        self.to_q_lora = LoRA(hidden, hidden, rank)
        self.to_k_lora = LoRA(context, hidden, rank)
        self.to_v_lora = LoRA(context, hidden, rank)
        self.to_out_lora = LoRA(hidden, hidden, rank)

    def forward(self, attn, hidden_states: torch.Tensor, encoder_hidden_states=None, attention_mask=None, temb=None, **_) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        spatial = hidden_states.shape if hidden_states.ndim == 4 else None
        if spatial is not None:
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        q = attn.to_q(hidden_states) + self.to_q_lora(hidden_states)
        k = attn.to_k(context) + self.to_k_lora(context)
        v = attn.to_v(context) + self.to_v_lora(context)
        out = F.scaled_dot_product_attention(*(_heads(x, attn.heads) for x in (q, k, v)), scale=attn.scale)
        out = out.transpose(1, 2).reshape(q.shape).to(q.dtype)
        out = attn.to_out[0](out) + self.to_out_lora(out)
        out = attn.to_out[1](out)
        if spatial is not None:
            out = out.transpose(1, 2).reshape(spatial)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def _blocks(module: nn.Module, order: tuple[str, ...]) -> list[tuple[str, nn.Module]]:
    """``(path, block)`` of the blocks of ``module`` in ``order`` (names of ModuleLists or single blocks)."""
    found = []
    for name in order:
        child = getattr(module, name, None)
        if isinstance(child, nn.ModuleList):
            found += [(f"{name}.{index}", block) for index, block in enumerate(child)]
        elif child is not None:
            found.append((name, child))
    return found


UNET_ORDER = ("down_blocks", "up_blocks", "mid_block")
"""The order the reference met the UNet's blocks in (diffusers registers mid_block after both block lists)."""
DECODER_ORDER = ("up_blocks", "mid_block")
"""The order of the VAE decoder's blocks (likewise)."""


def attention_layers(unet: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(path, Attention)`` of every UNet attention, block by block in :data:`UNET_ORDER`, each transformer block's self-
    attention (attn1) before its cross-attention (attn2)."""
    found = []
    for path, block in _blocks(unet, UNET_ORDER):
        for a, transformer in enumerate(getattr(block, "attentions", None) or []):
            for t, layer in enumerate(transformer.transformer_blocks):
                found += [(f"{path}.attentions.{a}.transformer_blocks.{t}.{name}", getattr(layer, name)) for name in ("attn1", "attn2")]
    return found


def conv_layers(model: nn.Module, order: tuple[str, ...]) -> list[tuple[str, nn.Module, str]]:
    """``(path, parent, attribute)`` of every conv that gets a LoCon: per block, each resnet's conv1, conv2 and
    conv_shortcut, then the block's down- or up-sampler convs; blocks in ``order``."""
    found = []
    for path, block in _blocks(model, order):
        for r, resnet in enumerate(getattr(block, "resnets", None) or []):
            for name in ("conv1", "conv2", "conv_shortcut"):
                if getattr(resnet, name, None) is not None:
                    found.append((f"{path}.resnets.{r}.{name}", resnet, name))
        for kind in ("downsamplers", "upsamplers"):
            for s, sampler in enumerate(getattr(block, kind, None) or []):
                found.append((f"{path}.{kind}.{s}.conv", sampler, "conv"))
    return found


def install(unet: nn.Module, decoder: nn.Module, rank: int, feature_channels: int) -> list[tuple[str, nn.Module]]:
    """Freeze ``unet`` and ``decoder`` (a diffusers VAE ``Decoder``) and install PETA into them; returns the adapters as
    ``(name, module)`` in the published checkpoint's order: UNet attention processors, the decoder's mid attention,
    UNet LoCons, decoder LoCons, the new conv_out. The new conv_out maps the decoder's last width to
    2·``feature_channels``."""
    unet.requires_grad_(False)
    decoder.requires_grad_(False)
    attention, locons = [], []
    for path, layer in attention_layers(unet):
        hidden = layer.to_q.in_features
        if path.endswith("attn1"):
            processor = PlaneJointSelfAttention(hidden, rank)
        else:
            processor = SharedLoRAAttention(hidden, layer.to_k.in_features, rank)
        layer.set_processor(processor.to(layer.to_q.weight.device))
        attention.append((f"unet.{path}.processor", processor))
    vae_attention = []
    for a, layer in enumerate(decoder.mid_block.attentions):
        processor = SharedLoRAAttention(layer.to_q.in_features, layer.to_k.in_features, rank).to(layer.to_q.weight.device)
        layer.set_processor(processor)
        vae_attention.append((f"decoder.mid_block.attentions.{a}.processor", processor))
    for prefix, model, order in (("unet", unet, UNET_ORDER), ("decoder", decoder, DECODER_ORDER)):
        for path, parent, attribute in conv_layers(model, order):
            conv = getattr(parent, attribute)
            locon = LoCon(conv, rank).to(conv.weight.device)
            setattr(parent, attribute, AdaptedConv(conv, locon))
            locons.append((f"{prefix}.{path}.locon", locon))
    old = decoder.conv_out
    decoder.conv_out = nn.Conv2d(old.in_channels, 2 * feature_channels, 3, padding=1).to(old.weight.device)
    return attention + vae_attention + locons + [("decoder.conv_out", decoder.conv_out)]


def adapter_parameters(adapters: list[tuple[str, nn.Module]]) -> list[nn.Parameter]:
    """Every trainable parameter of ``adapters`` (what the optimiser updates)."""
    return [p for _, module in adapters for p in module.parameters()]
