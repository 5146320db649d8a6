"""The model registry: role → hub id or local folder, where it resolves, and whether it is on disk.

Every pretrained model is named by a *role* (``zero123``, ``stable_diffusion``, …).
A role resolves, in order, from the environment variable ``DISTILL3D_MODEL_<ROLE>``,
then from the ``[models]`` table of the config file (``$DISTILL3D_MODELS_FILE``,
else ``~/.config/distill3d/models.toml``), then from its default hub id. A value is
a local folder (used as is) or a Hugging Face hub id, which is looked up in the
local hub cache only — this module never downloads (``distill3d models pull``,
:mod:`backend.teachers.pull`, does, into the place a role resolves to).

Each role also says what its loader reads from the hub repo (:attr:`ModelRole.files`),
under which licence, whether the hub gates it, and about how large it is.

Torch-free (the broker checks models at submit time).
"""

from __future__ import annotations

import json
import os
import tomllib
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from protocol.errors import ErrorCode, ProtocolError
from protocol.sizes import human_size

from . import weight_files

CONFIG_ENV = "DISTILL3D_MODELS_FILE"
"""Environment variable naming the models config file."""
ROLE_ENV_PREFIX = "DISTILL3D_MODEL_"
"""``DISTILL3D_MODEL_ZERO123=/models/zero123-xl`` overrides one role."""
DEFAULT_CONFIG = Path("~/.config/distill3d/models.toml")
LOAD_ARGUMENT = "the load() argument"
"""The source of a folder passed to a loader directly."""


@dataclass(frozen=True)
class Licence:
    """The terms a model is published under."""

    name: str
    """Its id as the model card on the hub gives it (``openrail++``, ``mit``, ``deepfloyd-if-license``)."""
    url: str
    """Where to read it."""


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
    files: tuple[str, ...]
    """What the loader reads, as glob patterns on repo paths (``*`` spans folders, as huggingface_hub's ``allow_patterns``).
    Of the weight files they match, ``distill3d models pull`` fetches one set per folder: the fp16 variant where the repo
    has it, safetensors before pickles (:func:`backend.teachers.weight_files.choose`); the loaders read that set."""
    licence: Licence
    """The terms of the weights (shown before they are fetched)."""
    gated: bool
    """The hub serves the files only to a logged-in user who has accepted the licence on the model's page."""
    download_size: int
    """About how many bytes ``distill3d models pull`` fetches for the default hub id (``files``, as the repo held them when
    this was written); the pull itself sizes the real files before it starts."""

    @property
    def components(self) -> frozenset[str]:
        """The sub-folders of a diffusers pipeline folder the loader reads (the first path part of ``files``)."""
        return frozenset(pattern.split("/")[0] for pattern in self.files if "/" in pattern)


def _models(*components: str) -> tuple[str, ...]:
    """The files of diffusers models saved in ``components``: config and weights (any variant, shards, index)."""
    return tuple(f for c in components for f in (f"{c}/config.json", f"{c}/diffusion_pytorch_model*"))


def _encoders(*components: str) -> tuple[str, ...]:
    """The files of transformers models saved in ``components``: config and weights (any variant, shards, index)."""
    return tuple(f for c in components for f in (f"{c}/config.json", f"{c}/model*.safetensors*", f"{c}/pytorch_model*"))


SCHEDULER = "scheduler/scheduler_config.json"
TEXT_TO_IMAGE = ("model_index.json", SCHEDULER, "tokenizer/*", *_models("unet", "vae"), *_encoders("text_encoder"))
"""What the Stable Diffusion loader reads (``stable_diffusion.load_parts``; MVDream's reads the same folders)."""
TRANSFORMERS_FOLDER = ("config.json", "generation_config.json", "preprocessor_config.json", "special_tokens_map.json",
                       "added_tokens.json", "tokenizer*", "vocab.*", "merges.txt", "model*.safetensors*", "pytorch_model*")  # fmt: skip
"""What ``from_pretrained`` reads from one transformers model saved with its processor or tokenizer."""

GB = 10**9
MIT = Licence("mit", "https://opensource.org/license/mit")
APACHE = Licence("apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0")
CREATIVEML = Licence("creativeml-openrail-m", "https://huggingface.co/spaces/CompVis/stable-diffusion-license")
DEEPFLOYD = Licence("deepfloyd-if-license", "https://huggingface.co/spaces/DeepFloyd/deepfloyd-if-license")


def _on_card(repo_id: str, name: str) -> Licence:
    """A licence whose text the model card on the hub links."""
    return Licence(name, f"https://huggingface.co/{repo_id}")


ROLES: dict[str, ModelRole] = {
    r.role: r
    for r in (
        ModelRole("zero123", "bennyguo/zero123-xl-diffusers", "Zero-1-to-3 XL (diffusers layout): novel views from one image and a relative camera",
                  "DTC123 (geometry SDS), CAD (multi-view prior)", "model_index.json",
                  files=("model_index.json", SCHEDULER, "feature_extractor/preprocessor_config.json",
                         *_models("unet", "vae", "clip_camera_projection", "cc_projection"), *_encoders("image_encoder")),
                  licence=MIT, gated=False, download_size=int(2.5 * GB)),
        ModelRole("stable_diffusion", "stabilityai/stable-diffusion-2-1-base", "Stable Diffusion 2.1 base, 512², text to image",
                  "DTC123 (texture SDS), PRD (the adapted generator)", "model_index.json",
                  files=TEXT_TO_IMAGE, licence=_on_card("stabilityai/stable-diffusion-2-1-base", "openrail++"), gated=False,
                  download_size=int(2.6 * GB)),
        ModelRole("controlnet_depth", "lllyasviel/sd-controlnet-depth", "ControlNet conditioned on depth, for Stable Diffusion 1.5",
                  "CAD (prior refinement, s = 0.8)", "config.json",
                  files=("config.json", "diffusion_pytorch_model*"), licence=_on_card("lllyasviel/sd-controlnet-depth", "openrail"),
                  gated=False, download_size=int(1.45 * GB)),
        ModelRole("controlnet_base", "stable-diffusion-v1-5/stable-diffusion-v1-5", "Stable Diffusion 1.5, the base model ControlNet-depth runs on",
                  "CAD (prior refinement)", "model_index.json",
                  files=TEXT_TO_IMAGE, licence=CREATIVEML, gated=False, download_size=int(2.1 * GB)),
        ModelRole("deepfloyd_if_stage1", "DeepFloyd/IF-I-XL-v1.0", "DeepFloyd IF stage I (64², pixel space, T5 text encoder)",
                  "CAD (prior refinement, s = 0.3)", "model_index.json",
                  files=("model_index.json", SCHEDULER, "tokenizer/*", *_models("unet"), *_encoders("text_encoder")),
                  licence=DEEPFLOYD, gated=True, download_size=int(18.2 * GB)),
        ModelRole("deepfloyd_if_stage2", "DeepFloyd/IF-II-L-v1.0", "DeepFloyd IF stage II (64² → 256² super-resolution)",
                  "CAD (prior refinement, s = 0.7)", "model_index.json",
                  files=("model_index.json", SCHEDULER, "image_noising_scheduler/scheduler_config.json", *_models("unet")),
                  licence=DEEPFLOYD, gated=True, download_size=int(2.5 * GB)),
        ModelRole("prd_student", "ZhiyuanthePony/TriplaneTurbo", "PRD's published PETA adapters and triplane MLPs (triplane_turbo_sd_v1.pth, 91 MB; runs on Stable Diffusion 2.1 base)",
                  "PRD (the student)", "triplane_turbo_sd_v1.pth",
                  files=("triplane_turbo_sd_v1.pth",), licence=_on_card("ZhiyuanthePony/TriplaneTurbo", "see the model card"),
                  gated=False, download_size=91 * 10**6),
        ModelRole("mvdream", "ashawkey/mvdream-sd2.1-diffusers", "MVDream 4-view camera-conditioned diffusion (SD 2.1 based, diffusers layout)",
                  "PRD (multi-view teacher)", "model_index.json",
                  files=TEXT_TO_IMAGE, licence=_on_card("ashawkey/mvdream-sd2.1-diffusers", "openrail"), gated=False,
                  download_size=int(2.6 * GB)),
        ModelRole("clip", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "OpenCLIP ViT-B/32 image-text encoder (open_clip layout)",
                  "CAD (pose pruning), evaluation metrics", "open_clip_config.json",
                  files=("open_clip_config.json", "open_clip_*.safetensors", "open_clip_*.bin"), licence=MIT, gated=False,
                  download_size=int(0.61 * GB)),
        ModelRole("captioner", "Salesforce/blip-image-captioning-large", "BLIP image captioning (transformers layout); optional",
                  "DTC123 (a prompt for an image given without one)", "tokenizer_config.json",
                  files=TRANSFORMERS_FOLDER, licence=Licence("bsd-3-clause", "https://opensource.org/license/bsd-3-clause"), gated=False,
                  download_size=int(1.9 * GB)),
        ModelRole("text_model", "Qwen/Qwen2.5-0.5B-Instruct", "A small instruction-tuned causal language model (transformers layout); optional",
                  "DTC123 (LLM-augmented view prompts)", "tokenizer_config.json",
                  files=TRANSFORMERS_FOLDER, licence=APACHE, gated=False, download_size=int(1.0 * GB)),
        ModelRole("depth", "Intel/dpt-large", "DPT-Large (MiDaS 3.0) monocular relative depth (transformers layout); optional",
                  "DTC123 (reference depth for the Pearson loss), CAD (ControlNet-depth refinement)", "preprocessor_config.json",
                  files=TRANSFORMERS_FOLDER, licence=APACHE, gated=False, download_size=int(1.37 * GB)),
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
    found: Path | None = None
    """The folder found for the role, complete or not (None: none has its marker file)."""

    @property
    def present(self) -> bool:
        return self.path is not None

    @property
    def state(self) -> str:
        """``present``, ``partial`` (a folder with the marker file but not everything the loader reads) or ``missing``."""
        return "present" if self.present else "partial" if self.problem else "missing"

    def bytes_on_disk(self) -> int:
        """What the files of the folder found take on disk (0: none found); the hub cache's links count as their files.
        A file a running pull renames or deletes meanwhile is left out."""
        total = 0
        for f in self.found.rglob("*") if self.found else ():
            with suppress(OSError):
                total += f.stat().st_size if f.is_file() else 0
        return total

    def kept_bytes(self) -> int:
        """Bytes a stopped ``distill3d models pull`` left in partial files for this role, which the next pull continues
        (in the role's folder, or in its repo's folder of the hub cache)."""
        where = Path(self.reference).expanduser() if looks_local(self.reference) else _hub_repo_folder(self.reference)
        total = 0
        for f in where.rglob("*" + weight_files.DOWNLOADING_SUFFIXES[0]) if where.is_dir() else ():
            with suppress(OSError):  # finished (renamed) meanwhile
                total += f.stat().st_size
        return total

    def how_to_obtain(self) -> str:
        """One actionable sentence for a missing model."""
        role = ROLES[self.role]
        pull = f"`distill3d models pull {self.role}`"
        if self.source == LOAD_ARGUMENT:
            return f"{self.problem}; copy the whole model into that folder" if self.problem else f"pass a folder that holds {role.marker} (and the model's weights)"
        if self.problem:
            return f"{self.problem}; run {pull} to complete it"
        if looks_local(self.reference):
            return (f"the folder {self.reference} (from {self.source}) does not exist or lacks {role.marker}; run {pull} to fetch "
                    f"{role.default} into it, or point {ROLE_ENV_PREFIX}{self.role.upper()} at a folder that has it")
        return (
            f"run {pull} (it needs the hub, or HF_ENDPOINT set to a mirror); offline, copy a hub cache that holds {self.reference}, "
            f"or save the model to a folder and set {ROLE_ENV_PREFIX}{self.role.upper()}=/that/folder "
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


def looks_local(reference: str) -> bool:
    """A folder path rather than a hub id (``org/name``)."""
    return reference.startswith(("/", ".", "~")) or reference.count("/") != 1 or Path(reference).expanduser().exists()


def _hub_repo_folder(repo_id: str) -> Path:
    """Where the hub cache keeps ``repo_id`` (huggingface_hub's layout: ``models--<org>--<name>``)."""
    from huggingface_hub import constants

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE).expanduser() / ("models--" + repo_id.replace("/", "--"))


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
    if looks_local(reference):
        folder = Path(reference).expanduser()
        path = folder if (folder / marker).is_file() else None
    else:
        path = _cached_hub_folder(reference, marker)
    problem = None if path is None else incompleteness(path, ROLES[role])
    return Resolution(role=role, reference=reference, source=source, path=None if problem else path, problem=problem, found=path)


def _has_weights(folder: Path) -> bool:
    return any(weight_files.kind(entry.name) for entry in folder.iterdir())


def incompleteness(folder: Path, role: ModelRole) -> str | None:
    """Why a folder with ``role``'s marker file is not the complete model (a component without weights), or None.

    Diffusers folders: every component ``model_index.json`` names that the loader reads (:attr:`ModelRole.components`)
    must have its sub-folder, and one holding a ``config.json`` (a network) must hold weights. Single models
    (``config.json`` or ``open_clip_config.json`` markers) must hold weights themselves. Cheap: nothing is read but the index.
    """
    marker = role.marker
    if marker != "model_index.json":
        return None if _has_weights(folder) else f"{folder} has {marker} but no weight file"
    try:
        index = json.loads((folder / marker).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{folder / marker} is unreadable: {exc}"
    if not isinstance(index, dict):
        return f"{folder / marker} is not a JSON object"
    for name, entry in index.items():
        if name.startswith("_") or not isinstance(entry, list) or None in entry or name not in role.components:
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
        lines = [f"model {r.role!r} ({r.reference}; {_terms(ROLES[r.role])}) is {'incomplete' if r.problem else 'not on disk'}: "
                 f"{r.how_to_obtain()}" for r in missing]  # fmt: skip
        super().__init__(
            ErrorCode.MISSING_MODEL,
            "; ".join(lines) + ". Run `distill3d models` to see every model and where it resolves.",
            models=[r.role for r in missing],
            missing=[{"role": r.role, "state": r.state, "download_bytes": ROLES[r.role].download_size, "licence": ROLES[r.role].licence.name,
                      "licence_url": ROLES[r.role].licence.url, "gated": ROLES[r.role].gated} for r in missing],  # fmt: skip
        )


def _terms(role: ModelRole) -> str:
    """``about 2.6 GB to download, licence openrail++`` (gated: how to get access is in ``distill3d models pull``'s answer)."""
    return f"about {human_size(role.download_size)} to download, licence {role.licence.name}" + (", gated: the hub needs a token" if role.gated else "")


class BrokenModelError(ProtocolError):
    """A model is on disk but could not be loaded (incomplete download, another model's files); wire code ``missing_model``."""

    def __init__(self, role: str, cause: BaseException) -> None:
        self.role = role
        super().__init__(
            ErrorCode.MISSING_MODEL,
            f"model {role!r} is on disk but could not be loaded ({type(cause).__name__}: {cause}); "
            "the folder may be an incomplete download or hold another model: run `distill3d models` to see where it resolves, "
            f"and fetch it again (`distill3d models pull {role}`)",
            models=[role],
        )


def check_present(roles: list[str] | tuple[str, ...]) -> None:
    """Raise :class:`MissingModelError` listing every one of ``roles`` that is not on disk."""
    missing = [r for r in (resolve(role) for role in dict.fromkeys(roles)) if not r.present]
    if missing:
        raise MissingModelError(missing)
