"""``distill3d generate``: what it refuses, and how it names the flag at fault, before a job exists."""

import pytest

from backend.cli import build_parser, main
from backend.cli.common import EXIT_USAGE, UsageError
from backend.cli.generate import job_spec


def generate_locally(tmp_path, *args: str) -> int:
    """``distill3d generate --local`` with a data dir of its own (the job store a refused job must leave empty)."""
    return main(["generate", "--local", "--device", "cpu", "--data-dir", str(tmp_path / "data"), "--method", "dtc123",
                 "--preset", "tiny", *args, "--out", str(tmp_path / "out.glb")])  # fmt: skip


def jobs_in(tmp_path) -> list:
    return sorted((tmp_path / "data" / "jobs").iterdir())


@pytest.mark.slow
def test_a_text_file_as_target_is_refused_before_any_job_exists(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello, not a mesh\n")
    assert generate_locally(tmp_path, "--teacher", "synthetic", "--target", str(tmp_path / "notes.txt")) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--target: {tmp_path / 'notes.txt'} is not a GLB file" in err and "submitted" not in err
    assert jobs_in(tmp_path) == []


@pytest.mark.slow
def test_a_non_image_is_named_so_even_when_the_teachers_weights_are_missing(tmp_path, capsys, monkeypatch):
    for role in ("ZERO123", "STABLE_DIFFUSION"):
        monkeypatch.setenv(f"DISTILL3D_MODEL_{role}", str(tmp_path / "nowhere"))
    (tmp_path / "photo.png").write_text("hello, not an image\n")
    assert generate_locally(tmp_path, "--image", str(tmp_path / "photo.png")) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--image photo.png: the input is not a PNG, JPEG or WebP image" in err and "missing_model" not in err
    assert jobs_in(tmp_path) == []


@pytest.mark.parametrize(
    "flag, value, words",
    [
        ("--camera-elevation", "95", "--camera-elevation: must be ≤ 90"),
        ("--camera-azimuth", "400", "--camera-azimuth: must be ≤ 360"),
        ("--camera-distance", "0", "--camera-distance: must be > 0"),
        ("--camera-fov", "180", "--camera-fov: must be < 179"),
        ("--seed", "-1", "--seed: must be ≥ 0"),
    ],
)
def test_a_bad_value_names_its_flag_not_the_wire_field(flag, value, words):
    argv = ["generate", "--method", "dtc123", flag, value, "--out", "x.glb"]
    with pytest.raises(UsageError) as info:
        job_spec(build_parser(argv).parse_args(argv), None)
    assert str(info.value).startswith(words) and "_deg" not in str(info.value)


@pytest.mark.parametrize(
    "method, words",
    [("interpolate", "preview quality (coarse, vertex-coloured, untextured) by default"), ("variants", "full quality (UV-textured) by default")],
)
def test_help_with_a_method_describes_it_and_its_default_quality(method, words, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no line breaks inside words (argparse wraps at hyphens)
    with pytest.raises(SystemExit):
        main(["generate", "--method", method, "--help"])
    out = capsys.readouterr().out
    assert f"options of method {method}:" in out and words in out
