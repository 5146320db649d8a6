"""CAD's ``distill3d`` commands: ``train --method cad``, ``bench cad`` and ``invert`` (no torch until one runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..spec import CommandError


def train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--elevation", type=float, default=None, metavar="DEG", help="reference elevation (default: the config's)")


def run_train(args: argparse.Namespace) -> int:
    """Distil a CAD generator in this process (no server); under ``torchrun`` every process trains a share of each batch."""
    from .distributed import run_training

    return run_training(args.config, Path(args.out), Path(args.work) if args.work else None, args.seed, args.device, args.elevation)


def bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presets", nargs="+", default=["tiny", "fast", "paper"])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per stage and preset")
    parser.add_argument("--generator", default="shipped", help="generator folder to time sampling on ('shipped': the demo generator; 'none': skip)")
    parser.add_argument("--repeats", type=int, default=5, help="preview meshes timed")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def run_bench(args: argparse.Namespace) -> int:
    from .bench import run_cad_bench

    run_cad_bench(args.presets, args.steps, args.device, None if args.generator == "none" else args.generator, args.repeats)
    return 0


def invert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", required=True, metavar="G", help="a CAD generator folder (OUT.generator/), a job id on this machine's backend, or 'demo'")
    parser.add_argument("--data-dir", metavar="DIR", help="the backend's data directory, for job ids (default: the per-user one)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--image", required=True, metavar="IMG")
    parser.add_argument("--camera-elevation", type=float, metavar="DEG", help="elevation of the image's camera (azimuth is the reference's, 180°; "
                        "default: the elevation of the reference the generator was distilled from)")
    parser.add_argument("--space", choices=["w", "w+"], default="w+")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", required=True, metavar="OUT.glb")


def run_invert(args: argparse.Namespace) -> int:
    """The latent of a CAD generator that best reproduces an image, and its mesh (no server needed)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from protocol.schema import SchemaError

    from ...generators import GeneratorError, load
    from ...job_layout import jobs_folder
    from .. import generator_catalog
    from ..progress import ProgressReporter
    from .config import InvertConfig
    from .invert import invert_image

    try:
        generator = load(args.generator, generator_catalog(jobs_folder(args.data_dir)), args.device)
        config = InvertConfig(generator=args.generator, space=args.space, steps=args.steps)
    except (GeneratorError, SchemaError) as exc:
        raise CommandError(str(exc)) from None
    try:
        image = Image.open(args.image)
        image.load()
    except (OSError, UnidentifiedImageError) as exc:
        raise CommandError(f"cannot read --image {args.image}: {exc}") from None
    try:
        result, asset = invert_image(generator, image, args.camera_elevation, config, ProgressReporter(lambda *a: None))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(asset.to_glb())
    latent = out.with_name(f"{out.stem}.latent.npy")
    np.save(latent, result.latent)
    render = out.with_name(f"{out.stem}.render.png")
    Image.fromarray((result.image.permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")).save(render)
    print(f"wrote {out}, {latent} and {render} (loss {result.losses[0]:.4f} → {result.losses[-1]:.4f})")
    return 0
