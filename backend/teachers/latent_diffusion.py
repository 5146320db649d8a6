"""What every diffusers-based teacher shares: loading, placement, classifier-free guidance, text and VAE codecs.

A teacher built on :class:`DiffusersTeacher` says what its UNet sees in each
guidance branch (:meth:`DiffusersTeacher.branches`); this module runs both branches
in one batched UNet call, turns the raw output into ε̂ (ε-, v- or learned-variance
UNets) and applies ε̂ = ε_u + s·(ε_c − ε_u). Latent teachers add the VAE
(:class:`LatentTeacher`), text-conditioned ones the cached prompt encoder and
view-dependent prompts (:class:`TextTeacher`).
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from . import schedule as S
from . import weight_files
from .base import Condition, Prediction, Teacher

logger = logging.getLogger(__name__)

PREDICTION_TYPES = ("epsilon", "v_prediction")
"""The UNet parameterisations :class:`DiffusersTeacher` converts to ε̂."""


# ------------------------------------------------------------------ placement and loading


@dataclass(frozen=True)
class Runtime:
    """Where a teacher's modules live and how they run."""

    device: torch.device
    """Where the UNet and VAE run (and the encoders, unless ``offload``)."""
    dtype: torch.dtype
    """Weight dtype of every module (float16 on CUDA by default, float32 elsewhere)."""
    attention_slicing: bool = False
    """Compute attention in slices (``set_attention_slice("auto")``): less memory, a little slower."""
    offload: bool = False
    """Keep the text/image encoders on the CPU and move them to ``device`` only while encoding."""

    @classmethod
    def create(
        cls, device: str | torch.device = "cpu", dtype: torch.dtype | None = None, *, attention_slicing: bool = False, offload: bool = False
    ) -> "Runtime":
        """A runtime; ``dtype`` None picks float16 on CUDA and float32 elsewhere."""
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("CUDA was asked for, but torch sees no CUDA device here; use device='cpu'")
        if dtype is None:
            dtype = torch.float16 if device.type == "cuda" else torch.float32
        return cls(device=device, dtype=dtype, attention_slicing=attention_slicing, offload=offload)


def load_module(cls, folder: Path, subfolder: str | None, runtime: Runtime, *, encoder: bool = False, trainable: bool = False) -> torch.nn.Module:
    """A diffusers or transformers model from ``folder/subfolder`` (None: ``folder`` itself) placed per ``runtime``: frozen
    and in eval mode (a teacher), or with ``trainable`` in train mode with every parameter trainable (a student; adapters
    may freeze it again, :func:`backend.teachers.student.add_lora`).

    Encoders stay on the CPU when ``runtime.offload`` (see :func:`on_device`). The weights read are the folder's
    :func:`~backend.teachers.weight_files.variant` (fp16 where ``distill3d models pull`` fetched fp16), cast to ``runtime.dtype``.
    """
    quiet_loading()
    variant = weight_files.variant(folder / (subfolder or ""))
    module = cls.from_pretrained(folder, subfolder=subfolder, torch_dtype=runtime.dtype, variant=variant)
    if trainable:
        module.train().requires_grad_(True)
    else:
        module.eval().requires_grad_(False)
    module.to("cpu" if encoder and runtime.offload else runtime.device)
    if runtime.attention_slicing and hasattr(module, "set_attention_slice"):
        module.set_attention_slice("auto")
    logger.info("loaded %s from %s", cls.__name__, folder / (subfolder or ""))
    return module


def quiet_loading() -> None:
    """Turn off transformers' 'Loading weights' bar: drawn on stderr for every model, it lands between a job's own lines."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def load_scheduler(folder: Path, subfolder: str = "scheduler"):
    """The scheduler class the checkpoint names in its ``scheduler_config.json``, loaded from it."""
    import diffusers

    config = json.loads((folder / subfolder / "scheduler_config.json").read_text(encoding="utf-8"))
    return getattr(diffusers, config["_class_name"]).from_pretrained(folder, subfolder=subfolder)


@contextmanager
def on_device(module: torch.nn.Module, runtime: Runtime) -> Iterator[torch.nn.Module]:
    """``module`` on ``runtime.device`` for the block; back on the CPU afterwards when offloading."""
    if not runtime.offload:
        yield module
        return
    module.to(runtime.device)
    try:
        yield module
    finally:
        module.to("cpu")


def resize(images: torch.Tensor, size: int | None, mode: str = "bilinear") -> torch.Tensor:
    """Images (B, C, H, W) resized to (size, size) (antialiased); unchanged when ``size`` is None or already met."""
    if size is None or images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode=mode, align_corners=False, antialias=True)


# ------------------------------------------------------------------ text


@dataclass(frozen=True)
class PromptStyle:
    """How a model's pipeline tokenises and encodes prompts."""

    max_length: int | None = None
    """Tokens per prompt, padded or truncated (None: the tokenizer's ``model_max_length``, 77 for CLIP)."""
    attention_mask: bool = False
    """Pass the padding mask to the encoder (T5 in DeepFloyd IF); Stable Diffusion's CLIP gets none."""
    lowercase: bool = False
    """Lower-case and strip prompts first (DeepFloyd IF's caption cleaning without bs4/ftfy)."""
    cache_size: int = 64
    """Distinct prompts whose embeddings are kept (least recently used dropped first)."""


class PromptEncoder:
    """Prompts → text-encoder hidden states, cached per prompt (the encoder runs once per distinct prompt)."""

    def __init__(self, tokenizer, text_encoder: torch.nn.Module, runtime: Runtime, style: PromptStyle = PromptStyle()) -> None:
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.runtime = runtime
        self.style = style
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    def __call__(self, prompts: list[str]) -> torch.Tensor:
        """Hidden states (len(prompts), L, D) on the runtime device, in the runtime dtype."""
        return torch.cat([self._one(prompt) for prompt in prompts])

    def _one(self, prompt: str) -> torch.Tensor:
        if prompt in self._cache:
            self._cache.move_to_end(prompt)
            return self._cache[prompt]
        embedding = self._encode(prompt.lower().strip() if self.style.lowercase else prompt)
        self._cache[prompt] = embedding
        if len(self._cache) > self.style.cache_size:
            self._cache.popitem(last=False)
        return embedding

    @torch.no_grad()
    def _encode(self, prompt: str) -> torch.Tensor:
        length = self.style.max_length or self.tokenizer.model_max_length
        tokens = self.tokenizer([prompt], padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        with on_device(self.text_encoder, self.runtime) as encoder:
            device = next(encoder.parameters()).device
            mask = tokens.attention_mask.to(device) if self.style.attention_mask else None
            hidden = encoder(tokens.input_ids.to(device), attention_mask=mask)[0]
        return hidden.to(device=self.runtime.device, dtype=self.runtime.dtype)


VIEWS = ("front", "side", "back", "overhead")
"""The view names of the view-dependent prompts."""


def view_name(elevation_deg: float, azimuth_deg: float, front_azimuth_deg: float = 0.0) -> str:
    """DreamFusion's view of a camera, the front being the reference image's side (at ``front_azimuth_deg``; azimuth 0 in
    :mod:`backend.core.cameras`' frame, 180° in CAD's): overhead above 60° elevation; otherwise front within 45° of
    azimuth from the front, back within 45° of the opposite side, side between."""
    if elevation_deg > 60.0:
        return "overhead"
    azimuth = abs((azimuth_deg - front_azimuth_deg + 180.0) % 360.0 - 180.0)
    if azimuth <= 45.0:
        return "front"
    if azimuth >= 135.0:
        return "back"
    return "side"


def view_prompts(
    prompt: str, poses: torch.Tensor | None, batch: int, per_view: Mapping[str, str] | None = None, front_azimuth_deg: float = 0.0,
) -> list[str]:
    """One prompt per batch element: for each pose (B, 3) as (elevation°, azimuth°, radius) ``per_view[view]`` when given
    (LLM-augmented prompts), else ``prompt`` plus the view suffix, views named relative to the reference image's azimuth
    ``front_azimuth_deg`` (the input image is the front). Without poses every element gets ``prompt`` unchanged.
    """
    if poses is None:
        return [prompt] * batch
    if poses.shape[0] != batch:
        raise ValueError(f"got {poses.shape[0]} poses for a batch of {batch}")
    views = [view_name(float(elevation), float(azimuth), front_azimuth_deg) for elevation, azimuth in poses[:, :2].tolist()]
    if per_view:
        return [per_view[view] for view in views]
    return [f"{prompt}, {view} view" for view in views]


# ------------------------------------------------------------------ VAE


def vae_latents(vae: torch.nn.Module, images: torch.Tensor, *, scaled: bool = True) -> torch.Tensor:
    """Posterior mean latents (B, 4, H/f, W/f) of images (B, 3, H, W) in [0, 1], times the VAE's scaling factor when ``scaled``."""
    posterior = vae.encode((images * 2.0 - 1.0).to(vae.dtype)).latent_dist
    latents = posterior.mean.to(images.dtype)
    return latents * vae.config.scaling_factor if scaled else latents


def vae_images(vae: torch.nn.Module, latents: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, H, W) in [0, 1] of scaled latents (B, 4, h, w)."""
    decoded = vae.decode((latents / vae.config.scaling_factor).to(vae.dtype)).sample
    return ((decoded.to(latents.dtype) + 1.0) * 0.5).clamp(0.0, 1.0)


def vae_scale_factor(vae: torch.nn.Module) -> int:
    """Pixels per latent cell along each axis (8 for Stable Diffusion's VAE)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def native_image_size(unet: torch.nn.Module, vae: torch.nn.Module) -> int:
    """Side of the images a latent UNet was trained on: its ``sample_size`` (latent side) × the VAE's scale factor
    (512 for Stable Diffusion 1.5 / 2.1 base, 256 for Zero-1-to-3)."""
    return int(unet.config.sample_size) * vae_scale_factor(vae)


# ------------------------------------------------------------------ teachers


@dataclass
class UNetInputs:
    """What the UNet sees in one guidance branch, for a batch of B."""

    sample: torch.Tensor
    """(B, C_in, h, w) the noisy input, with any channels concatenated to it (Zero-1-to-3, IF stage II)."""
    encoder_hidden_states: torch.Tensor
    """(B, L, D) cross-attention context."""
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    """Further per-element tensors (B, …) for :meth:`DiffusersTeacher.denoise` (``class_labels``, ``controlnet_cond``)."""

    @staticmethod
    def cat(first: "UNetInputs", second: "UNetInputs") -> "UNetInputs":
        """Both branches stacked along the batch (first, then second)."""
        return UNetInputs(
            sample=torch.cat([first.sample, second.sample]),
            encoder_hidden_states=torch.cat([first.encoder_hidden_states, second.encoder_hidden_states]),
            extras={key: torch.cat([first.extras[key], second.extras[key]]) for key in first.extras},
        )


class DiffusersTeacher(Teacher):
    """A teacher around a diffusers ``UNet2DConditionModel``; subclasses implement :meth:`branches`."""

    image_size: int | None = None
    """Side of the square images :meth:`encode` resizes to (None: any size); latent teachers set it to the model's
    :func:`native_image_size`, so a 64² render reaches the UNet as the latents it was trained on."""

    def __init__(self, unet: torch.nn.Module, scheduler, runtime: Runtime) -> None:
        prediction_type = scheduler.config.prediction_type
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"unsupported prediction_type {prediction_type!r} (supported: {', '.join(PREDICTION_TYPES)})")
        self.unet = unet
        self.scheduler = scheduler
        self.runtime = runtime
        self.prediction_type = prediction_type
        self.schedule = S.NoiseSchedule.from_scheduler(scheduler)

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    @abstractmethod
    def branches(self, x_t: torch.Tensor, condition: Condition) -> tuple[UNetInputs, UNetInputs]:
        """(unconditional, conditional) UNet inputs for noisy ``x_t`` (B, C, h, w)."""

    def denoise(self, inputs: UNetInputs, t: torch.Tensor) -> torch.Tensor:
        """The raw UNet output (B, C_out, h, w) for ``inputs`` at time-steps ``t`` (B,)."""
        return self.unet(
            inputs.sample.to(self.runtime.dtype), t, encoder_hidden_states=inputs.encoder_hidden_states.to(self.runtime.dtype), **inputs.extras
        ).sample

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition) -> Prediction:
        """Guided ε̂ and x̂₀ (B, C, h, w); guidance 1 runs the conditional branch alone, otherwise both in one batch."""
        with torch.no_grad():
            t = t.to(device=self.device, dtype=torch.long)
            alpha, sigma = self.schedule.coefficients(t, x_t)
            unconditional, conditional = self.branches(x_t, condition)
            scale = self.guidance(condition)
            if scale == 1.0:
                eps = self._eps(self.denoise(conditional, t), x_t, alpha, sigma)
            else:
                raw_u, raw_c = self.denoise(UNetInputs.cat(unconditional, conditional), torch.cat([t, t])).chunk(2)
                eps = S.classifier_free_guidance(self._eps(raw_u, x_t, alpha, sigma), self._eps(raw_c, x_t, alpha, sigma), scale)
            x0 = S.x0_from_eps(x_t, eps, alpha, sigma)
            limited = self.limit_x0(x0)
            if limited is not x0:  # keep ε̂ consistent with the limited x̂₀, as the scheduler's step would
                x0, eps = limited, S.eps_from_x0(x_t, limited, alpha, sigma)
            return Prediction(eps=eps, x0=x0)

    def limit_x0(self, x0: torch.Tensor) -> torch.Tensor:
        """Pixel-space x̂₀ thresholded or clipped as the checkpoint's scheduler config asks (DeepFloyd IF: dynamic
        thresholding); latents are never limited (converted latent checkpoints often carry a meaningless ``clip_sample``)."""
        config = self.scheduler.config
        if self.space != "pixel":
            return x0
        if config.get("thresholding", False):
            return S.dynamic_threshold(x0, config.get("dynamic_thresholding_ratio", 0.995), config.get("sample_max_value", 1.0))
        if config.get("clip_sample", False):
            limit = config.get("clip_sample_range", 1.0)
            return x0.clamp(-limit, limit)
        return x0

    def _eps(self, raw: torch.Tensor, x_t: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """ε̂ from a raw output: its first C channels (learned-variance UNets append C more), converted from v if need be."""
        output = raw[:, : x_t.shape[1]].to(x_t.dtype)
        return S.eps_from_v(x_t, output, alpha, sigma) if self.prediction_type == "v_prediction" else output


class LatentTeacher(DiffusersTeacher):
    """A :class:`DiffusersTeacher` that denoises VAE latents (scaled by the VAE's scaling factor)."""

    space = "latent"
    vae: torch.nn.Module
    """The ``AutoencoderKL``; subclasses set it."""

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] → scaled latents (B, 4, H'/f, W'/f), H' = image_size if set (bilinear, antialiased
        when shrinking; differentiable, so score-distillation gradients reach the render)."""
        return vae_latents(self.vae, resize(images, self.image_size))

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, 4, h, w) → images (B, 3, f·h, f·w) in [0, 1]."""
        return vae_images(self.vae, x)


class TextTeacher(DiffusersTeacher):
    """Text-conditioned guidance: the prompt (with view suffixes) against the negative prompt.

    Subclasses add per-branch inputs through :meth:`model_input` and :meth:`extras`.
    """

    view_dependent: bool = True
    """Append each pose's view suffix (:func:`view_prompts`) when the condition has poses."""
    prompts: PromptEncoder
    """The cached text encoder; subclasses set it."""

    def model_input(self, x_t: torch.Tensor, condition: Condition) -> torch.Tensor:
        """The UNet's sample input (B, C_in, h, w) for ``x_t``; ``x_t`` itself unless overridden."""
        return x_t

    def extras(self, x_t: torch.Tensor, condition: Condition) -> dict[str, torch.Tensor]:
        """Further per-element UNet inputs shared by both branches; none unless overridden."""
        return {}

    def branches(self, x_t: torch.Tensor, condition: Condition) -> tuple[UNetInputs, UNetInputs]:
        batch = x_t.shape[0]
        prompts = view_prompts(condition.prompt, condition.poses if self.view_dependent else None, batch, condition.view_prompts, condition.reference_pose[1])
        sample, extras = self.model_input(x_t, condition), self.extras(x_t, condition)
        negative = self.prompts([condition.negative_prompt]).expand(batch, -1, -1)
        return UNetInputs(sample, negative, extras), UNetInputs(sample, self.prompts(prompts), extras)
