"""``distill3d methods`` shows each preset's recorded footprint, or that it was not measured."""

from __future__ import annotations

import argparse
import json

from backend.cli.catalogue import run_methods
from backend.methods import footprints
from protocol.messages import Footprint

ROW = Footprint(preset="tiny", device="cpu", peak_bytes=312 * 2**20, seconds=53.25, device_name="2 CPU cores", baseline_bytes=530 * 2**20,
                measured_on="2026-12-06", note="teacher 'synthetic'")  # fmt: skip


def test_methods_lists_recorded_footprints_and_unmeasured_presets(monkeypatch, capsys):
    monkeypatch.setattr(footprints, "shipped", lambda: footprints.FootprintTable({"dtc123": (ROW,)}))
    run_methods(argparse.Namespace(json=False))
    text = capsys.readouterr().out
    dtc123 = text[text.index("dtc123:"):]
    assert "    tiny: cpu: 327.2 MB (+ 555.7 MB process), 53.2 s on 2 CPU cores, 2026-12-06 (teacher 'synthetic')" in dtc123
    assert "    paper: not measured; on a GPU at least its models' weights, about 5.1 GB" in dtc123, "Zero123-XL's and SD 2.1's downloads"


def test_methods_json_carries_the_footprints(monkeypatch, capsys):
    monkeypatch.setattr(footprints, "shipped", lambda: footprints.FootprintTable({"dtc123": (ROW,)}))
    run_methods(argparse.Namespace(json=True))
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["dtc123"]["footprints"][0]["peak_bytes"] == 312 * 2**20 and listed["cad"]["footprints"] == []


def test_an_unreadable_footprints_file_is_a_warning_not_a_failure(monkeypatch, capsys):
    monkeypatch.setattr(footprints, "shipped", lambda: footprints.FootprintTable(problems=("footprints.json: cannot be read",)))
    assert run_methods(argparse.Namespace(json=False)) == 0
    captured = capsys.readouterr()
    assert "warning: footprints.json: cannot be read" in captured.err and "tiny: not measured" in captured.out
