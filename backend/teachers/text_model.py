"""LLM-augmented view prompts (DTC123 Sec. 4.3): a text model describes the object as seen from each view.

A plain "a mushroom, back view" tells Stable Diffusion little about what the back of *this* object
looks like; the paper (Appendix C) gives a language model the description and asks, in one instruction,
for a sentence per view that agrees with it and with the other views. The sentences are made once per
job (greedy decoding, so a job is reproducible) by one query for all the views, parsed from its
"<view>: <sentence>" lines, and handed to the teachers as ``Condition.view_prompts``. A view the answer
does not give (an unparseable answer gives none) keeps DreamFusion's template ("<prompt>, <view> view"),
with a logged warning.

**On disk** (registry role ``text_model``): a transformers causal language model folder
(``config.json``, weights, tokenizer files), e.g. an instruction-tuned model such as
``Qwen/Qwen2.5-0.5B-Instruct``; its chat template is used when it has one.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch

from . import weight_files
from .latent_diffusion import VIEWS
from .model_folder import model_folder, reading

logger = logging.getLogger(__name__)

ROLE = "text_model"
INSTRUCTION = (
    "I am about to begin a series of image-3D generation tasks and need your help to create prompt descriptions. "
    'The frontal description is: "{prompt}". Give a one-sentence description of the object as seen from each of the '
    "front, side, back and top, ensuring: (1) alignment with the frontal description, (2) conciseness with rich textural "
    "detail, (3) 3D consistency across the descriptions, naming only what is visible from each view. "
    "Answer with exactly four lines, one per view, in this form:\n"
    "front: <sentence>\nside: <sentence>\nback: <sentence>\ntop: <sentence>"
)
"""The one instruction for all the views: the paper's (Appendix C), naming this code's views (front, side, back, top
instead of left, right and rear; both sides share a prompt) and the answer's form."""
ALIASES = {"front": "front", "frontal": "front", "side": "side", "left": "side", "right": "side", "back": "back", "rear": "back",
           "top": "overhead", "overhead": "overhead"}
"""View names an answer's lines may start with → the view they describe (the first line for a view wins)."""
LINE = re.compile(r"^[\s>*#\-•\d.)]*([a-z]+)(?:\s+(?:side|view))?[\s*]*[:\-–—]\s*(.+)$", re.IGNORECASE)
"""A line "<view>: <sentence>" (also "**Back view** - …", "2. rear: …")."""
MAX_NEW_TOKENS = 200
"""Longest answer, in tokens (four sentences)."""
MAX_CHARACTERS = 300
"""Longest prompt kept (CLIP's text encoder reads 77 tokens anyway)."""


def template(prompt: str, view: str) -> str:
    """DreamFusion's prompt for a view: "<prompt>, <view> view"."""
    return f"{prompt}, {view} view"


def clean(sentence: str) -> str:
    """A sentence unquoted and unstarred, whitespace collapsed, at most :data:`MAX_CHARACTERS`."""
    return " ".join(sentence.split()).strip("\"'*").strip()[:MAX_CHARACTERS]


def parse_answer(answer: str) -> dict[str, str]:
    """The sentences {view: sentence} of an answer's "<view>: <sentence>" lines (views of
    :data:`~backend.teachers.latent_diffusion.VIEWS`; names per :data:`ALIASES`); views it does not give are absent."""
    sentences: dict[str, str] = {}
    for line in answer.splitlines():
        match = LINE.match(line.strip())
        view = ALIASES.get(match.group(1).lower()) if match else None
        sentence = clean(match.group(2)) if match else ""
        if view and sentence and view not in sentences:
            sentences[view] = sentence
    return sentences


def per_view_prompts(prompt: str, answer: str) -> dict[str, str]:
    """One prompt per view, "<prompt>, <sentence>" from the answer, the template for a view it does not give (logged)."""
    sentences = parse_answer(answer)
    missing = [view for view in VIEWS if view not in sentences]
    if missing:
        logger.warning("the text model's answer gives no sentence for %s; those views keep the template. Answer: %r", ", ".join(missing), answer)
    return {view: f"{prompt}, {sentences[view]}" if view in sentences else template(prompt, view) for view in VIEWS}


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
        """One prompt per view from one query for all of them (:func:`per_view_prompts`)."""
        return per_view_prompts(prompt, self.ask(INSTRUCTION.format(prompt=prompt)))


def load(path: Path | str | None = None, *, device: torch.device | str = "cpu") -> ViewPromptWriter:
    """The registry's ``text_model`` (or ``path``): :class:`~backend.teachers.registry.MissingModelError` when absent."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = model_folder(ROLE, path)
    with reading(ROLE):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, variant=weight_files.variant(folder)).to(device)
    return ViewPromptWriter(model, tokenizer)
