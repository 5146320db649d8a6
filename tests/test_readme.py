"""Every command line in README.md runs as written: each `distill3d` command parses with the real parser, its method's
preset and ``--set`` values resolve, the generators it names exist, the ``make`` targets and environment variables it
mentions are real, and the cheap ones run for real.

A line with placeholders (``[--seed N]``, ``--method M``, ``<a job id>``) is a synopsis: every flag it names must exist
for that command (and method), but it is not run."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PLACEHOLDER = re.compile(r"[\[\]<>|…]|\.\.\.|(?<![\w-])[A-Z][A-Z0-9_]*(?:\.glb)?(?![\w-])")
"""Marks of a synopsis: brackets, alternatives, ellipses, or an upper-case placeholder word (DIR, N, OUT.glb)."""


@dataclass(frozen=True)
class Line:
    """One command line of the README: its text and where it stands."""

    text: str
    number: int

    def __str__(self) -> str:
        return f"README.md:{self.number}: {self.text}"


def code_lines(text: str) -> list[Line]:
    """Shell lines of the fenced code blocks (continuations joined, comments cut) and inline code spans that start with a
    command and carry a flag (a bare `distill3d eval` in prose names a command, it is not one)."""
    lines, fenced, pending, start = [], False, "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            if not pending:
                start = number
            body = raw.rstrip()
            if body.endswith("\\"):
                pending += body[:-1] + " "
                continue
            command = _without_comment(pending + body).strip()
            pending = ""
            if command:
                lines.append(Line(command, start))
        else:
            lines += [Line(span, number) for span in re.findall(r"`([^`]+)`", raw) if _inline_command(span)]
    return lines


def _inline_command(span: str) -> bool:
    return bool(re.match(r"(\w+=\S+ )*make ", span) or (span.startswith("distill3d ") and " -" in span))


def _without_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` inside quotes stays)."""
    quote = None
    for index, char in enumerate(line):
        if char in "'\"" and quote in (None, char):
            quote = None if quote else char
        elif char == "#" and quote is None and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def distill3d_argv(line: Line) -> list[str] | None:
    """The arguments after ``distill3d`` in ``line`` (also under ``torchrun … --no-python distill3d``), or None."""
    try:
        words = shlex.split(line.text)
    except ValueError:
        return None
    while words and re.fullmatch(r"\w+=\S*", words[0]):
        words = words[1:]
    if "distill3d" not in words or (words[0] not in ("distill3d", "torchrun")):
        return None
    return words[words.index("distill3d") + 1 :]


README_TEXT = README.read_text(encoding="utf-8")
LINES = code_lines(README_TEXT)
COMMANDS = [(line, argv) for line in LINES if (argv := distill3d_argv(line)) is not None]
SYNOPSES = [(line, argv) for line, argv in COMMANDS if PLACEHOLDER.search(line.text.split("distill3d", 1)[1])]
CONCRETE = [(line, argv) for line, argv in COMMANDS if (line, argv) not in SYNOPSES]


def test_the_readme_has_the_commands_this_test_reads():
    assert len(CONCRETE) >= 15 and len(SYNOPSES) >= 8, (len(CONCRETE), len(SYNOPSES))


def option_strings(argv: list[str]) -> set[str]:
    """The flags the parser of ``argv``'s subcommand (with its method's flags) accepts."""
    from backend.cli import build_parser

    parser = build_parser(argv)
    sub = next(a for a in parser._actions if a.dest == "command")
    command = sub.choices[argv[0]]
    nested = [a for a in command._actions if getattr(a, "choices", None) and isinstance(a.choices, dict)]
    if nested and len(argv) > 1 and argv[1] in nested[0].choices:
        command = nested[0].choices[argv[1]]
    return {flag for action in command._actions for flag in action.option_strings}


@pytest.mark.parametrize("line,argv", SYNOPSES, ids=[str(line.number) for line, _ in SYNOPSES])
def test_each_synopsis_names_only_real_flags(line, argv):
    from backend.cli import build_parser

    parser = build_parser(argv)
    assert argv[0] in next(a for a in parser._actions if a.dest == "command").choices, f"{line}: no command {argv[0]!r}"
    known = option_strings(argv)
    flags = {word.split("=")[0].strip("[]") for word in argv if word.lstrip("[").startswith("--")}
    assert flags <= known, f"{line}: unknown flags {sorted(flags - known)}"


def resolved(argv: list[str], args) -> None:
    """The method, preset and ``--set`` values of a ``generate`` / ``train`` / ``eval`` line resolve as the backend would."""
    from backend import methods
    from backend.cli.common import method_option_values, parse_sets
    from backend.methods.configs import describe, resolve

    method = getattr(args, "method", None) or (argv[1] if argv[0] == "eval" else None)
    if method is None or method not in {spec.name for spec in methods.entries()}:
        return
    spec = methods.get(method)
    params = parse_sets(getattr(args, "set", None), {info.name: info.type for info in describe(spec.config_class)})
    if argv[0] != "eval":
        params.update(method_option_values(args, method))
    resolve(spec.for_training() if argv[0] == "train" else spec, getattr(args, "preset", None) or spec.default_preset, params)


def named_generator_exists(args) -> None:
    from backend import methods

    spec = getattr(args, "generator", None)
    if not spec or "/" in spec or "." in spec:
        return  # a folder or file the README made earlier
    assert spec in methods.generator_catalog().named or spec.startswith("demo:"), f"no generator named {spec!r}"


@pytest.mark.parametrize("line,argv", CONCRETE, ids=[str(line.number) for line, _ in CONCRETE])
def test_each_command_parses_and_its_parameters_resolve(line, argv):
    from backend.cli import build_parser

    try:
        args = build_parser(argv).parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{line}: refused by the parser (exit {exc.code})")
    resolved(argv, args)
    named_generator_exists(args)


def test_make_targets_and_environment_variables_in_the_readme_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    scripts = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "scripts").glob("*.sh"))
    checked = 0
    for line in LINES:
        if not re.match(r"([A-Z_][A-Z0-9_]*=\S* )*make ", line.text):
            continue
        words = shlex.split(line.text)
        assigned = [w.split("=")[0] for w in words if re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", w)]
        rest = words[len(assigned) :]
        assert set(rest[1:]) <= targets, f"{line}: no make target {sorted(set(rest[1:]) - targets)}"
        assert all(name in scripts or name in makefile for name in assigned), f"{line}: {assigned} read by nothing"
        checked += 1
    assert checked >= 2


CHEAP = ("world", "methods")
"""Commands that run in a second or two: run for real, where they write into a temporary folder."""


@pytest.mark.parametrize("line,argv", [(l, a) for l, a in CONCRETE if a[0] in CHEAP], ids=lambda v: str(getattr(v, "number", "")))
def test_the_cheap_commands_run_as_written(line, argv, tmp_path):
    done = subprocess.run([sys.executable, "-m", "backend.cli", *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0, f"{line}: exit {done.returncode}\n{done.stderr[-2000:]}"


def test_the_line_reader_finds_continuations_and_keeps_quoted_hashes():
    text = ("```sh\ndistill3d generate --method dtc123 \\\n  --set 'a=#1' --out x.glb  # note\n```\n"
            "see `distill3d methods --json` here, not `distill3d eval`\n")
    assert [(l.text, l.number) for l in code_lines(text)] == [
        ("distill3d generate --method dtc123    --set 'a=#1' --out x.glb", 2), ("distill3d methods --json", 5)]  # fmt: skip
    assert PLACEHOLDER.search(" sample --generator G --n N") and not PLACEHOLDER.search(" sample --generator demo --n 6 --out variants/")
