"""``distill3d bench footprint``: peak memory and seconds of one job of a method's preset, measured in a fresh process
(:mod:`.footprint_job`), printed as a table and, with ``--record``, written to the package's footprints file
(:mod:`backend.methods.footprints`), which ``distill3d methods``, the add-on and the CUDA preflight check read."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from protocol.messages import Footprint
from protocol.sizes import human_size

from ..methods.footprints import record
from ..table import print_table


class FootprintJobFailed(RuntimeError):
    """The measured job did not finish (missing weights, bad params, a crash): nothing is recorded."""


def run_footprint_job(method: str, preset: str, params: dict[str, Any], device: str, max_steps: int | None) -> dict[str, Any]:
    """Run :mod:`.footprint_job` in a fresh interpreter (its output goes to this process's stderr) and return its result;
    raises :class:`FootprintJobFailed` when it fails."""
    with tempfile.TemporaryDirectory() as scratch:
        result_file = Path(scratch) / "result.json"
        command = [sys.executable, "-m", "backend.bench.footprint_job", "--method", method, "--preset", preset,
                   "--params", json.dumps(params), "--device", device, "--result", str(result_file)]  # fmt: skip
        if max_steps is not None:
            command += ["--max-steps", str(max_steps)]
        code = subprocess.run(command, stdout=sys.stderr, check=False).returncode
        result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else {}
    if code != 0 or "error" in result or not result:
        raise FootprintJobFailed(f"the {method} '{preset}' job failed (exit code {code}): {result.get('error', 'no result written')}")
    return result


def footprint_from(result: dict[str, Any], preset: str, device: str, command: str, date: str, note: str = "",
                   params: dict[str, Any] | None = None) -> Footprint:  # fmt: skip
    """The :class:`Footprint` a :func:`run_footprint_job` result records: on a stopped job (fraction < 1) the seconds are
    projected to the whole plan, and the note says so; the note also names the threads, and on CUDA the allocated peak."""
    fraction = float(result["fraction"])
    if fraction <= 0.0:
        raise FootprintJobFailed("the job reported no progress before it stopped: its seconds cannot be projected")
    projected = fraction < 1.0
    facts = [f"torch threads: {result['threads']}"]
    if projected:
        facts.append(f"stopped after {result['steps']} of {result['total_steps']} steps ({fraction:.1%} of the plan) in "
                     f"{result['seconds']:.1f} s; seconds projected linearly from that fraction")  # fmt: skip
    if device == "cuda":
        facts.append(f"peak allocated {human_size(int(result['allocated_bytes']))} (peak_bytes is the peak reserved)")
    elif not result["peak_reset"]:
        facts.append("the peak RSS could not be reset after the setup: it is the whole process's")
    return Footprint(
        preset=preset, device=device, device_name=str(result["device_name"]), peak_bytes=int(result["peak_bytes"]),
        baseline_bytes=int(result["baseline_bytes"]), seconds=round(float(result["seconds"]) / fraction, 2), projected=projected,
        measured_with=command, measured_on=date, torch_version=str(result["torch_version"]), note="; ".join([*filter(None, [note]), *facts]),
        params=dict(params or {}),
    )  # fmt: skip


def run_footprint_bench(
    method: str,
    preset: str,
    params: dict[str, Any],
    device: str,
    max_steps: int | None,
    command: str,
    note: str = "",
    record_to: Path | None = None,
    out: TextIO = sys.stdout,
) -> Footprint:
    """Measure one job (see :mod:`.footprint_job`), print its row and, with ``record_to``, record it there."""
    result = run_footprint_job(method, preset, params, device, max_steps)
    date = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    footprint = footprint_from(result, preset, device, command, date, note, params)
    row = (method, preset, f"{device} ({footprint.device_name})", human_size(footprint.peak_bytes),
           human_size(footprint.baseline_bytes) if device == "cpu" else "—",
           f"{footprint.seconds:.1f}{' (projected)' if footprint.projected else ''}", f"{result['steps']}/{result['total_steps']}")  # fmt: skip
    print_table(f"footprint of one job ({date}, torch {footprint.torch_version})",
                ("method", "preset", "device", "peak memory", "baseline (process)", "seconds", "steps"), [row], out)  # fmt: skip
    if footprint.note:
        print(footprint.note, file=out)
    if record_to is not None:
        record(record_to, method, footprint)
        print(f"recorded in {record_to}", file=out)
    return footprint
