"""The preflight decision and the ``out_of_memory`` advice, on injected numbers."""

from __future__ import annotations

import torch

from protocol.errors import ErrorCode
from protocol.messages import Footprint, ParamInfo
from backend.server.memory import advice, is_out_of_memory, memory_options, out_of_memory_error, preflight_error, presets_that_fit

GIB = 2**30
ROWS = (
    Footprint(preset="paper", device="cuda", peak_bytes=20 * GIB, seconds=600.0),
    Footprint(preset="fast", device="cuda", peak_bytes=6 * GIB, seconds=90.0),
    Footprint(preset="tiny", device="cuda", peak_bytes=2 * GIB, seconds=20.0),
    Footprint(preset="tiny", device="cpu", peak_bytes=GIB // 2, seconds=50.0, baseline_bytes=GIB // 2),
)
PARAMS = (ParamInfo(name="steps", type="int"),)


def test_presets_that_fit_are_those_of_the_device_kind_under_the_free_memory_smallest_first():
    assert presets_that_fit(ROWS, "cuda", 8 * GIB) == ["tiny", "fast"]
    assert presets_that_fit(ROWS, "cuda", GIB) == []
    assert presets_that_fit(ROWS, "cpu", GIB) == ["tiny"]


def test_a_job_that_fits_or_was_never_measured_is_not_refused():
    assert preflight_error("m", "paper", ROWS, PARAMS, free_bytes=20 * GIB, total_bytes=80 * GIB) is None
    assert preflight_error("m", "unmeasured", ROWS, PARAMS, free_bytes=1, total_bytes=80 * GIB) is None
    assert preflight_error("m", "tiny", ROWS[3:], PARAMS, free_bytes=1, total_bytes=80 * GIB) is None  # only a CPU row


def test_a_job_that_cannot_fit_is_refused_with_the_numbers_and_the_presets_that_fit():
    error = preflight_error("m", "paper", ROWS, PARAMS, free_bytes=7 * GIB, total_bytes=80 * GIB)
    assert error is not None and error.code is ErrorCode.OUT_OF_MEMORY
    message = str(error)
    assert "needs 20.00 GiB" in message and "7.00 GiB of 80.00 GiB is free" in message
    assert "presets of m that fit: 'tiny' (2.00 GiB), 'fast' (6.00 GiB)" in message
    assert "m has no offload option" in message and "release_gpu" in message


def test_advice_names_the_offload_options_of_the_config_and_says_when_no_preset_fits():
    params = (ParamInfo(name="teacher.offload", type="bool"), ParamInfo(name="attention_slicing", type="bool"),
              ParamInfo(name="offload_note", type="str"))  # fmt: skip
    assert memory_options(params) == ["teacher.offload", "attention_slicing"]
    text = advice("m", "paper", "cuda", ROWS, params, free_bytes=GIB)
    assert "no recorded preset of m fits in 1.00 GiB" in text
    assert "--set teacher.offload=true or --set attention_slicing=true" in text


def test_the_methods_that_load_diffusion_teachers_offer_their_memory_options():
    from backend import methods
    from backend.methods.configs import describe

    options = {name: memory_options(describe(methods.get(name).config_class)) for name in ("dtc123", "cad", "prd")}
    assert options == {"dtc123": ["memory.offload", "memory.attention_slicing"], "cad": ["memory.offload", "memory.attention_slicing"],
                       "prd": []}, "PRD's student runs whole on its device: it has none"  # fmt: skip


def test_advice_without_a_free_memory_figure_lists_the_recorded_peaks_of_the_device_kind():
    assert "recorded cuda peaks of m: 'tiny' 2.00 GiB, 'fast' 6.00 GiB, 'paper' 20.00 GiB" in advice("m", "paper", "cuda", ROWS, PARAMS, None)
    cpu = advice("m", "tiny", "cpu", (), PARAMS, None)
    assert "no preset of m has a recorded cpu footprint" in cpu and "fewer --workers" in cpu and "GPU" not in cpu


def test_torch_and_python_out_of_memory_errors_are_recognised_and_others_are_not():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("CUDA out of memory"))  # a message is no type


def test_the_out_of_memory_error_quotes_the_first_line_and_the_free_memory():
    error = out_of_memory_error("m", "paper", "cuda:0", ROWS, PARAMS, 3 * GIB, "OutOfMemoryError: Tried to allocate 4.00 GiB\nmore")
    assert error.code is ErrorCode.OUT_OF_MEMORY
    assert str(error).startswith("m preset 'paper' ran out of memory on cuda:0 (OutOfMemoryError: Tried to allocate 4.00 GiB, 3.00 GiB free")
    assert "more" not in str(error) and "'tiny' (2.00 GiB)" in str(error)
