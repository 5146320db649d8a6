"""LLM-augmented view prompts (DTC123 Sec. 4.3): a text model describes the object as seen from each view.

A plain "a mushroom, back view" tells Stable Diffusion little about what the back of *this* object
looks like; the paper asks a language model for one sentence per view instead. The sentences are
made once per job (greedy decoding, so a job is reproducible) and handed to the teachers as
``Condition.view_prompts``. Without a text model, or when its answer is empty, the view keeps
DreamFusion's template ("<prompt>, <view> view").

**On disk** (registry role ``text_model``): a transformers causal language model folder
(``config.json``, weights, tokenizer files), e.g. an instruction-tuned model such as
``Qwen/Qwen2.5-0.5B-Instruct``; its chat template is used when it has one.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .latent_diffusion import VIEWS
from .model_folder import model_folder, reading

ROLE = "text_model"
INSTRUCTION = (
    "Describe in one short sentence how {prompt} looks from the {view}, "
    "naming only what is visible from there. Answer with the sentence only."
)
"""What the model is asked for each view."""
VIEW_PHRASES = {"front": "front", "side": "side", "back": "back", "overhead": "top"}
"""How each view is named in the instruction."""
MAX_NEW_TOKENS = 48
"""Longest answer, in tokens."""
MAX_CHARACTERS = 300
"""Longest prompt kept (CLIP's text encoder reads 77 tokens anyway)."""


def template(prompt: str, view: str) -> str:
    """DreamFusion's prompt for a view: "<prompt>, <view> view"."""
    return f"{prompt}, {view} view"


def clean(answer: str) -> str:
    """The first line of a model's answer, unquoted, whitespace collapsed, at most :data:`MAX_CHARACTERS`."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    first = " ".join(lines[0].split()).strip("\"'") if lines else ""
    return first[:MAX_CHARACTERS]


class ViewPromptWriter:
    """``writer.view_prompts(prompt)`` → {view: sentence} for :data:`~backend.teachers.latent_diffusion.VIEWS`."""

    def __init__(self, model: torch.nn.Module, tokenizer) -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer

    def ask(self, instruction: str) -> str:
        """The model's greedy answer to ``instruction``."""
        tokenizer = self.tokenizer
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template([{"role": "user", "content": instruction}], tokenize=False, add_generation_prompt=True)
        else:
            text = instruction + "\n"
        inputs = tokenizer(text, return_tensors="pt").to(next(self.model.parameters()).device)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        with torch.no_grad():
            output = self.model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, pad_token_id=pad)
        return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def view_prompts(self, prompt: str) -> dict[str, str]:
        """One sentence per view; a view whose answer is empty keeps the template."""
        prompts = {}
        for view in VIEWS:
            sentence = clean(self.ask(INSTRUCTION.format(prompt=prompt, view=VIEW_PHRASES[view])))
            prompts[view] = f"{prompt}, {sentence}" if sentence else template(prompt, view)
        return prompts


def load(path: Path | str | None = None, *, device: torch.device | str = "cpu") -> ViewPromptWriter:
    """The registry's ``text_model`` (or ``path``): :class:`~backend.teachers.registry.MissingModelError` when absent."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = model_folder(ROLE, path)
    with reading(ROLE):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder).to(device)
    return ViewPromptWriter(model, tokenizer)
