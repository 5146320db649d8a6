"""``distill3d eval``: the papers' own evaluations, against the synthetic world's ground truth, printed as a table.

``eval dtc123`` runs DTC123 in this process with the synthetic teacher on each object (or takes an existing result and
its truth) and scores PSNR / LPIPS / CLIP at the reference view, CLIP at novel views, Chamfer / IoU / F-score.
``eval cad`` distils a CAD generator from a synthetic family in this process (or takes a trained one) and scores its
samples over a 120-frame orbit (CLIP image / text) and against fresh family members (IoU, Chamfer), and their diversity.
Methods add their own (``eval prd``: a PRD student on the text world's training and held-out prompts).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from .common import EXIT_JOB_FAILED, EXIT_OK, UsageError, parse_sets

CLIP_HELP = ("'auto' (default): the registry's CLIP model when it is on disk, else the weight-free stand-in; 'clip': require it; "
             "'standin': the stand-in; or an open_clip folder")  # fmt: skip


def add(sub: argparse._SubParsersAction) -> None:
    from ..evaluation import defaults

    p = sub.add_parser("eval", help="the papers' evaluations against ground truth, as a table (no server needed)",
                       description=__doc__.split("\n\n")[1])  # fmt: skip
    methods = p.add_subparsers(dest="evaluation", required=True, metavar="METHOD")

    d = methods.add_parser("dtc123", help="DTC123: PSNR / LPIPS / CLIP at the reference view, CLIP at novel views, Chamfer / IoU / F-score",
                           description="Run DTC123 with the synthetic teacher on each --object and score the result against it, "
                           "or score an existing --mesh against its --truth.")  # fmt: skip
    what = d.add_mutually_exclusive_group(required=True)
    what.add_argument("--object", action="append", metavar="SPEC", help="a family member NAME[@SEED] (snowman, mushroom@3, random:7) or a GLB file; repeatable")
    what.add_argument("--mesh", metavar="RESULT.glb", help="score this result instead of running anything (needs --truth)")
    d.add_argument("--truth", metavar="TRUTH.glb", help="with --mesh: the ground truth, in the same frame")
    d.add_argument("--preset", default="tiny", help="DTC123 preset: tiny, fast or paper (default tiny)")
    d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a DTC123 parameter (repeatable)")
    d.add_argument("--seed", type=int, default=0, help="the job seed, and the member of a family spec without @SEED (default 0)")
    d.add_argument("--elevation", type=float, default=defaults.ELEVATION, metavar="DEG", help=f"elevation of the reference view (default {defaults.ELEVATION:g})")
    d.add_argument("--azimuth", type=float, default=0.0, metavar="DEG", help="with --mesh: azimuth of the reference view in the truth's frame (default 0)")
    d.add_argument("--views", type=int, default=defaults.NOVEL_VIEWS, metavar="K", help=f"novel views for the CLIP consistency score (default {defaults.NOVEL_VIEWS})")
    d.add_argument("--resolution", type=int, default=defaults.DTC123_RESOLUTION, metavar="PX", help=f"side of the evaluation renders (default {defaults.DTC123_RESOLUTION})")
    shape_arguments(d)
    common_arguments(d)
    d.add_argument("--out", metavar="DIR", help="also write each result and its truth here as GLB files")
    d.set_defaults(func=run_dtc123)

    c = methods.add_parser("cad", help="CAD: CLIP over a 120-frame orbit, nearest-member IoU / Chamfer, diversity",
                           description="Distil a CAD generator from a synthetic --family in this process, or take a trained "
                           "--generator, and score K samples.")  # fmt: skip
    c.add_argument("--family", metavar="SPEC", help="a family name family() knows (snowman, random:7) or a folder of GLB files; "
                   "without --generator the generator is distilled from it (default with --generator: the family it was distilled from)")
    c.add_argument("--generator", metavar="G", help="a trained generator: a folder, a job id, 'demo' or 'demo:<family>'")
    c.add_argument("--data-dir", metavar="DIR", help="the backend's data directory, for job ids")
    c.add_argument("--preset", default="tiny", help="CAD preset when distilling (default tiny)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a CAD parameter when distilling (repeatable)")
    c.add_argument("--seed", type=int, default=0, help="the distillation's job seed, which also picks the reference member (default 0)")
    c.add_argument("--samples", type=int, default=defaults.CAD_SAMPLES, metavar="K", help=f"samples to score, seeds 0 … K−1 (default {defaults.CAD_SAMPLES})")
    c.add_argument("--members", type=int, default=defaults.MEMBERS, metavar="M", help=f"fresh family members as ground truth (default {defaults.MEMBERS})")
    c.add_argument("--prompt", default="", metavar="TEXT", help="score CLIP text similarity with this prompt (needs CLIP weights)")
    c.add_argument("--frames", type=int, default=defaults.FRAMES, help=f"frames of the 360° orbit (default {defaults.FRAMES})")
    c.add_argument("--resolution", type=int, default=defaults.CAD_RESOLUTION, metavar="PX", help=f"side of the orbit's frames (default {defaults.CAD_RESOLUTION})")
    c.add_argument("--elevation", type=float, metavar="DEG", help="elevation of the reference view and the orbit (default: the generator's reference elevation)")
    c.add_argument("--truncation", type=float, default=0.7, metavar="PSI", help="ψ of the samples (default 0.7)")
    c.add_argument("--quality", choices=["full", "preview"], default="full", help="meshes scored: full (default, textured) or preview")
    c.add_argument("--iou-resolution", type=int, default=defaults.IOU_RESOLUTION, metavar="N", help=f"cells per axis of the IoU grid (default {defaults.IOU_RESOLUTION})")
    common_arguments(c)
    c.add_argument("--out", metavar="DIR", help="keep the distilled generator (and its work folder) here")
    c.set_defaults(func=run_cad)

    _add_method_evaluations(methods)


def _add_method_evaluations(sub: argparse._SubParsersAction) -> None:
    """``eval NAME`` for each method whose spec contributes an evaluation (a name taken here is skipped)."""
    from .. import methods

    for spec in methods.entries():
        if spec.evaluate is not None and spec.name not in sub.choices:
            p = sub.add_parser(spec.name, help=spec.evaluate.help, description=spec.evaluate.help)
            methods.resolve_reference(spec.evaluate.arguments)(p)
            p.set_defaults(func=methods.resolve_reference(spec.evaluate.run))


def shape_arguments(parser: argparse.ArgumentParser) -> None:
    from ..evaluation import defaults

    parser.add_argument("--tau", type=float, default=defaults.TAU, help=f"F-score threshold as a fraction of the truth's diagonal (default {defaults.TAU})")
    parser.add_argument("--iou-resolution", type=int, default=defaults.IOU_RESOLUTION, metavar="N", help=f"cells per axis of the IoU grid (default {defaults.IOU_RESOLUTION})")
    parser.add_argument("--surface-samples", type=int, default=defaults.SURFACE_SAMPLES, metavar="N",
                        help=f"surface samples per mesh for Chamfer and F-score (default {defaults.SURFACE_SAMPLES})")


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clip", default="auto", metavar="auto|clip|standin|FOLDER", help=CLIP_HELP)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")


def say(message: str) -> None:
    print(f"eval: {message}", file=sys.stderr, flush=True)


def stage_printer(label: str):
    """A progress callback that says when a stage starts."""
    seen: set[str] = set()

    def progress(stage: str, step: int, total: int) -> None:
        if stage not in seen:
            seen.add(stage)
            say(f"{label}: {stage} ({total} steps)")

    return progress


def check(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)


def similarity(args: argparse.Namespace):
    from ..evaluation.similarity import SimilarityUnavailable, load_similarity

    try:
        return load_similarity(args.clip, args.device)
    except SimilarityUnavailable as exc:
        raise UsageError(str(exc)) from None


def overrides(method: str, items: list[str]) -> dict[str, Any]:
    from .. import methods
    from ..methods.configs import describe

    return parse_sets(items, {info.name: info.type for info in describe(methods.get(method).config_class)})


def validated(method: str, preset: str, params: dict[str, Any], fixed: dict[str, Any]) -> None:
    """Refuse a bad preset or override before anything runs."""
    from protocol.errors import ProtocolError
    from protocol.schema import SchemaError

    from .. import methods
    from ..methods.configs import resolve

    try:
        resolve(methods.get(method), preset, {**params, **fixed})
    except (ProtocolError, SchemaError) as exc:
        raise invalid(exc) from None


def invalid(exc: Exception) -> UsageError:
    message = getattr(exc, "message", None) or str(exc)
    return UsageError(f"invalid parameters: {message}")


# ---------------------------------------------------------------- dtc123


def run_dtc123(args: argparse.Namespace) -> int:
    import torch

    from protocol.errors import ProtocolError
    from protocol.schema import SchemaError

    from ..engine.errors import MethodError
    from ..evaluation import dtc123, report
    from ..evaluation.images import load_lpips
    from ..evaluation.objects import EvaluationError, load_mesh, parse_object, truth_glb
    from ..table import print_table

    check(args.views >= 1, "--views must be at least 1")
    check(args.resolution >= 16, "--resolution must be at least 16")
    check(0 < args.tau < 1, "--tau is a fraction of the diagonal, in (0, 1)")
    check(args.iou_resolution >= 4 and args.surface_samples >= 100, "--iou-resolution must be at least 4 and --surface-samples at least 100")
    check(args.mesh is None or args.truth is not None, "--mesh needs --truth")
    check(args.truth is None or args.mesh is not None, "--truth goes with --mesh")
    shape = dtc123.ShapeOptions(args.tau, args.surface_samples, args.iou_resolution)
    params = overrides("dtc123", args.set) if args.object else {}
    if args.object:
        validated("dtc123", args.preset, params, {"teacher": "synthetic"})
    try:
        if args.mesh is not None:  # score an existing result: (label, truth, result)
            given = [(Path(args.mesh).name, load_mesh(Path(args.truth)), load_mesh(Path(args.mesh)))]
            targets = []
        else:  # run DTC123 on each object: (label, truth GLB)
            given = []
            targets = [(spec.text, truth_glb(spec)) for spec in (parse_object(text, args.seed) for text in args.object)]
            for label, glb in targets:
                load_mesh(glb, label)  # a broken file is refused before anything runs
    except EvaluationError as exc:
        raise UsageError(str(exc)) from None
    scorer, lpips = similarity(args), load_lpips(args.device)
    out = Path(args.out).expanduser() if args.out else None
    records, failed = [], 0

    def score(label: str, truth, result, views: dtc123.Views, seconds: float | None, facts: dict) -> None:
        with torch.no_grad():
            try:
                scores = dtc123.score_reconstruction(result, truth, scorer, lpips, views, shape)
            except ValueError as exc:
                raise UsageError(f"{label}: cannot score: {exc}") from None
        records.append({"object": label, **scores.to_json(), "seconds": seconds, **facts})

    for label, truth, result in given:
        score(label, truth, result, dtc123.Views(args.elevation, args.azimuth, resolution=args.resolution, novel=args.views), None, {})
    with tempfile.TemporaryDirectory(prefix="distill3d-eval-") as scratch:
        for index, (label, glb) in enumerate(targets):
            target = Path(scratch) / f"{index}-target.glb"
            target.write_bytes(glb)
            say(f"{label}: DTC123 ({args.preset}) with the synthetic teacher, seed {args.seed}, elevation {args.elevation:g}°")
            try:
                run = dtc123.run_dtc123(target, args.preset, args.seed, args.elevation, params, args.device, Path(scratch) / f"{index}-work", stage_printer(label))
            except (ProtocolError, SchemaError) as exc:
                raise invalid(exc) from None
            except MethodError as exc:
                say(f"{label}: DTC123 failed: {exc}")
                records.append({"object": label, "failed": str(exc)})
                failed += 1
                continue
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{report.file_label(label)}.glb").write_bytes(run.glb)
                (out / f"{report.file_label(label)}-truth.glb").write_bytes(glb)
            views = dtc123.Views(args.elevation, 0.0, run.radius, run.fov_deg, args.resolution, args.views)
            score(label, load_mesh(glb, label), load_mesh(run.glb, label), views, run.seconds, {"faces": run.metadata.get("faces")})
    keys = ["psnr", "lpips", "clip_reference", "clip_novel", "clip_novel_truth", "chamfer", "iou", "fscore", "seconds"]
    scored = [r for r in records if "failed" not in r]
    mean = report.means(scored, keys)
    sim = scorer.label
    header = ("object", "PSNR dB", lpips.label, f"{sim} ref", f"{sim} novel", f"{sim} novel GT", "Chamfer/diag", "IoU", f"F@{args.tau:g}", "s")
    rows = [dtc123_row(r) for r in records] + ([dtc123_row({"object": "mean", **mean})] if len(scored) > 1 else [])
    what = f"preset {args.preset}, seed {args.seed}" if args.object else f"{args.mesh} against {args.truth}"
    print_table(f"DTC123 — {what}; reference view at {args.elevation:g}° elevation, {args.views} novel views, {args.resolution}² renders",
                header, rows, sys.stdout)  # fmt: skip
    print(f"PSNR on the bounding box of both silhouettes (identical: {100:g} dB). {sim}: {scorer.source}."
          + ("" if lpips.real else " LPIPS(rand): no VGG-16 weights in torch's hub cache, the backbone is random (not perceptual).")
          + f" F-score at τ = {args.tau:g} × the truth's diagonal; IoU on a {args.iou_resolution}³ grid. 'novel GT': the truth's own novel views.")  # fmt: skip
    if args.json:
        payload = {"evaluation": "dtc123", "preset": args.preset if args.object else None, "seed": args.seed, "elevation": args.elevation,
                   "views": args.views, "resolution": args.resolution, "tau": args.tau, "iou_resolution": args.iou_resolution,
                   "similarity": {"kind": sim, "source": scorer.source}, "lpips_backbone": "vgg16" if lpips.real else "random",
                   "objects": records, "mean": mean}  # fmt: skip
        print(f"wrote {report.write_numbers(args.json, payload)}")
    return EXIT_JOB_FAILED if failed else EXIT_OK


def dtc123_row(r: dict) -> tuple[str, ...]:
    from ..evaluation.report import MISSING, cell

    if "failed" in r:
        return (r["object"], "failed", *[MISSING] * 8)
    seconds = r.get("seconds")
    return (r["object"], cell(r.get("psnr"), 2), cell(r.get("lpips")), cell(r.get("clip_reference")), cell(r.get("clip_novel")),
            cell(r.get("clip_novel_truth")), cell(r.get("chamfer"), 4), cell(r.get("iou")), cell(r.get("fscore")),
            cell(seconds, 0) if seconds is not None else MISSING)  # fmt: skip


# ---------------------------------------------------------------- cad


def generator_folder(spec: str, data_dir: str | None) -> Path | None:
    """The folder a generator spec names (None for ``demo:<family>``)."""
    from .. import methods
    from ..job_layout import jobs_folder

    return methods.generator_catalog(jobs_folder(data_dir)).folder_of(spec)


def run_cad(args: argparse.Namespace) -> int:
    import torch

    from protocol.errors import ProtocolError
    from protocol.schema import SchemaError

    from ..engine.errors import MethodError
    from ..evaluation import cad, report
    from ..evaluation.objects import EvaluationError
    from ..table import print_table
    from .generators import load_generator

    check(args.family is not None or args.generator is not None, "give --family (to distil a generator here) or --generator")
    check(1 <= args.samples <= 256, "--samples must be in 1…256")
    check(args.members >= 1 and args.frames >= 1, "--members and --frames must be at least 1")
    check(args.resolution >= 16 and args.iou_resolution >= 4, "--resolution must be at least 16 and --iou-resolution at least 4")
    check(0.0 <= args.truncation <= 1.0, "--truncation ψ must be in [0, 1]")
    check(args.generator is None or not args.set, "--set is for distilling (without --generator)")
    scorer = similarity(args)
    training = None
    with tempfile.TemporaryDirectory(prefix="distill3d-eval-") as scratch:
        if args.generator is None:
            params = overrides("cad", args.set)
            validated("cad", args.preset, params, {"prior": "synthetic", "family": args.family})
            work = Path(args.out).expanduser() if args.out else Path(scratch) / "work"
            say(f"distilling a CAD generator ({args.preset}) from the synthetic family {args.family!r}, seed {args.seed}")
            try:
                training = cad.train_cad(args.family, args.preset, args.seed, params, args.device, work, args.elevation, stage_printer("cad"))
            except (ProtocolError, SchemaError) as exc:
                raise invalid(exc) from None
            except MethodError as exc:
                say(f"the distillation failed: {exc}")
                return EXIT_JOB_FAILED
            args.generator, folder = str(training.folder), training.folder
        else:
            folder = generator_folder(args.generator, args.data_dir)
        generator = load_generator(args)
        facts = cad.generator_facts(generator, folder, args.generator)
        family = args.family or facts.family
        check(family is not None, f"generator {args.generator!r} does not say which family it was distilled from: give --family")
        try:
            truth = cad.family_truth(family, args.members, args.seed)
        except EvaluationError as exc:
            raise UsageError(str(exc)) from None
        elevation = args.elevation if args.elevation is not None else facts.elevation_deg
        views = cad.OrbitViews(elevation, facts.radius, facts.fov_deg, args.frames, args.resolution)
        say(f"scoring {args.samples} samples against {len(truth.members)} members of {family!r} over {args.frames} frames")
        with torch.no_grad():
            scores = cad.score_generator(generator, list(range(args.samples)), truth, scorer, views, prompt=args.prompt, truncation=args.truncation,
                                         quality=args.quality, iou_resolution=args.iou_resolution, frame=facts.frame, progress=say)  # fmt: skip
    samples = [s.to_json() for s in scores.samples]
    keys = ["clip_image", "clip_text", "iou", "chamfer", "seconds"]
    mean = report.means(samples, keys)
    sim = scorer.label
    header = ("sample", "faces", f"{sim} image", f"{sim} text", "nearest IoU", "nearest Chamfer/diag", "s")
    rows = [cad_row(f"seed {s['seed']}", s) for s in samples] + [cad_row("mean", mean)]
    rows.append(cad_row("reference object", {"clip_image": scores.reference_clip_image, "clip_text": scores.reference_clip_text}))
    rows.append(cad_row("a true member", {"iou": scores.true_member_iou, "chamfer": scores.true_member_chamfer}))
    source = f"distilled here ({args.preset}, {training.seconds:.0f} s)" if training else args.generator
    print_table(f"CAD — generator {source}, family {family!r}: {args.frames}-frame orbit at {elevation:g}°, {args.resolution}² frames, ψ = {args.truncation:g}",
                header, rows, sys.stdout)  # fmt: skip
    print(f"diversity (mean pairwise 1 − IoU): samples {report.cell(scores.diversity)}, ground-truth members {report.cell(scores.members_diversity)}")
    text_note = "" if args.prompt else " No --prompt: no text score."
    if args.prompt and scorer.text is None:
        text_note = " The stand-in has no text encoder: no text score (needs CLIP weights)."
    print(f"{sim}: {scorer.source}.{text_note} Nearest member among {len(truth.members)} "
          f"{'files of the folder' if Path(family).expanduser().is_dir() else 'fresh members'}; IoU on a {args.iou_resolution}³ grid. "
          "'reference object': the member the reference image shows, orbited itself. 'a true member': what a perfect sampler "
          f"scores — {'each file against the others' if Path(family).expanduser().is_dir() else f'{len(truth.held_out)} held-out fresh members'} "
          "against the same members (the nearest of a few members of a varied family is far even from a true one).")  # fmt: skip
    if args.json:
        payload = {"evaluation": "cad", "generator": None if training else args.generator, "family": family, "preset": args.preset if training else None,
                   "seed": args.seed, "prompt": args.prompt, "elevation": elevation, "resolution": args.resolution,
                   "similarity": {"kind": sim, "source": scorer.source}, "training_seconds": training.seconds if training else None,
                   "samples": samples, "mean": mean, "diversity": scores.diversity, "members_diversity": scores.members_diversity,
                   "true_member_iou": scores.true_member_iou, "true_member_chamfer": scores.true_member_chamfer,
                   "reference_clip_image": scores.reference_clip_image, "reference_clip_text": scores.reference_clip_text, **scores.extra}  # fmt: skip
        print(f"wrote {report.write_numbers(args.json, payload)}")
    return EXIT_OK


def cad_row(label: str, r: dict) -> tuple[str, ...]:
    from ..evaluation.report import MISSING, cell

    faces = r.get("faces")
    return (label, MISSING if faces is None else str(faces), cell(r.get("clip_image")), cell(r.get("clip_text")), cell(r.get("iou")),
            cell(r.get("chamfer"), 4), cell(r.get("seconds"), 1))  # fmt: skip

