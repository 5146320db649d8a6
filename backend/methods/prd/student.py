"""The PRD student: Stable Diffusion's UNet and VAE decoder with PETA installed, and the triplane head.

Shapes: an object is six latent planes (6, 4, r, r) (r = 32 for SD 2.1-base), stacked prompt-major into
(B·6, 4, r, r); the text states (B, L, D) of its prompt are shared by its planes; one time-step is shared by all.
The VAE decoder (post_quant_conv, then the decoder; no encoder, no 1/0.18215 scaling) turns x̂₀ into feature planes
(B·6, 2F, 8r, 8r), which :func:`~.triplane.split_planes` makes into geometry and texture triplanes.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ...teachers import schedule as S
from ...teachers.latent_diffusion import PromptEncoder, Runtime
from ...teachers.model_folder import model_folder, reading
from .config import StudentConfig
from .peta import PLANES, adapter_parameters, install
from .triplane import TriplaneHead, Triplanes, split_planes

PLANE_COUNT = len(PLANES)


class PRDStudent(nn.Module):
    """UNet + VAE decoder with PETA, and the :class:`~.triplane.TriplaneHead`. Only the adapters and the head train."""

    def __init__(self, unet: nn.Module, vae: nn.Module, scheduler, config: StudentConfig, seed: int = 0) -> None:
        """Installs fresh adapters and MLPs, initialised from ``seed`` (the global random stream is left alone)."""
        super().__init__()
        self.config = config
        self.unet = unet
        self.post_quant_conv = getattr(vae, "post_quant_conv", None) or nn.Identity()
        self.decoder = vae.decoder
        self.post_quant_conv.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.adapters = install(self.unet, self.decoder, config.rank, config.feature_channels)
            self.head = TriplaneHead(config.feature_channels, config.mlp_hidden, config.sphere_radius, config.box)
        self.schedule = S.NoiseSchedule.from_scheduler(scheduler)
        self.unet.eval()
        self.decoder.eval()

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The adapters' parameters and the head's (what PRD trains)."""
        return adapter_parameters(self.adapters) + list(self.head.parameters())

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Name → tensor of every trained parameter, by its path in this module (what a student checkpoint holds)."""
        trained = {id(p) for p in self.trainable_parameters()}
        return {name: p for name, p in self.named_parameters() if id(p) in trained}

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(4, r, r): one plane's latent."""
        return (self.unet.config.in_channels, self.config.plane_latent, self.config.plane_latent)

    def predict_eps(self, x_t: torch.Tensor, t: int | torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """ε̂ (B·6, 4, r, r) for planes ``x_t`` (B·6, 4, r, r) at time-step ``t`` under text states ``text`` (B, L, D)."""
        if x_t.shape[0] != PLANE_COUNT * text.shape[0]:
            raise ValueError(f"{x_t.shape[0]} latent planes for {text.shape[0]} prompts: PRD needs six planes per prompt")
        states = text.to(x_t.dtype).repeat_interleave(PLANE_COUNT, 0)
        timesteps = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(x_t.shape[0])
        return self.unet(x_t, timesteps, encoder_hidden_states=states).sample

    def x0(self, x_t: torch.Tensor, t: int, text: torch.Tensor) -> torch.Tensor:
        """The student's one-step x̂₀ (B·6, 4, r, r) from ``x_t`` at ``t`` (ε-prediction)."""
        alpha, sigma = self.schedule.coefficients(torch.full((x_t.shape[0],), t), x_t)
        return S.x0_from_eps(x_t, self.predict_eps(x_t, t, text), alpha, sigma)

    def sample(self, noise: torch.Tensor, text: torch.Tensor, timesteps: tuple[int, ...]) -> torch.Tensor:
        """Few-step DDIM (η = 0) from ``noise`` (B·6, 4, r, r) through ``timesteps`` (descending); returns the last step's
        x̂₀ (B·6, 4, r, r), as PRD decodes it (not the last x_{t'})."""
        x = noise
        for index, t in enumerate(timesteps):
            alpha, sigma = self.schedule.coefficients(torch.full((x.shape[0],), t), x)
            eps = self.predict_eps(x, t, text)
            x0 = S.x0_from_eps(x, eps, alpha, sigma)
            if index + 1 < len(timesteps):
                alpha_next, sigma_next = self.schedule.coefficients(torch.full((x.shape[0],), timesteps[index + 1]), x)
                x = S.ddim_step(x0, eps, alpha_next, sigma_next)
        return x0

    def decode(self, x0: torch.Tensor) -> Triplanes:
        """Latent planes (B·6, 4, r, r) → :class:`Triplanes` of (B, 3, F, R, R) (unscaled latents, as the reference)."""
        return split_planes(self.decoder(self.post_quant_conv(x0)), self.config.feature_channels)


def base_folder(config: StudentConfig, scratch: Path) -> Path:
    """The folder of the base models: the registry's for a role, ``scratch/tiny-base-…`` (built once per tiny config) for
    'tiny', or the named folder."""
    if config.base == "tiny":
        from . import tiny_base

        folder = scratch / f"tiny-base-{config.tiny_width}-{config.tiny_decoder_levels}-{config.plane_latent}-{config.tiny_pretrain_steps}"
        if not (folder / "model_index.json").is_file():
            tiny_base.build(folder, config.tiny_width, config.tiny_decoder_levels, config.plane_latent, pretrain_steps=config.tiny_pretrain_steps)
        return folder
    if config.base == "stable_diffusion":
        return model_folder("stable_diffusion", None)
    return model_folder("stable_diffusion", Path(config.base))


def load_student(config: StudentConfig, folder: Path, device: str | torch.device = "cpu", seed: int = 0) -> tuple[PRDStudent, PromptEncoder]:
    """The student on the base models in ``folder`` (fresh adapters from ``seed``: up projections zero, so it starts as the
    base) and the frozen prompt encoder, float32 on ``device``."""
    from ...teachers.stable_diffusion import load_parts

    runtime = Runtime.create(device, torch.float32)
    with reading("stable_diffusion"):
        unet, scheduler, vae, prompts = load_parts(folder, runtime)
    del vae.encoder
    if getattr(vae, "quant_conv", None) is not None:
        del vae.quant_conv
    return PRDStudent(unet, vae, scheduler, config, seed).to(device), prompts
