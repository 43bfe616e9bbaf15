"""How a rule hands a stage its settings: a frozen dataclass as plain data, and back.

Each stage's settings are one frozen dataclass built from the validated config in the rule
(``params: settings=as_params(XSettings.from_config(CFG))``); :func:`~cortexplorer.runner.run_stage`
rebuilds the object before it calls the stage. The plain form matters: Snakemake decides that a
changed setting reruns a job by comparing ``repr`` of each param, and it only does so for builtin
types (a dataclass object is silently left out of the comparison, so no setting would ever rerun
anything); its between-workflow cache hashes the params with ``json.dumps``.

The plain form is a dict of the fields with the class's import path under ``"__settings__"``;
nested settings are dicts of the same form, mappings stay dicts and tuples stay tuples (so the
object comes back equal). Report captions read it like the object (``settings.network.name``).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any

CLASS_KEY = "__settings__"
_PLAIN = (str, int, float, bool, type(None))


def as_params(settings: Any) -> dict[str, Any]:
    """``settings`` (a dataclass instance) as builtin data that Snakemake compares and JSON can hash."""
    if not dataclasses.is_dataclass(settings) or isinstance(settings, type):
        raise TypeError(f"as_params takes a settings dataclass instance, not {type(settings).__name__}")
    return _encode(settings, type(settings).__name__)


def from_params(params: Any) -> Any:
    """The settings object that :func:`as_params` encoded (anything else is returned as it is)."""
    if isinstance(params, Mapping):
        values = {key: from_params(value) for key, value in params.items() if key != CLASS_KEY}
        if CLASS_KEY not in params:
            return values
        module, _, name = params[CLASS_KEY].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        return cls(**values)
    if isinstance(params, (list, tuple)):
        return type(params)(from_params(value) for value in params)
    return params


def _encode(value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        encoded = {CLASS_KEY: f"{cls.__module__}.{cls.__qualname__}"}
        for field in dataclasses.fields(value):
            if field.init:
                encoded[field.name] = _encode(getattr(value, field.name), f"{where}.{field.name}")
        return encoded
    if isinstance(value, Mapping):
        return {key: _encode(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_encode(item, f"{where}[{i}]") for i, item in enumerate(value))
    if isinstance(value, _PLAIN):
        return value
    raise TypeError(f"Setting {where} is a {type(value).__name__}, which a rule's params cannot carry; "
                    "store it as a str, number, bool, None, list, tuple, dict or a nested settings dataclass.")
