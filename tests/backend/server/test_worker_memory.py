"""The CUDA worker's preflight check with an injected free-memory probe and footprints (runs on the CPU)."""

from __future__ import annotations

import pytest

from backend.engine.errors import MethodError
from backend.server.worker_main import JobWorker
from protocol.errors import ErrorCode
from protocol.messages import Footprint
from tests.support.plugin_method import EchoConfig

GIB = 2**30
ROWS = (Footprint(preset="paper", device="cuda", peak_bytes=10 * GIB, seconds=60.0),
        Footprint(preset="tiny", device="cuda", peak_bytes=GIB, seconds=6.0))  # fmt: skip


class Probe:
    """Free memory that grows by ``freed`` bytes when the worker releases its cached methods."""

    def __init__(self, worker_box: list, free: int, freed: int) -> None:
        self.worker_box, self.free, self.freed, self.calls = worker_box, free, freed, 0

    def __call__(self, device: str) -> tuple[int, int]:
        assert device == "cuda:0"
        self.calls += 1
        released = not self.worker_box[0].methods
        return self.free + (self.freed if released else 0), 80 * GIB


def worker(free: int, freed: int = 0, cached: bool = False) -> tuple[JobWorker, Probe]:
    box: list = []
    probe = Probe(box, free, freed)
    made = JobWorker("cuda:0", events=None, cancel=None, free_memory=probe, footprints=lambda method: ROWS)  # type: ignore[arg-type]
    box.append(made)
    if cached:
        made.methods["earlier"] = object()
    return made, probe


def test_a_job_that_fits_runs():
    made, probe = worker(free=12 * GIB)
    made.preflight("m", "paper", EchoConfig, ROWS)
    assert probe.calls == 1


def test_a_job_that_cannot_fit_is_refused_with_out_of_memory_and_advice():
    made, _ = worker(free=4 * GIB)
    with pytest.raises(MethodError) as refused:
        made.preflight("m", "paper", EchoConfig, ROWS)
    assert refused.value.code is ErrorCode.OUT_OF_MEMORY
    assert "needs 10.00 GiB" in str(refused.value) and "4.00 GiB of 80.00 GiB is free" in str(refused.value)
    assert "'tiny' (1.00 GiB)" in str(refused.value)


def test_cached_models_are_released_before_a_job_is_refused():
    made, probe = worker(free=4 * GIB, freed=8 * GIB, cached=True)
    made.preflight("m", "paper", EchoConfig, ROWS)
    assert made.methods == {} and probe.calls == 2


def test_a_preset_without_a_recorded_cuda_footprint_is_never_probed_nor_refused():
    made, probe = worker(free=0, cached=True)
    made.preflight("m", "fast", EchoConfig, ROWS)
    assert probe.calls == 0 and made.methods


def test_without_a_recorded_peak_a_job_is_refused_only_when_its_models_weights_cannot_fit():
    made, probe = worker(free=8 * GIB)
    made.preflight("m", "unmeasured", EchoConfig, ROWS, weights=int(8.8 * GIB))  # 8 ≥ 0.9 × 8.8: the sizes are approximate
    with pytest.raises(MethodError) as refused:
        made.preflight("m", "unmeasured", EchoConfig, ROWS, weights=10 * GIB)
    message = str(refused.value)
    assert refused.value.code is ErrorCode.OUT_OF_MEMORY and "weights alone take about 10.00 GiB" in message and "a floor" in message
    assert "8.00 GiB of 80.00 GiB is free" in message and probe.calls == 2


def test_cached_models_are_released_before_the_weights_refuse_a_job():
    made, probe = worker(free=4 * GIB, freed=8 * GIB, cached=True)
    made.preflight("m", "unmeasured", EchoConfig, ROWS, weights=10 * GIB)
    assert made.methods == {} and probe.calls == 2
