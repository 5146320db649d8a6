"""The model registry: role → hub id or local folder, where it resolves, and whether it is on disk.

Every pretrained model is named by a *role* (``zero123``, ``stable_diffusion``, …).
A role resolves, in order, from the environment variable ``DISTILL3D_MODEL_<ROLE>``,
then from the ``[models]`` table of the config file (``$DISTILL3D_MODELS_FILE``,
else ``~/.config/distill3d/models.toml``), then from its default hub id. A value is
a local folder (used as is) or a Hugging Face hub id, which is looked up in the
local hub cache only — this module never downloads.

Torch-free (the broker checks models at submit time).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from protocol.errors import ErrorCode, ProtocolError

CONFIG_ENV = "DISTILL3D_MODELS_FILE"
"""Environment variable naming the models config file."""
ROLE_ENV_PREFIX = "DISTILL3D_MODEL_"
"""``DISTILL3D_MODEL_ZERO123=/models/zero123-xl`` overrides one role."""
DEFAULT_CONFIG = Path("~/.config/distill3d/models.toml")
LOAD_ARGUMENT = "the load() argument"
"""The source of a folder passed to a loader directly."""


@dataclass(frozen=True)
class ModelRole:
    """A model the methods can ask for."""

    role: str
    """Registry key, e.g. ``zero123``."""
    default: str
    """Hugging Face hub id used when nothing overrides it."""
    description: str
    """What it is, for people."""
    used_by: str
    """Which methods use it, and for what."""
    marker: str
    """A file every copy of the model has (proves a folder is the model, not just a folder)."""


ROLES: dict[str, ModelRole] = {
    r.role: r
    for r in (
        ModelRole("zero123", "bennyguo/zero123-xl-diffusers", "Zero-1-to-3 XL (diffusers layout): novel views from one image and a relative camera", "DTC123 (geometry SDS), CAD (multi-view prior)", "model_index.json"),
        ModelRole("stable_diffusion", "stabilityai/stable-diffusion-2-1-base", "Stable Diffusion 2.1 base, 512², text to image", "DTC123 (texture SDS), PRD (the adapted generator)", "model_index.json"),
        ModelRole("controlnet_depth", "lllyasviel/sd-controlnet-depth", "ControlNet conditioned on depth, for Stable Diffusion 1.5", "CAD (prior refinement, s = 0.8)", "config.json"),
        ModelRole("controlnet_base", "stable-diffusion-v1-5/stable-diffusion-v1-5", "Stable Diffusion 1.5, the base model ControlNet-depth runs on", "CAD (prior refinement)", "model_index.json"),
        ModelRole("deepfloyd_if_stage1", "DeepFloyd/IF-I-XL-v1.0", "DeepFloyd IF stage I (64², pixel space, T5 text encoder); gated: accept its licence on the hub", "CAD (prior refinement, s = 0.3)", "model_index.json"),
        ModelRole("deepfloyd_if_stage2", "DeepFloyd/IF-II-L-v1.0", "DeepFloyd IF stage II (64² → 256² super-resolution); gated: accept its licence on the hub", "CAD (prior refinement, s = 0.7)", "model_index.json"),
        ModelRole("prd_student", "ZhiyuanthePony/TriplaneTurbo", "PRD's published PETA adapters and triplane MLPs (triplane_turbo_sd_v1.pth, 91 MB; runs on Stable Diffusion 2.1 base)", "PRD (the student)", "triplane_turbo_sd_v1.pth"),
        ModelRole("mvdream", "ashawkey/mvdream-sd2.1-diffusers", "MVDream 4-view camera-conditioned diffusion (SD 2.1 based, diffusers layout)", "PRD (multi-view teacher)", "model_index.json"),
        ModelRole("clip", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "OpenCLIP ViT-B/32 image-text encoder (open_clip layout)", "CAD (pose pruning), evaluation metrics", "open_clip_config.json"),
        ModelRole("captioner", "Salesforce/blip-image-captioning-large", "BLIP image captioning (transformers layout); optional", "DTC123 (a prompt for an image given without one)", "tokenizer_config.json"),
        ModelRole("text_model", "Qwen/Qwen2.5-0.5B-Instruct", "A small instruction-tuned causal language model (transformers layout); optional", "DTC123 (LLM-augmented view prompts)", "tokenizer_config.json"),
        ModelRole("depth", "Intel/dpt-large", "DPT-Large (MiDaS 3.0) monocular relative depth (transformers layout); optional", "DTC123 (reference depth for the Pearson loss), CAD (ControlNet-depth refinement)", "preprocessor_config.json"),
    )
}


@dataclass(frozen=True)
class Resolution:
    """Where one role resolves on this machine."""

    role: str
    """Registry key."""
    reference: str
    """The hub id or folder the role points at."""
    source: str
    """Where ``reference`` came from: ``default``, the config file's path, or the environment variable's name."""
    path: Path | None
    """The local folder holding the model, or None when it is not on disk (or incomplete)."""
    problem: str | None = None
    """Why a folder that was found is not usable (an incomplete download), else None."""

    @property
    def present(self) -> bool:
        return self.path is not None

    def how_to_obtain(self) -> str:
        """One actionable sentence for a missing model."""
        role = ROLES[self.role]
        if self.problem and (self.source == LOAD_ARGUMENT or _looks_local(self.reference)):
            return f"{self.problem}; copy the whole model into that folder"
        if self.problem:
            return f"{self.problem}; the cached download is incomplete: run `huggingface-cli download {self.reference}` again"
        if self.source == LOAD_ARGUMENT:
            return f"pass a folder that holds {role.marker} (and the model's weights)"
        if _looks_local(self.reference):
            return f"the folder {self.reference} (from {self.source}) does not exist or lacks {role.marker}; point {ROLE_ENV_PREFIX}{self.role.upper()} at a folder that has it"
        return (
            f"download it on a connected machine with `huggingface-cli download {self.reference}` (or `hf download {self.reference}`) "
            f"and copy the hub cache, or save it to a folder and set {ROLE_ENV_PREFIX}{self.role.upper()}=/that/folder "
            f"(or add `{self.role} = \"/that/folder\"` under [models] in {config_path()})"
        )


def config_path() -> Path:
    """The models config file in effect (it may not exist)."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()


def _config_table() -> dict[str, str]:
    path = config_path()
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("models", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the models config {path}: {exc}") from None
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"{path}: [models] must map role names to strings")
    unknown = sorted(set(table) - set(ROLES))
    if unknown:
        raise ValueError(f"{path}: unknown model roles {', '.join(unknown)} (known: {', '.join(ROLES)})")
    return table


def _looks_local(reference: str) -> bool:
    """A folder path rather than a hub id (``org/name``)."""
    return reference.startswith(("/", ".", "~")) or reference.count("/") != 1 or Path(reference).expanduser().exists()


def _cached_hub_folder(repo_id: str, marker: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with diffusers
        return None
    # read per call so a changed HF_HUB_CACHE counts (huggingface_hub reads it once, at import)
    found = try_to_load_from_cache(repo_id, marker, cache_dir=os.environ.get("HF_HUB_CACHE") or None)
    return Path(found).parent if isinstance(found, str) else None


def resolve(role: str) -> Resolution:
    """Where ``role`` points and whether it is on disk; ValueError for an unknown role or a broken config file."""
    if role not in ROLES:
        raise ValueError(f"unknown model role {role!r} (known: {', '.join(ROLES)})")
    env = ROLE_ENV_PREFIX + role.upper()
    if os.environ.get(env):
        reference, source = os.environ[env], env
    elif role in (table := _config_table()):
        reference, source = table[role], str(config_path())
    else:
        reference, source = ROLES[role].default, "default"
    marker = ROLES[role].marker
    if _looks_local(reference):
        folder = Path(reference).expanduser()
        path = folder if (folder / marker).is_file() else None
    else:
        path = _cached_hub_folder(reference, marker)
    problem = None if path is None else incompleteness(path, marker)
    return Resolution(role=role, reference=reference, source=source, path=None if problem else path, problem=problem)


WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pth", "*.safetensors.index.json", "*.bin.index.json")
"""Files that hold (or index) a model's weights."""


def _has_weights(folder: Path) -> bool:
    return any(next(folder.glob(pattern), None) is not None for pattern in WEIGHT_PATTERNS)


def incompleteness(folder: Path, marker: str) -> str | None:
    """Why a model folder with its marker file is not complete (a component without weights), or None.

    Diffusers folders: every component ``model_index.json`` names must have its sub-folder, and one
    holding a ``config.json`` (a network) must hold weights. Single models (``config.json`` or
    ``open_clip_config.json`` markers) must hold weights themselves. Cheap: nothing is read but the index.
    """
    if marker != "model_index.json":
        return None if _has_weights(folder) else f"{folder} has {marker} but no weight file"
    try:
        index = json.loads((folder / marker).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{folder / marker} is unreadable: {exc}"
    if not isinstance(index, dict):
        return f"{folder / marker} is not a JSON object"
    for name, entry in index.items():
        if name.startswith("_") or not isinstance(entry, list) or None in entry:
            continue
        component = folder / name
        if not component.is_dir():
            return f"{folder} lacks the {name}/ folder its {marker} names"
        if (component / "config.json").is_file() and not _has_weights(component):
            return f"{component} has no weight file"
    return None


def require(role: str) -> Path:
    """The local folder of ``role``; :class:`MissingModelError` naming it and how to get it otherwise."""
    resolution = resolve(role)
    if resolution.path is None:
        raise MissingModelError([resolution])
    return resolution.path


class MissingModelError(ProtocolError):
    """One or more models a job needs are not on disk (wire code ``missing_model``)."""

    def __init__(self, missing: list[Resolution]) -> None:
        self.missing = missing
        lines = [f"model {r.role!r} ({r.reference}) is {'incomplete' if r.problem else 'not on disk'}: {r.how_to_obtain()}" for r in missing]
        super().__init__(
            ErrorCode.MISSING_MODEL,
            "; ".join(lines) + ". Run `distill3d models` to see every model and where it resolves.",
            models=[r.role for r in missing],
        )


class BrokenModelError(ProtocolError):
    """A model is on disk but could not be loaded (incomplete download, another model's files); wire code ``missing_model``."""

    def __init__(self, role: str, cause: BaseException) -> None:
        self.role = role
        super().__init__(
            ErrorCode.MISSING_MODEL,
            f"model {role!r} is on disk but could not be loaded ({type(cause).__name__}: {cause}); "
            "the folder may be an incomplete download or hold another model: run `distill3d models` to see where it resolves, and re-download it",
            models=[role],
        )


def check_present(roles: list[str] | tuple[str, ...]) -> None:
    """Raise :class:`MissingModelError` listing every one of ``roles`` that is not on disk."""
    missing = [r for r in (resolve(role) for role in dict.fromkeys(roles)) if not r.present]
    if missing:
        raise MissingModelError(missing)
