import pytest

from backend import methods
from backend.methods.configs import apply_overrides, describe, param_names, parse_cli_value, required_models, resolve
from protocol.errors import ErrorCode, ProtocolError
from tests.support.testbed import TestbedConfig


def test_dotted_names_cover_nested_groups():
    names = param_names(TestbedConfig)
    assert "steps" in names and "noise.scale" in names and "noise" not in names


def test_resolve_applies_defaults_then_preset_then_job():
    entry = methods.get("testbed")
    preset, config = resolve(entry, "quick", {"noise.scale": 2, "step_seconds": 0.5})
    assert preset == "quick"
    assert (config.steps, config.step_seconds, config.noise.scale, config.noise.kind) == (3, 0.5, 2.0, "gauss")
    preset, config = resolve(entry, None, {})
    assert preset == "default" and config == TestbedConfig()


def test_unknown_parameter_suggests_close_names():
    with pytest.raises(ProtocolError) as info:
        apply_overrides(TestbedConfig(), {"step": 3})
    assert info.value.code is ErrorCode.UNKNOWN_PARAMETER and "did you mean steps" in info.value.message


@pytest.mark.parametrize("overrides, path", [({"steps": 0}, "steps"), ({"noise.scale": 11}, "noise.scale"), ({"noise.kind": "pink"}, "noise.kind"), ({"steps": "many"}, "steps")])
def test_invalid_values_name_the_parameter(overrides, path):
    with pytest.raises(ProtocolError) as info:
        apply_overrides(TestbedConfig(), overrides)
    assert info.value.code is ErrorCode.INVALID_PARAMS and info.value.details["parameter"] == path


def test_unknown_preset():
    with pytest.raises(ProtocolError) as info:
        resolve(methods.get("testbed"), "paper", {})
    assert info.value.code is ErrorCode.UNKNOWN_PRESET and "quick" in info.value.message


def test_describe_gives_types_defaults_docs_and_bounds():
    infos = {p.name: p for p in describe(TestbedConfig)}
    steps = infos["steps"]
    assert (steps.type, steps.default, steps.minimum, steps.maximum) == ("int", 20, 1, 1_000_000)
    assert steps.doc == "Steps per stage."
    assert infos["noise.kind"].choices == ("gauss", "uniform")
    assert infos["step_seconds"].type == "float"


@pytest.mark.parametrize("text, label, value", [("3", None, 3), ("0.5", None, 0.5), ("true", None, True), ("[1, 2]", None, [1, 2]), ("gauss", None, "gauss"), ("123", "str", "123")])
def test_cli_values(text, label, value):
    assert parse_cli_value(text, label) == value


def test_a_method_and_preset_name_the_models_their_jobs_need():
    assert required_models(methods.get("dtc123"), "paper") == ("zero123", "stable_diffusion")
    assert required_models(methods.get("prd"), "demo") == ()
    with pytest.raises(ProtocolError) as refused:
        required_models(methods.get("prd"), "huge")
    assert refused.value.code is ErrorCode.UNKNOWN_PRESET
