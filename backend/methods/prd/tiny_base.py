"""A tiny random-weight stand-in for Stable Diffusion 2.1-base, in its on-disk layout, for tests and the CPU demo.

The folder is what ``stabilityai/stable-diffusion-2-1-base`` ships — ``model_index.json``, ``unet``, ``vae``,
``text_encoder``, ``tokenizer``, ``scheduler`` — holding the same classes (``UNet2DConditionModel`` with linear
projections and cross-attention on the text states, ``AutoencoderKL`` with 4 latent channels, ``CLIPTextModel``, SD's
DDIM scheduler) at a few channels, so the student loads it through the very path that loads the real one. Its
tokenizer is word-level over the synthetic text world's vocabulary (:mod:`backend.teachers.synthetic.text`): with
random weights a frozen text encoder only carries what its tokens separate, and whole words keep "red" and "cube"
apart for the adapters to learn from.

A UNet with random weights is no denoiser: its ε̂ is unrelated to the noise, so the x̂₀ a student starts from has a
standard deviation of ~15 and depends on the noise 200 times more than on the prompt (measured: 141 % against 0.5–0.7 %
relative change). PRD adapts a *pretrained* Stable Diffusion, whose x̂₀ from pure noise is a plausible, prompt-led
latent. So the tiny UNet is given :func:`pretrain_denoiser` steps of ordinary ε-prediction training on smooth random
latents whose coarse layout a fixed random projection reads from the prompt's text states: it becomes a denoiser that
follows its text but knows no objects (the layouts are random, not renders) — the student still learns every shape and
colour from its teacher.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ...teachers.random_weights import sd_scheduler
from ...teachers.synthetic.text import vocabulary

TEXT_WIDTH = 32
"""Width of the tiny text encoder's hidden states (SD 2.1: 1024)."""
MAX_TOKENS = 77
"""Tokens per prompt, as SD's CLIP."""
SPECIAL = ("<|startoftext|>", "<|endoftext|>", "<unk>")


def word_tokenizer():
    """A fast word-level tokenizer over the text world's words (lower case, punctuation dropped), padded to 77 tokens
    with start and end tokens as CLIP's."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({word for group in vocabulary().values() for phrase in group for word in phrase.split()})
    vocab = {token: index for index, token in enumerate(SPECIAL + tuple(words))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation("removed")])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|startoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>", unk_token="<unk>",
        model_max_length=MAX_TOKENS,
    )  # fmt: skip


def smooth_latents(count: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 4, side, side) random latents with neighbouring cells correlated (a 3×3 box filter, std ≈ 0.5)."""
    x = torch.randn(count, 4, side, side, generator=generator)
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="circular"), 3, 1) * 1.5


def text_layout(text: torch.Tensor, projection: torch.Tensor, side: int) -> torch.Tensor:
    """(B, 4, side, side) coarse layouts a fixed random ``projection`` (D, 16) reads from the mean text state of ``text``
    (B, L, D): 4 channels × 2 × 2 cells, upsampled — what the prompt decides in the pretraining data."""
    coarse = (text.mean(1) @ projection).reshape(-1, 4, 2, 2)
    return F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)


def pretrain_denoiser(unet, scheduler, prompts, steps: int, side: int, generator: torch.Generator, batch: int = 32) -> list[float]:
    """``steps`` of ε-prediction training (Adam, lr 1e-3, t uniform) of ``unet`` on :func:`smooth_latents` plus the prompt's
    :func:`text_layout`, under random grammar prompts' text states from ``prompts`` (a callable: prompts → (B, L, D)), so the
    UNet learns to denoise and to follow its text; returns the losses."""
    from ...teachers import schedule as S
    from ...teachers.synthetic.text import random_prompt

    schedule = S.NoiseSchedule.from_scheduler(scheduler)
    optimizer = torch.optim.Adam(unet.parameters(), lr=1e-3)
    losses = []
    unet.train()
    projection = None
    for _ in range(steps):
        with torch.no_grad():
            text = prompts([random_prompt(generator) for _ in range(batch)])
        if projection is None:
            projection = torch.randn(text.shape[-1], 16, generator=generator) * (2.0 / text.shape[-1] ** 0.5)
        x0 = smooth_latents(batch, side, generator) + text_layout(text, projection, side)
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, schedule.steps, (batch,), generator=generator)
        alpha, sigma = schedule.coefficients(t, x0)
        loss = F.mse_loss(unet(S.add_noise(x0, noise, alpha, sigma), t, encoder_hidden_states=text).sample, noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def build(folder: Path, width: int = 32, decoder_levels: int = 3, latent: int = 8, seed: int = 0, pretrain_steps: int = 2000) -> Path:
    """Write the tiny pipeline into ``folder`` (UNet of widths (w, 2w) on ``latent``² planes, pretrained as a denoiser for
    ``pretrain_steps``; VAE of ``decoder_levels`` levels of width w); returns ``folder``. The same arguments give the same
    weights (on one machine; the pretraining is float arithmetic)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = word_tokenizer()
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=MAX_TOKENS, projection_dim=TEXT_WIDTH, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))  # fmt: skip
    unet = UNet2DConditionModel(
        sample_size=latent, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(width, 2 * width),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_WIDTH, attention_head_dim=(4, 8), use_linear_projection=True, norm_num_groups=8,
    )  # fmt: skip
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, block_out_channels=(width,) * decoder_levels,
        down_block_types=("DownEncoderBlock2D",) * decoder_levels, up_block_types=("UpDecoderBlock2D",) * decoder_levels,
        norm_num_groups=8, sample_size=latent * 2 ** (decoder_levels - 1), scaling_factor=0.18215,
    )  # fmt: skip
    if pretrain_steps:
        from ...teachers.latent_diffusion import PromptEncoder, Runtime

        encoder = PromptEncoder(tokenizer, text.eval().requires_grad_(False), Runtime.create("cpu", torch.float32))
        pretrain_denoiser(unet, sd_scheduler(), encoder, pretrain_steps, latent, torch.Generator().manual_seed(seed))
    folder.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    text.save_pretrained(folder / "text_encoder")
    tokenizer.save_pretrained(folder / "tokenizer")
    sd_scheduler().save_pretrained(folder / "scheduler")
    index = {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "PreTrainedTokenizerFast"], "scheduler": ["diffusers", "DDIMScheduler"],
    }  # fmt: skip
    (folder / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    return folder
