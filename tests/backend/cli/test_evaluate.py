"""``distill3d eval`` as a user runs it: a table on stdout, the numbers in --json, exit 2 with a reason for bad input."""

import json

import pytest
import torch

from backend.cli import main
from backend.cli.common import EXIT_OK, EXIT_USAGE

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = ["--resolution", "48", "--views", "2", "--surface-samples", "2000", "--iou-resolution", "24", "--clip", "standin"]
"""Small renders, few samples: the command's path at a fraction of its default cost."""


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two snowmen as GLB files: a 'result' and its 'truth'."""
    from backend.teachers.synthetic.families import family
    from backend.teachers.synthetic.glb_io import export_scene

    folder = tmp_path_factory.mktemp("pair")
    for name, seed in (("truth", 0), ("result", 1)):
        (folder / f"{name}.glb").write_bytes(export_scene(family("snowman").sample(torch.Generator().manual_seed(seed)))[1])
    return folder / "result.glb", folder / "truth.glb"


def test_eval_dtc123_scores_a_result_against_its_truth_as_a_table_and_json(pair, tmp_path, capsys):
    result, truth = pair
    numbers = tmp_path / "out" / "numbers.json"
    assert main(["eval", "dtc123", "--mesh", str(result), "--truth", str(truth), *QUICK, "--json", str(numbers)]) == EXIT_OK
    out = capsys.readouterr().out
    for header in ("PSNR dB", "LPIPS", "stand-in ref", "stand-in novel", "Chamfer/diag", "IoU", "F@0.01"):
        assert header in out, header
    assert "result.glb" in out and "bounding box of both silhouettes" in out
    written = json.loads(numbers.read_text())
    row = written["objects"][0]
    assert written["similarity"]["kind"] == "stand-in" and written["tau"] == 0.01
    assert 5 < row["psnr"] < 100 and 0 < row["iou"] < 1 and row["chamfer"] > 0 and 0 <= row["fscore"] < 1 and row["seconds"] is None


def test_a_result_against_itself_scores_perfectly(pair, tmp_path, capsys):
    _, truth = pair
    numbers = tmp_path / "self.json"
    assert main(["eval", "dtc123", "--mesh", str(truth), "--truth", str(truth), *QUICK, "--json", str(numbers)]) == EXIT_OK
    row = json.loads(numbers.read_text())["objects"][0]
    assert row["psnr"] == 100.0 and row["iou"] == 1.0 and row["fscore"] == 1.0 and row["chamfer"] == 0.0


@pytest.mark.parametrize(
    "args, words",
    [
        (["--mesh", "{missing}", "--truth", "{truth}"], "no such file"),
        (["--mesh", "{junk}", "--truth", "{truth}"], "not a GLB"),
        (["--mesh", "{truth}"], "--mesh needs --truth"),
        (["--object", "teapot"], "unknown family 'teapot'"),
        (["--object", "snowman@one"], "must be a seed"),
        (["--object", "snowman", "--set", "coarse.iteratons=3"], "did you mean coarse.iterations"),
        (["--object", "snowman", "--preset", "huge"], "no preset 'huge'"),
        (["--mesh", "{truth}", "--truth", "{truth}", "--clip", "{missing}"], "open_clip folder"),
    ],
)
def test_bad_dtc123_input_exits_2_with_a_reason(pair, tmp_path, capsys, args, words):
    (tmp_path / "junk.glb").write_bytes(b"junk")
    paths = {"missing": tmp_path / "nope.glb", "junk": tmp_path / "junk.glb", "truth": pair[1]}
    assert main(["eval", "dtc123", *[a.format(**paths) for a in args]]) == EXIT_USAGE
    assert words in capsys.readouterr().err


def test_eval_cad_scores_a_generators_samples_against_its_family(tmp_path, capsys):
    numbers = tmp_path / "cad.json"
    args = ["eval", "cad", "--generator", "demo:snowman", "--samples", "2", "--members", "2", "--frames", "6", "--resolution", "48",
            "--quality", "preview", "--iou-resolution", "24", "--clip", "standin", "--json", str(numbers)]  # fmt: skip
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert "stand-in image" in out and "nearest IoU" in out and "diversity (mean pairwise 1 − IoU)" in out and "reference object" in out
    written = json.loads(numbers.read_text())
    assert written["family"] == "snowman" and [s["seed"] for s in written["samples"]] == [0, 1] and written["frames"] == 6
    assert all(0 < s["iou"] <= 1 and s["clip_text"] is None for s in written["samples"]) and 0 < written["diversity"] < 1


@pytest.mark.parametrize(
    "args, words",
    [
        ([], "give --family"),
        (["--generator", "nowhere"], "nowhere"),
        (["--generator", "demo:snowman", "--family", "teapots"], "unknown family"),
        (["--family", "snowman", "--set", "nope=1"], "no parameter 'nope'"),
    ],
)
def test_bad_cad_input_exits_2_with_a_reason(capsys, args, words):
    assert main(["eval", "cad", *args, "--clip", "standin"]) == EXIT_USAGE
    assert words in capsys.readouterr().err


TINY_ITERATIONS = ["--set", "coarse.iterations=60", "--set", "fine.iterations=24"]
"""The tiny preset cut to 60 + 24 iterations: the whole command in about a minute on two cores."""


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_eval_dtc123_runs_the_tiny_preset_on_an_object_and_scores_it(tmp_path, capsys):
    numbers = tmp_path / "tiny.json"
    args = ["eval", "dtc123", "--object", "mushroom@2", "--preset", "tiny", *TINY_ITERATIONS, "--resolution", "128", "--clip", "standin",
            "--json", str(numbers), "--out", str(tmp_path / "glbs")]  # fmt: skip
    assert main(args) == EXIT_OK
    assert "mushroom@2" in capsys.readouterr().out
    row = json.loads(numbers.read_text())["objects"][0]
    assert row["seconds"] > 0 and row["faces"] > 0
    assert row["iou"] > 0.3 and row["chamfer"] < 0.08 and row["psnr"] > 12, row
    assert (tmp_path / "glbs" / "mushroom-2.glb").is_file() and (tmp_path / "glbs" / "mushroom-2-truth.glb").is_file()
