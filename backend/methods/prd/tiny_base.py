"""A tiny random-weight stand-in for Stable Diffusion 2.1-base, in its on-disk layout, for tests and the CPU demo.

The folder is what ``stabilityai/stable-diffusion-2-1-base`` ships — ``model_index.json``, ``unet``, ``vae``,
``text_encoder``, ``tokenizer``, ``scheduler`` — holding the same classes (``UNet2DConditionModel`` with linear
projections and cross-attention on the text states, ``AutoencoderKL`` with 4 latent channels, ``CLIPTextModel``, SD's
DDIM scheduler) at a few channels, so the student loads it through the very path that loads the real one. Its
tokenizer is word-level over the synthetic text world's vocabulary (:mod:`backend.teachers.synthetic.text`): with
random weights a frozen text encoder only carries what its tokens separate, and whole words keep "red" and "cube"
apart for the adapters to learn from.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

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


def build(folder: Path, width: int = 32, decoder_levels: int = 3, latent: int = 8, seed: int = 0) -> Path:
    """Write the tiny pipeline into ``folder`` (UNet of widths (w, 2w) on ``latent``² planes, VAE of ``decoder_levels``
    levels of width w); returns ``folder``. The same arguments give the same weights."""
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
