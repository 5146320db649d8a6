"""MVDream's multi-view UNet, assembled from diffusers building blocks, and its checkpoint layout.

MVDream (Shi et al. 2023) is Stable Diffusion 2.1's UNet with two changes:

* **camera conditioning** — each view's 4×4 camera-to-world, flattened to 16 numbers, goes
  through a 2-layer MLP (Linear(16, 4·C), SiLU, Linear) whose output is added to the
  time-step embedding. diffusers' ``UNet2DConditionModel`` has exactly this as its
  ``class_embed_type="projection"`` class embedding, so the camera is passed as ``class_labels``;
* **multi-view self-attention** — the batch is groups of V views (V = 4) of one object, and
  every self-attention layer (``attn1``) attends over the tokens of all V views of a group at
  once: (B·V, N, C) → (B, V·N, C). Cross-attention to the text (``attn2``) stays per view.
  :class:`MultiViewAttnProcessor` does the regrouping; V travels as the
  ``cross_attention_kwargs`` entry ``num_views``.

**Checkpoint layout.** The diffusers-format hub repo ``ashawkey/mvdream-sd2.1-diffusers`` does
not use diffusers' UNet: its ``model_index.json`` names ``"unet": ["mv_unet",
"MultiViewUNetModel"]``, a remote-code class whose ``unet/config.json`` holds the original LDM
hyper-parameters (``model_channels``, ``channel_mult``, ``attention_resolutions``,
``num_head_channels``, ``camera_dim``, …) and whose ``unet/diffusion_pytorch_model.safetensors``
keeps the original LDM parameter names (``input_blocks.1.0.in_layers.0.weight``,
``middle_block.1.transformer_blocks.0.attn1.to_q.weight``, ``camera_embed.0.weight``, …) —
the conversion script of github.com/ashawkey/mvdream_diffusers
(``convert_mvdream_to_diffusers.py``) only strips the ``model.diffusion_model.`` prefix. We
never run that remote code: :func:`mvdream_to_diffusers` renames the LDM keys to diffusers'
UNet names (a pure, one-to-one renaming of modules; no tensor is reshaped) and
:func:`diffusers_to_mvdream` is its inverse. The two architectures agree module for module
(SD 2.x uses linear ``proj_in``/``proj_out`` in its transformers, GEGLU feed-forwards,
GroupNorm(32) everywhere, sinusoidal time embedding [cos, sin] with no frequency shift).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from torch import nn

UNET_CLASS_NAME = "MultiViewUNetModel"
"""``_class_name`` of the UNet in MVDream's diffusers-format checkpoint."""

_IGNORED_KEYS = frozenset({"use_checkpoint", "dropout", "legacy", "use_spatial_transformer", "num_heads", "num_heads_upsample", "ip_weight"})
"""Config keys that do not change the inference architecture (with ``num_head_channels`` set, LDM ignores ``num_heads``)."""

_FIXED_KEYS: dict[str, Any] = {
    "ip_dim": 0,
    "num_classes": None,
    "use_scale_shift_norm": False,
    "resblock_updown": False,
    "conv_resample": True,
    "dims": 2,
    "num_attention_blocks": None,
    "n_embed": None,
    "adm_in_channels": None,
    "use_linear_in_transformer": True,
}
"""Config keys the architecture supports only at these values (``ip_dim`` > 0 is ImageDream)."""


@dataclass(frozen=True)
class MVDreamUNetConfig:
    """The multi-view UNet's hyper-parameters, named as in MVDream's ``unet/config.json`` (defaults: sd-v2.1-base-4view)."""

    in_channels: int = 4
    """Latent channels in."""
    out_channels: int = 4
    """Predicted-noise channels out."""
    model_channels: int = 320
    """Width of the first level; level ℓ has ``model_channels · channel_mult[ℓ]`` channels."""
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    """Width multiplier per level (one level per resolution)."""
    num_res_blocks: int = 2
    """Residual blocks per level on the way down (one more on the way up)."""
    attention_resolutions: tuple[int, ...] = (4, 2, 1)
    """Down-sampling factors 2^ℓ whose level ℓ has transformer blocks."""
    num_head_channels: int = 64
    """Channels per attention head (heads = width / this)."""
    transformer_depth: int = 1
    """Transformer blocks per attention layer."""
    context_dim: int = 1024
    """Text-embedding width (OpenCLIP ViT-H: 1024)."""
    camera_dim: int = 16
    """Camera input width (a flattened 4×4 matrix)."""
    image_size: int = 32
    """Latent side the model was trained at (informational; 256² images)."""

    def __post_init__(self) -> None:
        for width in self.widths:
            if width % self.num_head_channels:
                raise ValueError(f"level width {width} is not a multiple of num_head_channels={self.num_head_channels}")
            if width % 32:
                raise ValueError(f"level width {width} is not a multiple of 32 (GroupNorm(32) needs it)")

    @property
    def widths(self) -> tuple[int, ...]:
        """Channels of each level."""
        return tuple(self.model_channels * m for m in self.channel_mult)

    @property
    def attends(self) -> tuple[bool, ...]:
        """Whether each level has transformer blocks."""
        return tuple(2**level in self.attention_resolutions for level in range(len(self.channel_mult)))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "MVDreamUNetConfig":
        """The config from a ``unet/config.json`` dict; ValueError for anything this implementation does not reproduce."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key.startswith("_") or key in _IGNORED_KEYS:
                continue
            if key in _FIXED_KEYS:
                if value != _FIXED_KEYS[key]:
                    raise ValueError(f"unsupported MVDream UNet setting {key}={value!r} (only {_FIXED_KEYS[key]!r} is implemented)")
                continue
            if key not in known:
                raise ValueError(f"unknown MVDream UNet config key {key!r}")
            values[key] = tuple(value) if isinstance(value, list) else value
        if values.get("camera_dim", cls.camera_dim) is None:
            raise ValueError("the MVDream UNet config has no camera_dim: not a camera-conditioned model")
        if values.get("num_head_channels", cls.num_head_channels) in (None, -1):
            raise ValueError("the MVDream UNet config must set num_head_channels")
        for key in ("num_res_blocks", "transformer_depth", "context_dim"):
            if not isinstance(values.get(key, 0), int):
                raise ValueError(f"per-level {key} is not supported, got {values[key]!r}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The ``unet/config.json`` dict of this config, as MVDream's checkpoint writes it."""
        return {"_class_name": UNET_CLASS_NAME, **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}}


def diffusers_unet_kwargs(config: MVDreamUNetConfig) -> dict[str, Any]:
    """``UNet2DConditionModel`` keyword arguments reproducing the MVDream UNet of ``config`` (camera MLP included)."""
    return {
        "sample_size": config.image_size,
        "in_channels": config.in_channels,
        "out_channels": config.out_channels,
        "down_block_types": tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in config.attends),
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "up_block_types": tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attends)),
        "block_out_channels": config.widths,
        "layers_per_block": config.num_res_blocks,
        "transformer_layers_per_block": config.transformer_depth,
        "cross_attention_dim": config.context_dim,
        # diffusers' ``attention_head_dim`` of UNet2DConditionModel is, for historical reasons, the number of heads.
        "attention_head_dim": tuple(w // config.num_head_channels for w in config.widths),
        "use_linear_projection": True,
        "class_embed_type": "projection",
        "projection_class_embeddings_input_dim": config.camera_dim,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "act_fn": "silu",
        "downsample_padding": 1,
    }


class MultiViewAttnProcessor:
    """Scaled-dot-product attention that, when ``joint``, attends across the views of a group.

    Hidden states are (B·V, N, C) with the V views of a group consecutive; a joint processor
    attends over (B, V·N, C) and reshapes back. ``num_views`` comes from the UNet's
    ``cross_attention_kwargs``; V = 1 is plain per-image attention.
    """

    def __init__(self, joint: bool) -> None:
        self.joint = joint
        self._attend = AttnProcessor2_0()

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        num_views: int = 1,
    ) -> torch.Tensor:
        if not self.joint or num_views == 1:
            return self._attend(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        if encoder_hidden_states is not None:
            raise ValueError("multi-view attention is self-attention; it takes no encoder hidden states")
        batch_views, tokens, channels = hidden_states.shape
        grouped = hidden_states.reshape(batch_views // num_views, num_views * tokens, channels)
        return self._attend(attn, grouped, None, attention_mask, temb).reshape(batch_views, tokens, channels)


class MultiViewUNet(nn.Module):
    """MVDream's ε-prediction network: a diffusers ``UNet2DConditionModel`` with camera MLP and multi-view self-attention."""

    def __init__(self, config: MVDreamUNetConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet2DConditionModel(**diffusers_unet_kwargs(config))
        self.unet.set_attn_processor(
            {name: MultiViewAttnProcessor(joint=name.endswith("attn1.processor")) for name in self.unet.attn_processors}
        )

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, camera: torch.Tensor, num_views: int) -> torch.Tensor:
        """ε̂ (B·V, C, h, w) for latents ``sample`` (B·V, C, h, w), time-steps (B·V,), text ``context`` (B·V, L, D) and ``camera`` (B·V, 16).

        Views of one group are consecutive in the batch.
        """
        if sample.shape[0] % num_views:
            raise ValueError(f"batch of {sample.shape[0]} is not a whole number of {num_views}-view groups")
        dtype = self.unet.dtype
        return self.unet(
            sample.to(dtype),
            timesteps,
            encoder_hidden_states=context.to(dtype),
            class_labels=camera.to(dtype),
            cross_attention_kwargs={"num_views": num_views},
        ).sample

    def load_mvdream_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Take over weights named as in MVDream's checkpoint (strict: every parameter, nothing else).

        The tensors are assigned, not copied, so a model built on the ``meta`` device is materialised.
        """
        self.unet.load_state_dict(mvdream_to_diffusers(state_dict, self.config), strict=True, assign=True)
        left = [name for name, tensor in self.unet.state_dict(keep_vars=True).items() if tensor.is_meta]
        if left:
            raise ValueError(f"the checkpoint left {len(left)} tensors unset, e.g. {left[0]}")


# ------------------------------------------------------------------ checkpoint key mapping


def _resnet_modules(ldm: str, diffusers: str) -> dict[str, str]:
    """LDM ``ResBlock`` sub-modules → diffusers ``ResnetBlock2D`` ones."""
    parts = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj", "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
    return {f"{ldm}.{a}": f"{diffusers}.{b}" for a, b in parts.items()}


def module_map(config: MVDreamUNetConfig) -> dict[str, str]:
    """MVDream (LDM) module path → diffusers ``UNet2DConditionModel`` module path, for every module holding parameters.

    Transformer blocks map as a whole (their inner names agree); residual blocks map per sub-module.
    LDM numbers its blocks sequentially: ``input_blocks.0`` is the input conv, then per level
    ``num_res_blocks`` × (ResBlock[, transformer]) and a down-sampler except after the last level;
    ``output_blocks`` go back up with ``num_res_blocks + 1`` blocks per level, the last one of every
    level but the top ending in an up-sampler.
    """
    mapping = {
        "time_embed.0": "time_embedding.linear_1",
        "time_embed.2": "time_embedding.linear_2",
        "camera_embed.0": "class_embedding.linear_1",
        "camera_embed.2": "class_embedding.linear_2",
        "input_blocks.0.0": "conv_in",
        "out.0": "conv_norm_out",
        "out.2": "conv_out",
        "middle_block.1": "mid_block.attentions.0",
    }
    mapping |= _resnet_modules("middle_block.0", "mid_block.resnets.0") | _resnet_modules("middle_block.2", "mid_block.resnets.1")
    levels, blocks = len(config.channel_mult), config.num_res_blocks
    index = 1
    for level, attends in enumerate(config.attends):
        for j in range(blocks):
            mapping |= _resnet_modules(f"input_blocks.{index}.0", f"down_blocks.{level}.resnets.{j}")
            if attends:
                mapping[f"input_blocks.{index}.1"] = f"down_blocks.{level}.attentions.{j}"
            index += 1
        if level < levels - 1:
            mapping[f"input_blocks.{index}.0.op"] = f"down_blocks.{level}.downsamplers.0.conv"
            index += 1
    index = 0
    for up, level in enumerate(reversed(range(levels))):
        attends = config.attends[level]
        for j in range(blocks + 1):
            mapping |= _resnet_modules(f"output_blocks.{index}.0", f"up_blocks.{up}.resnets.{j}")
            if attends:
                mapping[f"output_blocks.{index}.1"] = f"up_blocks.{up}.attentions.{j}"
            if level > 0 and j == blocks:
                mapping[f"output_blocks.{index}.{2 if attends else 1}.conv"] = f"up_blocks.{up}.upsamplers.0.conv"
            index += 1
    return mapping


def _rename(state_dict: dict[str, torch.Tensor], mapping: dict[str, str], source: str) -> dict[str, torch.Tensor]:
    """Rename every key by its longest module-path prefix in ``mapping``; ValueError listing keys no prefix covers."""
    renamed, unknown = {}, []
    for key, tensor in state_dict.items():
        parts = key.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in mapping:
                renamed[".".join([mapping[prefix], *parts[cut:]])] = tensor
                break
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ValueError(f"{len(unknown)} {source} parameter names do not fit the MVDream UNet layout: {shown}")
    return renamed


def mvdream_to_diffusers(state_dict: dict[str, torch.Tensor], config: MVDreamUNetConfig) -> dict[str, torch.Tensor]:
    """A state dict in MVDream's checkpoint naming (LDM) → diffusers ``UNet2DConditionModel`` naming (same tensors)."""
    return _rename(state_dict, module_map(config), "MVDream checkpoint")


def diffusers_to_mvdream(state_dict: dict[str, torch.Tensor], config: MVDreamUNetConfig) -> dict[str, torch.Tensor]:
    """The inverse of :func:`mvdream_to_diffusers` (writes a checkpoint in MVDream's own layout)."""
    return _rename(state_dict, {b: a for a, b in module_map(config).items()}, "diffusers UNet")
