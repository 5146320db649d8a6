"""``distill3d sample`` and ``distill3d interpolate``: their help says which quality they make by default."""

import pytest

from backend.cli import main


@pytest.mark.parametrize(
    "command, sentence",
    [
        ("interpolate", "Meshes are preview quality (coarse, vertex-coloured, untextured) unless --quality says otherwise."),
        ("sample", "Meshes are full quality (UV-textured) unless --quality says otherwise."),
    ],
)
def test_help_says_the_default_quality_and_what_it_makes(command, sentence, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no line breaks inside words (argparse wraps at hyphens)
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert sentence in out and "(default): " in out
