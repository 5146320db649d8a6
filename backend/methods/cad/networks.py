"""CAD's 3D GAN: EG3D's triplane generator without pose conditioning, and the pose-conditioned discriminator.

G(z): mapping network z → w → StyleGAN2 synthesis of three feature planes (B, 3, C, R, R) →
triplane decoder → volume-rendered feature image at the raw resolution, whose first three
channels are the raw RGB. Two upsampling branches (supplement C):

- stage 1, **2D**: image-space modulated convolutions from the raw feature image to the output
  resolution (fast, view-inconsistent);
- stage 2, **3D**: modulated convolutions on the planes doubling their resolution; the output
  image is then volume-rendered directly (consistent), trained on patches against the
  stop-gradient 2D branch.

Cameras are c2w matrices (B, 4, 4) in the backend's convention (+Y up, the camera looks down −Z).
The synthesis network has no noise inputs (EG3D samples with constant noise; without them a
latent fully determines its object, which interpolation and inversion rely on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...core.cameras import get_rays
from ...core.triplane import TriplaneDecoder, density_activation, triplane_features
from ...core.volume import render_rays
from .config import DiscriminatorConfig, GeneratorConfig
from .layers import EqualConv2d, EqualLinear, ModulatedConv2d, normalize_second_moment


def block_channels(resolution: int, base: int, cap: int) -> int:
    """StyleGAN2's channel count of a block at ``resolution``: min(base / resolution, cap)."""
    return max(1, min(base // resolution, cap))


class MappingNetwork(nn.Module):
    """z (B, z_dim) → w (B, w_dim), with the running mean w̄ that truncation pulls towards."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01, w_avg_beta: float = 0.995) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activate=True) for a, b in zip(dims[:-1], dims[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg_beta = w_avg_beta

    def forward(self, z: torch.Tensor, truncation: float = 1.0, track: bool = False) -> torch.Tensor:
        w = self.net(normalize_second_moment(z))
        if track:
            self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if truncation != 1.0:
            w = self.w_avg.lerp(w, truncation)
        return w


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis: (up-)conv, conv, and a to-output 1×1 projection added to the skip image."""

    def __init__(self, in_channels: int, out_channels: int, image_channels: int, w_dim: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.conv0 = None if first else ModulatedConv2d(in_channels, out_channels, 3, w_dim, up=True)
        self.conv1 = ModulatedConv2d(in_channels if first else out_channels, out_channels, 3, w_dim)
        self.to_image = ModulatedConv2d(out_channels, image_channels, 1, w_dim, demodulate=False, activate=False)
        self.num_ws = 2 if first else 3

    def forward(self, x: torch.Tensor, image: torch.Tensor | None, ws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, in, r, r), ``image`` (B, C_img, r, r) or None, ``ws`` (B, num_ws, w_dim) → (B, out, r', r'), (B, C_img, r', r')."""
        index = 0
        if self.conv0 is not None:
            x = self.conv0(x, ws[:, 0])
            index = 1
        x = self.conv1(x, ws[:, index])
        out = self.to_image(x, ws[:, index + 1])
        if image is not None:
            out = out + F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
        return x, out


class ImageSynthesis(nn.Module):
    """StyleGAN2 synthesis from a learned 4×4 constant (or an input feature map) up to ``resolution``."""

    def __init__(self, resolution: int, image_channels: int, w_dim: int, base: int, cap: int, start: int = 4, in_channels: int | None = None) -> None:
        super().__init__()
        resolutions = [start * 2**i for i in range(int(math.log2(resolution // start)) + 1)]
        channels = [block_channels(r, base, cap) for r in resolutions]
        self.const = nn.Parameter(torch.randn(channels[0], start, start)) if in_channels is None else None
        first_in = channels[0] if in_channels is None else in_channels
        self.blocks = nn.ModuleList(
            SynthesisBlock(first_in if i == 0 else channels[i - 1], channels[i], image_channels, w_dim, first=i == 0)
            for i in range(len(resolutions))
        )
        self.num_ws = sum(block.num_ws for block in self.blocks) - (len(self.blocks) - 1)  # to-image shares w with the next conv

    def forward(self, ws: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """``ws`` (B, num_ws, w_dim) [, ``x`` (B, in, start, start)] → (B, image_channels, resolution, resolution)."""
        x = self.const[None].expand(ws.shape[0], -1, -1, -1) if x is None else x
        image, index = None, 0
        for block in self.blocks:
            x, image = block(x, image, ws[:, index : index + block.num_ws])
            index += block.num_ws - 1
        return image


@dataclass
class Rendered:
    features: torch.Tensor
    """(B, C, h, w) composited feature image; channels 0–2 are RGB over a white background."""
    opacity: torch.Tensor
    """(B, 1, h, w) accumulated alpha."""

    @property
    def rgb(self) -> torch.Tensor:
        """(B, 3, h, w)."""
        return self.features[:, :3]


class CADGenerator(nn.Module):
    """The whole generator; ``forward`` is not used — call :meth:`mapping`, :meth:`planes`, :meth:`render`."""

    def __init__(self, config: GeneratorConfig, with_3d_upsampler: bool = True) -> None:
        super().__init__()
        c = self.config = config
        self.mapping = MappingNetwork(c.z_dim, c.w_dim, c.mapping_layers)
        self.synthesis = ImageSynthesis(c.triplane_resolution, 3 * c.triplane_channels, c.w_dim, c.channel_base, c.channel_max)
        self.decoder = TriplaneDecoder(c.triplane_channels, c.decoder_hidden, layers=1, rgb_channels=c.render_features)
        self.upsampler_2d = ImageSynthesis(
            c.image_resolution, 3, c.w_dim, c.channel_base, c.channel_max, start=c.render_resolution, in_channels=c.render_features,
        )
        self.upsampler_3d = (
            ImageSynthesis(2 * c.triplane_resolution, c.triplane_channels, c.w_dim, c.channel_base, c.channel_max,
                           start=c.triplane_resolution, in_channels=c.triplane_channels)
            if with_3d_upsampler else None
        )  # fmt: skip
        self.num_ws = self.synthesis.num_ws

    def ws(self, z: torch.Tensor, truncation: float = 1.0, track: bool = False) -> torch.Tensor:
        """z (B, z_dim) → ws (B, num_ws, w_dim) (the same w at every layer)."""
        return self.mapping(z, truncation, track)[:, None].expand(-1, self.num_ws, -1)

    def planes(self, ws: torch.Tensor, upsampled: bool = False) -> torch.Tensor:
        """ws (B, num_ws, w_dim) → triplanes (B, 3, C, R, R); R doubled by the 3D upsampler when ``upsampled``."""
        c = self.config
        planes = self.synthesis(ws).reshape(ws.shape[0], 3, c.triplane_channels, c.triplane_resolution, c.triplane_resolution)
        return self.upsample(planes, ws) if upsampled else planes

    def upsample(self, planes: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        """The 3D upsampler: triplanes (B, 3, C, R, R) of ``ws`` (B, num_ws, w_dim) → (B, 3, C, 2R, 2R)."""
        if self.upsampler_3d is None:
            raise ValueError("this generator was built without the 3D upsampler")
        batch, _, channels, side, _ = planes.shape
        flat = planes.reshape(-1, channels, side, side)
        up_ws = ws[:, -1:].expand(-1, self.upsampler_3d.num_ws, -1).repeat_interleave(3, dim=0)
        up = self.upsampler_3d(up_ws, flat)
        return (F.interpolate(flat, scale_factor=2, mode="bilinear", align_corners=False) + up).reshape(batch, 3, channels, *up.shape[-2:])

    def field(self, planes: torch.Tensor):
        """A volume-rendering field over ``planes`` (B, 3, C, R, R): points (B·N, 3) in batch order → (features (B·N, F), density (B·N,))."""
        box = (-self.config.box, self.config.box)

        def evaluate(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = triplane_features(planes, points.reshape(planes.shape[0], -1, 3), box)
            rgb, raw = self.decoder(features)
            return rgb.reshape(points.shape[0], -1), density_activation(raw).reshape(-1)

        return evaluate

    def render(self, planes: torch.Tensor, c2w: torch.Tensor, resolution: int, window: tuple[int, int, int] | None = None, perturb: bool = True) -> Rendered:
        """Volume-render ``planes`` (B, 3, C, R, R) from ``c2w`` (B, 4, 4) at ``resolution``²; ``window`` (top, left, size) renders only that square patch."""
        c = self.config
        origins, directions = get_rays(c2w, c.fov_deg, resolution, resolution)  # (B, H, W, 3)
        if window is not None:
            top, left, size = window
            origins, directions = origins[:, top : top + size, left : left + size], directions[:, top : top + size, left : left + size]
        batch, height, width, _ = origins.shape
        background = torch.zeros(c.render_features, device=planes.device, dtype=planes.dtype)
        background[:3] = 1.0
        out = render_rays(
            self.field(planes), origins.reshape(-1, 3), directions.reshape(-1, 3), box=(-c.box, c.box),
            coarse=c.samples, fine=c.importance_samples, perturb=perturb, background=background,
        )  # fmt: skip
        features = out.rgb.reshape(batch, height, width, -1).permute(0, 3, 1, 2)
        return Rendered(features=features, opacity=out.opacity.reshape(batch, 1, height, width))

    def image_2d(self, ws: torch.Tensor, c2w: torch.Tensor, planes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage-1 branch: (raw RGB (B, 3, r, r), upsampled RGB (B, 3, S, S)) with r the raw and S the image resolution."""
        planes = self.planes(ws) if planes is None else planes
        raw = self.render(planes, c2w, self.config.render_resolution)
        up_ws = ws[:, -1:].expand(-1, self.upsampler_2d.num_ws, -1)
        return raw.rgb, F.interpolate(raw.rgb, scale_factor=self.config.image_resolution // self.config.render_resolution, mode="bilinear", align_corners=False) + self.upsampler_2d(up_ws, raw.features)


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator on (B, channels, R, R) images, conditioned on the absolute camera pose.

    The pose — the flattened c2w (B, 16) — is embedded by a small mapping network and the final
    features are projected on it (EG3D's conditioning): score = ⟨features, embed(pose)⟩ / √dim.
    """

    def __init__(self, resolution: int, channels: int, config: DiscriminatorConfig) -> None:
        super().__init__()
        c = config
        resolutions = [resolution // 2**i for i in range(int(math.log2(resolution // 4)) + 1)]  # R … 4
        widths = [block_channels(r, c.channel_base, c.channel_max) for r in resolutions]
        self.from_rgb = EqualConv2d(channels, widths[0], 1)
        self.blocks = nn.ModuleList(DiscriminatorBlock(widths[i], widths[i + 1]) for i in range(len(resolutions) - 1))
        self.mbstd_group = c.mbstd_group
        self.conv = EqualConv2d(widths[-1] + 1, widths[-1], 3)
        self.fc = EqualLinear(widths[-1] * 16, widths[-1], activate=True)
        self.out = EqualLinear(widths[-1], c.pose_embedding)
        self.pose_mapping = nn.Sequential(EqualLinear(16, c.pose_embedding, activate=True), EqualLinear(c.pose_embedding, c.pose_embedding))

    def forward(self, images: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
        """Scores (B,) of ``images`` (B, channels, R, R) seen from ``c2w`` (B, 4, 4)."""
        x = self.from_rgb(images)
        for block in self.blocks:
            x = block(x)
        x = self.conv(minibatch_std(x, self.mbstd_group))
        x = self.out(self.fc(x.flatten(1)))
        embedding = normalize_second_moment(self.pose_mapping(c2w.reshape(-1, 16)))
        return (x * embedding).sum(dim=1) / math.sqrt(x.shape[1])


class DiscriminatorBlock(nn.Module):
    """Two 3×3 convolutions halving the resolution, with a 1×1 residual skip (StyleGAN2's ``resnet`` D)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, down=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, activate=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) / math.sqrt(2.0)


def minibatch_std(x: torch.Tensor, group: int) -> torch.Tensor:
    """(B, C, H, W) → (B, C + 1, H, W): appends the standard deviation across groups of samples, averaged to one channel."""
    batch, channels, height, width = x.shape
    size = math.gcd(min(group, batch), batch)
    y = x.reshape(size, -1, channels, height, width)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / size,)
    y = y.reshape(-1, 1, 1, 1).repeat(size, 1, height, width)
    return torch.cat([x, y], dim=1)
