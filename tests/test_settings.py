"""Settings travel from a rule to its stage as plain data that Snakemake can compare (cortexplorer.settings)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from snakemake.persistence import UNREPRESENTABLE, PersistenceBase

from cortexplorer.braindive.settings import BrainDiVESettings, EvaluationSettings, SamplingSettings
from cortexplorer.brainscuba.settings import CaptionImageSettings, ProjectionSettings
from cortexplorer.config import check_config
from cortexplorer.models.demo_diffusion import DemoDiffusionSettings
from cortexplorer.oracle.classifier import OracleSettings
from cortexplorer.settings import CLASS_KEY, as_params, from_params
from cortexplorer.triplets.settings import OddOneOutSettings, TripletFitSettings, TripletSearchSettings
from cortexplorer.visual_search.settings import SummarySettings

from .conftest import REPO
from .test_config import merged_config


def snakemake_sees(value: Any) -> str | object:
    """What Snakemake stores of a param to decide whether a changed param reruns the job."""
    return PersistenceBase._serialize_param_builtin(None, value)


@dataclasses.dataclass(frozen=True)
class Inner:
    name: str
    layers: tuple[str, ...]
    spec: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Outer:
    inner: Inner
    scale: float
    steps: int | None
    regions: tuple[Inner, ...] = ()


def example() -> Outer:
    inner = Inner("vgg", ("pool3", "pool5"), {"kind": "torchvision", "weights": None, "mean": [0.5, 0.4]})
    return Outer(inner=inner, scale=1.5, steps=None, regions=(inner, Inner("b", (), {})))


def test_round_trip_keeps_nested_settings_tuples_and_mappings():
    params = as_params(example())
    assert from_params(params) == example()
    assert isinstance(from_params(params).inner.layers, tuple)
    assert params[CLASS_KEY] == f"{__name__}.Outer" and params["inner"]["name"] == "vgg"
    assert json.loads(json.dumps(params))["inner"]["layers"] == ["pool3", "pool5"]  # the cache's hash works


def test_snakemake_compares_the_plain_form_and_ignores_the_object():
    # the failure this module exists for: a dataclass param is invisible to Snakemake's rerun check
    assert snakemake_sees(example()) is UNREPRESENTABLE
    seen = snakemake_sees(as_params(example()))
    assert seen is not UNREPRESENTABLE
    changed = dataclasses.replace(example(), inner=dataclasses.replace(example().inner, layers=("pool4", "pool5")))
    assert snakemake_sees(as_params(changed)) != seen  # a nested change is a changed param
    assert snakemake_sees(as_params(example())) == seen  # and the same settings are the same param


def test_values_a_param_cannot_carry_are_refused_by_name():
    bad = dataclasses.replace(example(), inner=Inner("x", (), {"path": REPO}))
    with pytest.raises(TypeError, match=r"Setting Outer\.inner\.spec\['path'\] is a PosixPath"):
        as_params(bad)
    with pytest.raises(TypeError, match="settings dataclass instance, not dict"):
        as_params({"a": 1})


@pytest.mark.parametrize("config", ["config.yaml", "smoke.yaml", "nsd.yaml"])
def test_shipped_settings_survive_the_trip(config):
    cfg = check_config(merged_config(*([config] if config != "config.yaml" else [])), base_dir=REPO)
    built = [SamplingSettings.from_config(cfg), BrainDiVESettings.from_config(cfg, region="faces"),
             EvaluationSettings.from_config(cfg), TripletSearchSettings.from_config(cfg),
             TripletFitSettings.from_config(cfg), SummarySettings.from_config(cfg), ProjectionSettings.from_config(cfg),
             CaptionImageSettings.from_config(cfg)]
    if cfg["dataset"]["mode"] == "demo":
        built += [DemoDiffusionSettings.from_config(cfg), OracleSettings.from_config(cfg),
                  OddOneOutSettings.from_config(cfg)]
    for settings in built:
        params = as_params(settings)
        assert from_params(params) == settings, type(settings).__name__
        assert snakemake_sees(params) is not UNREPRESENTABLE


def test_every_rule_passes_its_settings_as_plain_data():
    """A rule that passes the settings object itself would never rerun when a setting changes."""
    rules = sorted((REPO / "workflow" / "rules").glob("*.smk"))
    passed = [(p.name, m.group(1)) for p in rules for m in re.finditer(r"^\s+settings=(.*)$", p.read_text(), re.M)]
    assert len(passed) >= 30
    wrong = [(name, line) for name, line in passed if not re.match(r"(lambda \w+: )?as_params\(", line)]
    assert not wrong, f"rules passing settings without as_params: {wrong}"
