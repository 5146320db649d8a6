"""A PRD job: a prompt and a seed in, a UV-textured mesh out (4 student steps, one decode, marching cubes, export).

The job's result carries its latent (the plane noise) and condition (the prompt's text states), and the job saves a
small generator folder pointing at the student it used, so its id names a generator: the add-on's Variants and
Interpolation panels then sample and scrub it like a CAD generator, under any prompt.
"""

from __future__ import annotations

from pathlib import Path

from protocol.atomic import write_json
from protocol.errors import ErrorCode

from ...core.export import Timings
from ...generators import GENERATOR_FILE, load_folder
from ..base import JobContext, JobInputs, JobResult, MethodError
from ..generator_jobs import GeneratorCache, mesh_errors, put_latent
from .config import PRDConfig
from .generator import Z_UP_TO_Y_UP, PRDGenerator, description
from .student import base_folder


def generator_description(config: PRDConfig, context: JobContext) -> dict:
    """The ``generator.json`` of the student ``config`` names (base models and weights by absolute path or role)."""
    from ...teachers.model_folder import model_folder

    base = base_folder(config.student, context.work_dir)
    if config.weights:
        weights = Path(config.weights).expanduser().resolve()
    else:
        weights = model_folder("prd_student", None) / "triplane_turbo_sd_v1.pth"
    rotation = Z_UP_TO_Y_UP if weights.suffix == ".pth" else None
    return description(config.student, config.inference, str(base), str(weights), rotation, {"made_by": "a prd job"})


class PRDMethod:
    """Prompt → mesh with a PRD student: the one a generator spec names (``generator``), or the one ``student`` and
    ``weights`` describe."""

    def __init__(self) -> None:
        self.generators = GeneratorCache()

    def _generator(self, config: PRDConfig, context: JobContext) -> tuple[PRDGenerator, str]:
        """The generator and the spec that names it for later jobs (the job's own generator folder when built here)."""
        named = config.generator or (config.weights if (Path(config.weights).expanduser() / GENERATOR_FILE).is_file() else "")
        if named:  # a generator spec, or weights given as a whole generator folder (its own student config and base)
            generator, spec = self.generators.get(named, context), named
        else:
            folder = context.generator_dir
            try:
                folder.mkdir(parents=True, exist_ok=True)
                write_json(folder / GENERATOR_FILE, generator_description(config, context), indent=2)
            except Exception as exc:  # noqa: BLE001 - a missing model folder or a base that cannot be built
                raise MethodError(f"PRD cannot find its student: {exc}", ErrorCode.MISSING_MODEL) from None
            with mesh_errors():
                generator = load_folder(folder, context.generators, context.device)
            spec = context.job_id
        if not isinstance(generator, PRDGenerator):
            raise MethodError(f"generator {config.generator!r} is not a PRD generator (it is {type(generator).__name__})", ErrorCode.INVALID_PARAMS)
        return generator, spec

    def run(self, inputs: JobInputs, config: PRDConfig, context: JobContext) -> JobResult:
        reporter = context.reporter
        if not inputs.prompt.strip():
            raise MethodError("PRD makes a mesh from a prompt: give one", ErrorCode.INVALID_PARAMS)
        reporter.plan([("load", 1), ("generate", 1)])
        reporter.progress("load", 0, 1, "loading the student")
        generator, spec = self._generator(config, context)
        reporter.progress("load", 1, 1, "student ready")
        timings = Timings()
        with mesh_errors():
            latent = generator.latent(inputs.seed, 1.0, generator.condition(inputs.prompt))
            asset = generator.asset(latent, "full", timings)
        result = JobResult(metadata={"prompt": inputs.prompt, "seed": inputs.seed, "generator": spec, "faces": len(asset.faces),
                                     "timings": {name: round(seconds, 4) for name, seconds in timings.stages.items()}})  # fmt: skip
        result.add_mesh(asset)
        put_latent(result, "", latent)
        reporter.progress("generate", 1, 1, f"{len(asset.faces)} faces in {timings.total:.2f} s")
        return result
