"""PRD against the synthetic text world: each prompt's object scored against the scene the prompt names.

A student is scored on its training prompts and on the prompts its split held out (unseen colour–shape pairs), by
volume IoU and colour error (:func:`backend.methods.prd.world.score`), averaged over seeds (noises). Two baselines
come from the same run: the *untrained* student (the same base models, fresh adapters: PRD's sphere bias in the
base's colours) and a *wrong-prompt* control (each held-out object scored against another held-out prompt's scene).
A student that learnt the words beats the first and scores worse on the second than on its own prompts.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ...evaluation import report
from ...evaluation.report import mean
from ...generators import GENERATOR_FILE, GeneratorError, load
from ...job_layout import jobs_folder
from ...table import print_table
from ..spec import CommandError
from .generator import PRDGenerator, base_of
from .student import load_student
from .world import Scores, score, split


@dataclass(frozen=True)
class PromptScores:
    """One prompt's scores, averaged over the seeds."""

    prompt: str
    split: str
    """'train' or 'held-out'."""
    iou: float
    color_error: float
    untrained_iou: float
    untrained_color_error: float


def untrained_twin(trained: PRDGenerator, folder: Path) -> PRDGenerator:
    """The generator of ``folder`` with fresh adapters (its base models, none of its training)."""
    description = json.loads((folder / GENERATOR_FILE).read_text(encoding="utf-8"))
    config = trained.student.config
    student, prompts = load_student(config, base_of(description, folder, config), trained.device)
    return PRDGenerator(student, prompts, trained.inference, trained.device, trained.rotation)


def object_scores(generator: PRDGenerator, prompt: str, against: str, seed: int, resolution: int) -> Scores:
    """Scores of ``generator``'s object for ``prompt`` and ``seed`` against the scene ``against`` names."""
    student = generator.student
    noise = torch.as_tensor(generator.code(seed, 1.0), device=generator.device)
    text = torch.as_tensor(generator.condition(prompt), device=generator.device)[None]
    with torch.no_grad():
        planes = student.decode(student.sample(noise, text, tuple(generator.inference.timesteps)))
    to_device = lambda p: p.to(generator.device)[None]  # noqa: E731
    return score(lambda p: student.head.sdf(planes, to_device(p))[0].cpu(), lambda p: student.head.color(planes, to_device(p))[0].cpu(),
                 against, student.config.box, resolution)  # fmt: skip


def mean_scores(generator: PRDGenerator, prompt: str, against: str, seeds: list[int], resolution: int) -> Scores:
    scores = [object_scores(generator, prompt, against, seed, resolution) for seed in seeds]
    return Scores(sum(s.iou for s in scores) / len(scores), sum(s.color_error for s in scores) / len(scores))


def score_prompts(trained: PRDGenerator, untrained: PRDGenerator, prompts: dict[str, list[str]], seeds: list[int], resolution: int,
                  progress=lambda message: None) -> list[PromptScores]:  # fmt: skip
    """Each prompt of each split (name → prompts) scored for ``trained`` and ``untrained``."""
    rows = []
    for part, names in prompts.items():
        for prompt in names:
            progress(f"{part}: {prompt!r}")
            ours, base = (mean_scores(g, prompt, prompt, seeds, resolution) for g in (trained, untrained))
            rows.append(PromptScores(prompt, part, ours.iou, ours.color_error, base.iou, base.color_error))
    return rows


def wrong_prompt_scores(generator: PRDGenerator, prompts: list[str], seeds: list[int], resolution: int) -> Scores:
    """The control: each prompt's object scored against the next prompt's scene (cyclically); NaN with fewer than 2 prompts."""
    if len(prompts) < 2:
        return Scores(float("nan"), float("nan"))
    scores = [mean_scores(generator, prompt, prompts[(k + 1) % len(prompts)], seeds, resolution) for k, prompt in enumerate(prompts)]
    return Scores(sum(s.iou for s in scores) / len(scores), sum(s.color_error for s in scores) / len(scores))


def split_means(rows: list[PromptScores], split: str) -> dict[str, float | None]:
    """Mean of each score over the rows of ``split``."""
    chosen = [asdict(r) for r in rows if r.split == split]
    return {key: mean([r[key] for r in chosen]) for key in ("iou", "color_error", "untrained_iou", "untrained_color_error")}


def load_for_evaluation(spec: str, data_dir: str | None, device: str) -> tuple[PRDGenerator, Path]:
    """The PRD generator ``spec`` names and its folder; :class:`CommandError` when it is none."""
    from .. import generator_catalog

    catalog = generator_catalog(jobs_folder(data_dir))
    try:
        generator = load(spec, catalog, device)
    except GeneratorError as exc:
        raise CommandError(str(exc)) from None
    folder = catalog.folder_of(spec)
    if not isinstance(generator, PRDGenerator) or folder is None:
        raise CommandError(f"generator {spec!r} is not a PRD generator (it is {type(generator).__name__})")
    return generator, folder


def run_evaluation(args: argparse.Namespace) -> int:
    """``distill3d eval prd``: the table on stdout, the numbers in ``--json``; progress on stderr."""
    if args.seeds < 1 or args.train_prompts < 0:
        raise CommandError("--seeds must be at least 1 and --train-prompts at least 0")
    if not 8 <= args.resolution <= 256:
        raise CommandError("--resolution must be in 8…256")
    say = lambda message: print(f"eval: {message}", file=sys.stderr, flush=True)  # noqa: E731
    trained, folder = load_for_evaluation(args.generator, args.data_dir, args.device)
    untrained = untrained_twin(trained, folder)
    world = split(args.split_seed, args.stacks)
    stride = max(1, len(world.train) // max(args.train_prompts, 1))
    chosen = {"train": list(world.train[::stride][: args.train_prompts]), "held-out": list(world.held_out)}
    seeds = list(range(args.seeds))
    rows = score_prompts(trained, untrained, chosen, seeds, args.resolution, say)
    say("the wrong-prompt control")
    control = wrong_prompt_scores(trained, chosen["held-out"], seeds, args.resolution)
    cell = report.cell
    table = [(r.prompt, r.split, cell(r.iou), cell(r.color_error), cell(r.untrained_iou), cell(r.untrained_color_error)) for r in rows]
    means = {name: split_means(rows, name) for name in chosen}
    for name, m in means.items():
        table.append((f"mean ({len(chosen[name])})", name, cell(m["iou"]), cell(m["color_error"]), cell(m["untrained_iou"]),
                      cell(m["untrained_color_error"])))  # fmt: skip
    table.append(("wrong-prompt control", "held-out", cell(control.iou), cell(control.color_error), "", ""))
    print_table(f"PRD — generator {args.generator} on the text world (split {args.split_seed}, {'singles and stacks' if args.stacks else 'singles'}): "
                f"{len(seeds)} seeds per prompt, {args.resolution}³ grid",
                ("prompt", "split", "IoU", "colour error", "untrained IoU", "untrained colour error"), table, sys.stdout)  # fmt: skip
    print("IoU: the student's inside (SDF < 0) against the scene's on the grid. Colour error: mean |RGB − albedo| at grid points "
          "within 0.02 of the scene's surface. 'untrained': the same base with fresh adapters. 'wrong-prompt control': each "
          "held-out object against the next held-out prompt's scene (a student that follows its prompt scores worse there).")
    if args.json:
        payload = {"evaluation": "prd", "generator": args.generator, "split_seed": args.split_seed, "stacks": args.stacks, "seeds": seeds,
                   "resolution": args.resolution, "prompts": [asdict(r) for r in rows], "means": means,
                   "wrong_prompt_control": {"iou": control.iou, "color_error": control.color_error}}  # fmt: skip
        print(f"wrote {report.write_numbers(args.json, payload)}")
    return 0
