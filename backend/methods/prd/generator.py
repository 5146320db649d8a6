"""A PRD student as a generator kind: latent = the six-plane noise, condition = the prompt's text states.

Folder layout (loadable without the job that made it)::

    generator.json        {"kind": "prd", "student": <StudentConfig>, "inference": <InferenceConfig>, "base": ...,
                           "weights": ..., "rotation": 3×3 or null, "about": {...}}
    student.safetensors   the trained adapters and MLPs (by their names in :class:`~.student.PRDStudent`)
    base/                 the base models, when they ship with the generator (the tiny demo's)

``base`` is a folder relative to the generator's, or a model-registry role ("stable_diffusion"); ``weights`` is
``student.safetensors`` or the path of the published ``triplane_turbo_sd_v1.pth`` (:mod:`.published`), whose
objects are Z-up: ``rotation`` turns them Y-up as the reference's demo shows them.

Variants come from seeds (the noise); interpolation follows the great circle between two noises (slerp: Gaussian noise
lives near a sphere) while the prompts' text states move linearly. PRD has no truncation: ψ is accepted and ignored.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from protocol.atomic import replacing, write_json

from ...core.export import Timings
from ...core.glb import MeshAsset
from ...generators import GENERATOR_FILE, QUALITIES, EmptySurface, Generator, GeneratorError, Latent
from ...generators.latents import slerp
from ..configs import config_from_json, config_to_json
from .config import InferenceConfig, StudentConfig
from .mesh import to_asset
from .student import PLANE_COUNT, PRDStudent, load_student

WEIGHTS_FILE = "student.safetensors"
BASE_FOLDER = "base"
Z_UP_TO_Y_UP = ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0))
"""(x, y, z) → (y, z, x): the reference demo's two turns ((x, z, −y), then (−z, y, x)) in one, for Z-up checkpoints."""


class PRDGenerator(Generator):
    """A loaded PRD student behind the :class:`backend.generators.Generator` interface."""

    conditional = True
    spaces = ("noise",)

    def __init__(self, student: PRDStudent, prompts, inference: InferenceConfig, device: str = "cpu", rotation=None) -> None:
        self.student = student.to(device).eval().requires_grad_(False)
        self.prompts = prompts
        self.inference = inference
        self.device = device
        self.rotation = None if rotation is None else np.asarray(rotation, np.float64)
        self.latent_dim = PLANE_COUNT * int(np.prod(student.latent_shape))

    @property
    def noise_shape(self) -> tuple[int, ...]:
        """(6, 4, r, r): one object's plane noise."""
        return (PLANE_COUNT,) + self.student.latent_shape

    def condition(self, prompt: str) -> np.ndarray:
        """The prompt's text states (L, D) float32 (SD 2.1: (77, 1024)); no classifier-free guidance, as PRD samples."""
        if not prompt.strip():
            raise GeneratorError("PRD makes a mesh from a prompt: give one")
        return self.prompts([prompt])[0].float().cpu().numpy()

    def code(self, seed: int, truncation: float) -> np.ndarray:
        """The plane noise (6, 4, r, r) of ``seed`` (``truncation`` is ignored: PRD has none)."""
        return np.random.default_rng(seed).standard_normal(self.noise_shape).astype(np.float32)

    def mix_codes(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        return slerp(a, b, t)

    def _inputs(self, latent: Latent) -> tuple[torch.Tensor, torch.Tensor]:
        code = np.asarray(latent.code, np.float32)
        if code.size != self.latent_dim:
            raise GeneratorError(f"a PRD latent is plane noise {self.noise_shape} ({self.latent_dim} values), got {code.shape}")
        if latent.condition is None:
            raise GeneratorError("a PRD latent needs a condition (the prompt's text states)")
        noise = torch.as_tensor(code.reshape(self.noise_shape), device=self.device)
        return noise, torch.as_tensor(np.asarray(latent.condition, np.float32), device=self.device)[None]

    def asset(self, latent: Latent, quality: str, timings: Timings | None = None) -> MeshAsset:
        """The mesh of ``latent``; ``timings`` (optional) collects seconds per stage (unet, decode, marching cubes, export)."""
        if quality not in QUALITIES:
            raise GeneratorError(f"quality must be one of {QUALITIES}, got {quality!r}")
        timings = timings if timings is not None else Timings()
        noise, text = self._inputs(latent)
        started = time.perf_counter()
        with torch.no_grad():
            x0 = self.student.sample(noise, text, tuple(self.inference.timesteps))
            _synchronize(self.device)
            started = timings.time("unet", started)
            triplanes = self.student.decode(x0)
            _synchronize(self.device)
            timings.time("decode", started)
        resolution = self.inference.preview_resolution if quality == "preview" else self.inference.mesh_resolution
        try:
            return to_asset(self.student.head, triplanes, quality, resolution, self.inference.texture_size, self.inference.target_faces,
                            self.rotation, timings)  # fmt: skip
        except ValueError as exc:
            raise EmptySurface(f"this latent gives no surface: {exc}") from None


def _synchronize(device: str) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so a stage's time is its own."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def save_generator(folder: Path, student: PRDStudent, inference: InferenceConfig, base: Path | str, about: dict) -> None:
    """Write ``student``'s trained weights and configs to ``folder``; ``base``: a folder of base models copied into the
    generator (a Path: tiny bases), or a registry role or folder kept by name (a str)."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(base, Path):
        if base.resolve() != (folder / BASE_FOLDER).resolve():
            shutil.rmtree(folder / BASE_FOLDER, ignore_errors=True)
            shutil.copytree(base, folder / BASE_FOLDER)
        base = BASE_FOLDER
    with replacing(folder / WEIGHTS_FILE) as temporary:
        save_file({name: value.detach().contiguous().cpu() for name, value in student.trainable_state().items()}, str(temporary))
    write_json(folder / GENERATOR_FILE, description(student.config, inference, base, WEIGHTS_FILE, None, about), indent=2)


def description(student: StudentConfig, inference: InferenceConfig, base: str, weights: str, rotation, about: dict) -> dict:
    """A ``generator.json`` (see the module docstring): ``base`` and ``weights`` relative to its folder, absolute, or a role."""
    return {"kind": "prd", "student": config_to_json(student), "inference": config_to_json(inference), "base": base,
            "weights": weights, "rotation": rotation, "about": about}  # fmt: skip


def base_of(description: dict, folder: Path, student: StudentConfig) -> Path:
    """The base-model folder a ``generator.json`` in ``folder`` names (its own ``base/``, a registry role, or a folder)."""
    from .student import base_folder

    base = str(description.get("base", "stable_diffusion"))
    local = folder / base
    if local.is_dir():
        return local
    return base_folder(replace(student, base=base), folder)


def load(description: dict, folder: Path, device: str) -> PRDGenerator:
    """Loader of ``{"kind": "prd"}`` folders (PRD's method spec names it for the generator kind ``prd``)."""
    try:
        config = config_from_json(StudentConfig, description["student"])
        inference = config_from_json(InferenceConfig, description.get("inference", {}))
    except Exception as exc:  # noqa: BLE001 - any malformed config is the same user error
        raise GeneratorError(f"{folder / GENERATOR_FILE}: bad PRD config: {exc}") from None
    try:
        base = base_of(description, folder, config)
    except Exception as exc:  # noqa: BLE001 - a missing registry model or an unbuildable tiny base
        raise GeneratorError(f"{folder / GENERATOR_FILE}: cannot find PRD's base models: {exc}") from None
    return build(config, inference, base, folder / str(description.get("weights", WEIGHTS_FILE)), device, description.get("rotation"))


def build(config: StudentConfig, inference: InferenceConfig, base: Path, weights: Path, device: str, rotation=None) -> PRDGenerator:
    """A generator of the student ``config`` on the base models in ``base`` with ``weights`` (our ``student.safetensors``
    or the published ``.pth``); :class:`GeneratorError` saying what is missing or does not fit."""
    from .published import load_published, read

    try:
        student, prompts = load_student(config, base, device)
    except Exception as exc:  # noqa: BLE001 - a missing or broken base model folder
        raise GeneratorError(f"cannot load PRD's base models from {base}: {exc}") from None
    try:
        if weights.suffix == ".pth":
            load_published(student, read(weights), str(weights))
        else:
            state = load_file(str(weights))
            missing = sorted(set(student.trainable_state()) ^ set(state))
            if missing:
                raise ValueError(f"names that do not match the student: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
            student.load_state_dict(state, strict=False)
    except Exception as exc:  # noqa: BLE001 - missing, truncated, foreign or mismatched weights are all 'cannot load'
        raise GeneratorError(f"{weights}: cannot load the student's weights: {exc}") from None
    return PRDGenerator(student, prompts, inference, device, rotation)
