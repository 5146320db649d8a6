"""Tiny random-weight checkpoints in the on-disk layouts of the real diffusers teachers.

Every model is an instance of the class the real checkpoint uses, saved with
``save_pretrained`` into the sub-folder the real ``model_index.json`` names, so the
teachers' real ``load`` functions read them unchanged. Tokenizers are real
``CLIPTokenizer`` / ``T5Tokenizer`` classes over a letters-only vocabulary built here
(nothing is downloaded).
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

from backend.teachers.random_weights import letters_clip_tokenizer

CONTEXT_WIDTH = 32
"""Cross-attention width of the tiny UNets (the CLIP text and image embeddings have this size too)."""
T5_WIDTH = 16
"""Hidden size of the tiny T5, projected to CONTEXT_WIDTH by IF's UNets (``encoder_hid_dim``)."""
IF_SIZES = (16, 64)
"""Sample sizes of the tiny IF stage I and stage II UNets (real: 64 and 256)."""
MAX_TOKENS = 77
"""Tokens per prompt, as in the real CLIP/IF pipelines."""


def clip_tokenizer():
    """A ``CLIPTokenizer`` whose vocabulary is single letters (every word is spelled out)."""
    return letters_clip_tokenizer(MAX_TOKENS)


def t5_tokenizer():
    """A unigram ``T5Tokenizer`` over single letters (word starts marked with ▁)."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(letter, -3.0) for letter in string.ascii_lowercase] + [("▁" + letter, -3.5) for letter in string.ascii_lowercase]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=MAX_TOKENS)


def load_through_registry(load, folders: dict[str, Path], **options):
    """``load(**options)`` with the registry pointed at ``folders`` (role → folder) by environment, as a user would."""
    import pytest

    from backend.teachers import registry

    with pytest.MonkeyPatch.context() as patch:
        for role, folder in folders.items():
            patch.setenv(registry.ROLE_ENV_PREFIX + role.upper(), str(folder))
        return load(**options)


def write_sentencepiece_tokenizer(folder: Path, vocab_size: int) -> None:
    """Replace ``folder`` with what the real DeepFloyd IF repos ship as their tokenizer: a SentencePiece
    ``spiece.model`` (trained here on a few captions) and a ``tokenizer_config.json`` — no ``tokenizer.json``,
    so loading it needs sentencepiece and protobuf, as the real one does."""
    import io
    import shutil

    import sentencepiece

    captions = ["a red chair on a blue table", "a photo of a cat", "the quick brown fox jumps over the lazy dog"] * 40
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(captions), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2,
    )  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "spiece.model").write_bytes(model.getvalue())
    write_json(folder / "tokenizer_config.json", {"tokenizer_class": "T5Tokenizer", "model_max_length": MAX_TOKENS, "extra_ids": 0})


def clip_text_encoder(vocab_size: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=CONTEXT_WIDTH, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=MAX_TOKENS, projection_dim=CONTEXT_WIDTH, eos_token_id=1, bos_token_id=0, pad_token_id=1,
    )  # fmt: skip
    return CLIPTextModel(config)


def t5_encoder(vocab_size: int):
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    config = T5Config(vocab_size=vocab_size, d_model=T5_WIDTH, d_kv=8, d_ff=32, num_layers=1, num_heads=2, pad_token_id=0, eos_token_id=1)
    return T5EncoderModel(config)


def unet(in_channels: int, out_channels: int, sample_size: int, *, levels: int = 2, **config):
    """A ``UNet2DConditionModel`` with ``levels`` resolutions, cross-attention only at the coarsest one."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    widths = (8, 16, 16, 16)[:levels]
    return UNet2DConditionModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=out_channels, layers_per_block=1,
        block_out_channels=widths, norm_num_groups=4, attention_head_dim=4, cross_attention_dim=CONTEXT_WIDTH,
        down_block_types=("DownBlock2D",) * (levels - 1) + ("CrossAttnDownBlock2D",),
        up_block_types=("CrossAttnUpBlock2D",) + ("UpBlock2D",) * (levels - 1),
        **config,
    )  # fmt: skip


def vae():
    """An ``AutoencoderKL`` with four resolutions: 8 pixels per latent cell, like Stable Diffusion's."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(4, 4, 8, 8), norm_num_groups=4, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, scaling_factor=0.18215,
    )  # fmt: skip


def ddim(**config):
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False, set_alpha_to_one=False, steps_offset=1, **config)


def ddpm_cosine():
    """IF's scheduler: cosine betas with a learned variance range."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(beta_schedule="squaredcos_cap_v2", variance_type="learned_range", thresholding=True, clip_sample=True)


def save_pipeline(folder: Path, pipeline_class: str, components: dict[str, tuple[object, str, str]]) -> Path:
    """Each component saved into ``folder/<name>`` plus the ``model_index.json`` naming (library, class) for each."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {"_class_name": pipeline_class, "_diffusers_version": "0.42.1"}
    for name, (component, library, class_name) in components.items():
        if component is not None:
            component.save_pretrained(folder / name)
        index[name] = [library, class_name] if component is not None else [None, None]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    return folder


def write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2), encoding="utf-8")


# ------------------------------------------------------------------ checkpoints


def stable_diffusion(folder: Path, *, prediction_type: str = "epsilon", sample_size: int = 8) -> Path:
    """A ``StableDiffusionPipeline`` folder (the SD 2.1 base layout; 1.5 has the same components); its UNet's
    ``sample_size`` latents make the native image side 8 × ``sample_size`` (the real model: 64 → 512²)."""
    tokenizer = clip_tokenizer()
    return save_pipeline(folder, "StableDiffusionPipeline", {
        "vae": (vae(), "diffusers", "AutoencoderKL"),
        "text_encoder": (clip_text_encoder(len(tokenizer)), "transformers", "CLIPTextModel"),
        "tokenizer": (tokenizer, "transformers", "CLIPTokenizer"),
        "unet": (unet(4, 4, sample_size), "diffusers", "UNet2DConditionModel"),
        "scheduler": (ddim(prediction_type=prediction_type), "diffusers", "DDIMScheduler"),
        "safety_checker": (None, "", ""),
        "feature_extractor": (None, "", ""),
    })  # fmt: skip


def zero123(folder: Path, *, projection_folder: str = "clip_camera_projection", sample_size: int = 32) -> Path:
    """A Zero-1-to-3 diffusers folder; ``projection_folder`` picks the threestudio or the community layout; the UNet's
    ``sample_size`` latents make the native image side 8 × ``sample_size`` (32 → 256², as the real model)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8,
        projection_dim=CONTEXT_WIDTH,
    ))  # fmt: skip
    save_pipeline(folder, "Zero123Pipeline", {
        "vae": (vae(), "diffusers", "AutoencoderKL"),
        "image_encoder": (image_encoder, "transformers", "CLIPVisionModelWithProjection"),
        "unet": (unet(8, 4, sample_size), "diffusers", "UNet2DConditionModel"),
        "scheduler": (ddim(), "diffusers", "DDIMScheduler"),
        "safety_checker": (None, "", ""),
    })  # fmt: skip
    write_json(folder / "feature_extractor" / "preprocessor_config.json", {
        "crop_size": {"height": 32, "width": 32}, "size": {"shortest_edge": 32}, "do_center_crop": True, "do_normalize": True,
        "do_resize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "CLIPImageProcessor", "resample": 3,
    })  # fmt: skip
    camera_projection(folder / projection_folder)
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    index["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
    index[projection_folder] = ["zero123", "CLIPCameraProjection"] if projection_folder == "clip_camera_projection" else ["pipeline_zero1to3", "CCProjection"]
    write_json(folder / "model_index.json", index)
    return folder


def camera_projection(folder: Path) -> torch.nn.Linear:
    """The (D + 4) → D projection saved like the real ones: threestudio's ``CLIPCameraProjection`` keeps it in
    ``proj`` with config (embedding_dim, additional_embeddings); the community ``CCProjection`` in ``projection``
    with config (in_channel, out_channel). Returns the Linear."""
    from safetensors.torch import save_file

    torch.manual_seed(1)
    linear = torch.nn.Linear(CONTEXT_WIDTH + 4, CONTEXT_WIDTH)
    if folder.name == "clip_camera_projection":
        layer, config = "proj", {"_class_name": "CLIPCameraProjection", "embedding_dim": CONTEXT_WIDTH, "additional_embeddings": 4}
    else:
        layer, config = "projection", {"_class_name": "CCProjection", "in_channel": CONTEXT_WIDTH + 4, "out_channel": CONTEXT_WIDTH}
    write_json(folder / "config.json", {**config, "_diffusers_version": "0.42.1"})
    save_file({f"{layer}.weight": linear.weight.detach().contiguous(), f"{layer}.bias": linear.bias.detach().contiguous()}, str(folder / "diffusion_pytorch_model.safetensors"))
    return linear


def controlnet(folder: Path) -> Path:
    """A ``ControlNetModel`` folder (config.json + weights at the top level) matching :func:`stable_diffusion`'s UNet.

    A new ControlNet's "zero convolutions" output nothing; they get random weights here, as training gives them.
    """
    from diffusers import ControlNetModel

    torch.manual_seed(2)
    model = ControlNetModel(
        in_channels=4, layers_per_block=1, block_out_channels=(8, 16), norm_num_groups=4, attention_head_dim=4,
        cross_attention_dim=CONTEXT_WIDTH, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        conditioning_embedding_out_channels=(4, 4, 8, 8),
    )  # fmt: skip
    for zero_conv in [model.controlnet_cond_embedding.conv_out, *model.controlnet_down_blocks, model.controlnet_mid_block]:
        torch.nn.init.normal_(zero_conv.weight, std=0.2)
    model.save_pretrained(folder)
    return folder


def if_stage1(folder: Path) -> Path:
    """An ``IFPipeline`` (stage I) folder: T5 text encoder, 3 → 6 channel UNet, cosine DDPM scheduler.

    The real stage I works at 64² and stage II at 256²; the tiny ones at :data:`IF_SIZES` (the teachers read the size
    from ``unet.config.sample_size``), which keeps the tests fast.
    """
    tokenizer = t5_tokenizer()
    stage_unet = unet(3, 6, IF_SIZES[0], encoder_hid_dim=T5_WIDTH, encoder_hid_dim_type="text_proj", addition_embed_type="text", addition_embed_type_num_heads=2)
    save_pipeline(folder, "IFPipeline", {
        "tokenizer": (tokenizer, "transformers", "T5Tokenizer"),
        "text_encoder": (t5_encoder(len(tokenizer)), "transformers", "T5EncoderModel"),
        "unet": (stage_unet, "diffusers", "UNet2DConditionModel"),
        "scheduler": (ddpm_cosine(), "diffusers", "DDPMScheduler"),
        "safety_checker": (None, "", ""),
        "feature_extractor": (None, "", ""),
        "watermarker": (None, "", ""),
    })  # fmt: skip
    write_sentencepiece_tokenizer(folder / "tokenizer", vocab_size=32)
    return folder


def if_stage2(folder: Path) -> Path:
    """An ``IFSuperResolutionPipeline`` (stage II) folder without text encoder: 6 → 6 channel UNet taking noise-level class labels."""
    from diffusers import DDPMScheduler

    stage_unet = unet(6, 6, IF_SIZES[1], levels=3, encoder_hid_dim=T5_WIDTH, encoder_hid_dim_type="text_proj", class_embed_type="timestep")
    return save_pipeline(folder, "IFSuperResolutionPipeline", {
        "tokenizer": (None, "", ""),
        "text_encoder": (None, "", ""),
        "unet": (stage_unet, "diffusers", "UNet2DConditionModel"),
        "scheduler": (ddpm_cosine(), "diffusers", "DDPMScheduler"),
        "image_noising_scheduler": (DDPMScheduler(beta_schedule="squaredcos_cap_v2"), "diffusers", "DDPMScheduler"),
        "safety_checker": (None, "", ""),
        "feature_extractor": (None, "", ""),
        "watermarker": (None, "", ""),
    })  # fmt: skip


def dpt(folder: Path) -> Path:
    """A ``DPTForDepthEstimation`` folder (config.json, weights, preprocessor_config.json) at 32², as ``Intel/dpt-large`` lays it out."""
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(3)
    config = DPTConfig(
        hidden_size=16, num_hidden_layers=4, backbone_out_indices=[0, 1, 2, 3], num_attention_heads=2, intermediate_size=32,
        image_size=32, patch_size=8, neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=8, reassemble_factors=[4, 2, 1, 0.5],
    )  # fmt: skip
    DPTForDepthEstimation(config).save_pretrained(folder)
    DPTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def causal_lm(folder: Path) -> Path:
    """A tiny GPT-2 causal language model with a word-level tokenizer (tokenizer.json + config), loadable by the Auto classes."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["<unk>", "<eos>", "a", "the", "red", "mushroom", "cap", "stem", "from", "front", "side", "back", "top", "view", "looks", "white", ".", ","]
    backend = Tokenizer(models.WordLevel({word: index for index, word in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(4)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(words), n_positions=512, n_embd=16, n_layer=1, n_head=2, eos_token_id=1, bos_token_id=1)).save_pretrained(folder)
    return folder


def blip(folder: Path) -> Path:
    """A tiny ``BlipForConditionalGeneration`` with its ``BlipProcessor`` (32² images, a 12-word BERT vocabulary)."""
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    folder.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "mushroom", "on", "white", "photo", "of"]
    (folder / "vocab.txt").write_text("\n".join(words), encoding="utf-8")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"), bos_token="[CLS]")
    BlipProcessor(BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer).save_pretrained(folder)
    torch.manual_seed(5)
    text = dict(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                encoder_hidden_size=16, max_position_embeddings=64, bos_token_id=2, sep_token_id=3, pad_token_id=0)  # fmt: skip
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8)
    BlipForConditionalGeneration(BlipConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)
    return folder


def fp16_variant(folder: Path, model_class) -> Path:
    """Save the ``model_class`` model in ``folder`` again as its fp16 variant beside it (``….fp16.safetensors``), as hub
    repos ship one; returns ``folder``."""
    model_class.from_pretrained(folder, torch_dtype=torch.float16).save_pretrained(folder, variant="fp16")
    return folder
