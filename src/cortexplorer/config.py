"""Config validation: one readable message per problem, naming the key and what is allowed.

The workflow calls :func:`check_config` before any job runs. Defaults from the schema are
filled in first, so a user's config only has to name what it changes.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the fix."""


def load_schema(path: str | os.PathLike = SCHEMA_PATH) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def _resolve(node: dict, root: dict) -> dict:
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"Only local $refs are supported in the config schema; got {ref!r}.")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        merged = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **merged}
    return node


def fill_defaults(config: dict, schema: dict) -> dict:
    """Return a copy of ``config`` with schema defaults filled in at every level of objects."""

    def walk(value: Any, node: dict) -> Any:
        node = _resolve(node, schema)
        if node.get("type") != "object" or not isinstance(value, dict):
            return value
        for key, sub in node.get("properties", {}).items():
            sub = _resolve(sub, schema)
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = walk(value[key], sub)
        return value

    return walk(copy.deepcopy(dict(config)), schema)


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) if path else "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    got = error.instance
    v = error.validator
    desc = error.schema.get("description") if isinstance(error.schema, dict) else None
    hint = f" ({desc})" if desc else ""
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(got) - set(allowed))
        where = f" under '{key}'" if error.absolute_path else " at the top level"
        return (
            f"Unknown config key {', '.join(repr(_key([*error.absolute_path, e])) for e in extra)}. "
            f"Allowed keys{where}: {', '.join(allowed)}."
        )
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"Config key '{_key([*error.absolute_path, missing])}' is required but missing."
    if v == "type":
        return f"Config key '{key}' must be of type {error.validator_value}; got {got!r} ({type(got).__name__}){hint}."
    if v == "enum":
        return f"Config key '{key}' must be one of {error.validator_value}; got {got!r}{hint}."
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"Config key '{key}' must be {op} {error.validator_value}; got {got!r}{hint}."
    if v == "pattern":
        return f"Config key '{key}' must match {error.validator_value!r}; got {got!r}{hint}."
    return f"Config key '{key}': {error.message}{hint}."


def _check_roots(config: Mapping[str, Any], base: Path) -> list[str]:
    mode = config["dataset"]["mode"]
    folders = {"nsd": [("nsd.root", "your NSD copy")],
               "bids": [("bids.root", "your BIDS dataset"), ("bids.stimuli_dir", "your stimulus images")]}
    problems = []
    for key, what in folders.get(mode, []):
        section, name = key.split(".")
        value = config[section][name]
        path = (base / value) if value and not os.path.isabs(value) else Path(value)
        if not value:
            problems.append(f"Config key '{key}' is empty; set it to the folder holding {what}.")
        elif not path.is_dir():
            problems.append(f"Config key '{key}': folder '{value}' does not exist. Create it (mkdir -p {value}) "
                            f"or point {key} at {what}.")
    return problems


def _check_triplet_files(config: Mapping[str, Any], base: Path) -> list[str]:
    """The files and folders the triplets stage reads, when the config names them."""
    tr = config["triplets"]
    wanted = [("triplets.choices", tr["choices"], "a TSV of choices (root, image1, image2, choice, subject)", False),
              ("triplets.odd_one_out.triplets", tr["odd_one_out"]["triplets"], "a THINGS-format triplet file", False),
              ("triplets.odd_one_out.labels", tr["odd_one_out"]["labels"], "one object label per line", False)]
    if tr["images"] not in ("stimuli", "pool"):
        wanted.append(("triplets.images", tr["images"], "'stimuli', 'pool' or a folder of images", True))
    problems = []
    for key, value, what, folder in wanted:
        if value is None:
            continue
        path = Path(value) if os.path.isabs(value) else base / value
        if not (path.is_dir() if folder else path.is_file()):
            problems.append(f"Config key '{key}': {'folder' if folder else 'file'} '{value}' does not exist; "
                            f"it should be {what}.")
    return problems


# features.backbones when the config names none: the demo's own CLIP, or the models BrainDiVE and BrainSCUBA used
DEFAULT_BACKBONES = {
    "demo": {"democlip": {"kind": "demo_clip"}},
    "real": {"braindive": {"kind": "open_clip", "arch": "ViT-B-16", "pretrained": "laion2b_s34b_b88k"},
             "brainscuba": {"kind": "open_clip", "arch": "ViT-B-32", "pretrained": "openai"}},
}


def _check_backbones(config: dict) -> list[str]:
    """Fill the mode's default backbones and check the names the encoder refers to."""
    mode = config["dataset"]["mode"]
    backbones = config["features"]["backbones"] or DEFAULT_BACKBONES["demo" if mode == "demo" else "real"]
    config["features"]["backbones"] = {name: dict(spec) for name, spec in backbones.items()}
    problems = [f"Config key 'features.backbones.{name}' is the demo's own CLIP (kind: demo_clip), which only exists "
                f"in demo mode; in {mode} mode name open_clip backbones, e.g. "
                "{kind: open_clip, arch: ViT-B-16, pretrained: laion2b_s34b_b88k}."
                for name, spec in backbones.items() if spec["kind"] == "demo_clip" and mode != "demo"]
    problems += [f"Config key 'encoder.backbones' names {name!r}, which is not under features.backbones "
                 f"({sorted(backbones)})." for name in config["encoder"]["backbones"] if name not in backbones]
    return problems


# braindive settings left empty take the mode's defaults: the demo's small models (tuned on the demo, see
# config/README.md), or the settings of BrainDiVE's code (Stable Diffusion 2.1-base, 50 DPM-Solver++ steps, γ = 130)
BRAINDIVE_DEFAULTS = {
    "demo": {"diffusion": {"kind": "demo_diffusion"}, "regions": ["faces", "places", "bodies", "words", "food",
                                                                  "V1", "V2", "V3"],
             "n_seeds": 64, "steps": 25, "guidance_scale": 150.0, "batch_size": 32},
    "real": {"diffusion": {"kind": "stable_diffusion", "model_id": "stabilityai/stable-diffusion-2-1-base",
                           "revision": "main"},
             "regions": ["faces", "places", "bodies", "words"], "n_seeds": 500, "steps": 50, "guidance_scale": 130.0,
             "batch_size": 8,
             # zero-shot judge: a stronger CLIP than the encoders' backbones, to limit circularity
             "classifier": {"kind": "open_clip", "arch": "ViT-L-14", "pretrained": "openai"}},
}


def _check_braindive(config: dict) -> list[str]:
    """Fill the mode's BrainDiVE defaults; the guiding backbone must be one the encoder is fitted on."""
    mode = config["dataset"]["mode"]
    bd = config["braindive"]
    for key, value in BRAINDIVE_DEFAULTS["demo" if mode == "demo" else "real"].items():
        if bd.get(key) is None:  # (demo: classifier stays null = the oracle's classifier)
            bd[key] = copy.deepcopy(value)
    encoder_backbones = config["encoder"]["backbones"] or list(config["features"]["backbones"])
    bd["backbone"] = bd["backbone"] or encoder_backbones[0]
    problems = []
    if bd["backbone"] not in encoder_backbones:
        problems.append(f"Config key 'braindive.backbone' is {bd['backbone']!r}, which has no encoder; use one of "
                        f"encoder.backbones {encoder_backbones}.")
    kind = bd["diffusion"]["kind"]
    if kind == "demo_diffusion" and mode != "demo":
        problems.append("Config key 'braindive.diffusion' is the demo's own model (kind: demo_diffusion), which only "
                        f"exists in demo mode; in {mode} mode use {BRAINDIVE_DEFAULTS['real']['diffusion']}.")
    if kind == "stable_diffusion" and not bd["diffusion"].get("model_id"):
        problems.append("Config key 'braindive.diffusion.model_id' is required for kind stable_diffusion, e.g. "
                        "stabilityai/stable-diffusion-2-1-base.")
    if len(set(bd["regions"])) != len(bd["regions"]):
        problems.append(f"Config key 'braindive.regions' lists a region twice: {bd['regions']}.")
    return problems


# networks when the config names none: the demo's own VGG16-shaped net, or ImageNet VGG16 (eccNET's backbone)
DEFAULT_NETWORKS = {
    "demo": {"democnn": {"kind": "demo_cnn"}},
    "real": {"vgg16": {"kind": "torchvision", "arch": "vgg16", "weights": "IMAGENET1K_V1"}},
}


# visual_search and triplets settings left empty: scaled down for the demo on a CPU, the reference's otherwise
BEHAVIOUR_DEFAULTS = {
    "demo": {"visual_search": {"scale": 0.5, "trials_per_set_size": 6},
             "triplets": {"images": "pool", "max_images": 3000, "bin_size": 0.3}},
    "real": {"visual_search": {"scale": 1.0, "trials_per_set_size": "reference"},
             "triplets": {"images": "stimuli", "max_images": 5000, "bin_size": 0.5}},
}


def _check_networks(config: dict) -> list[str]:
    """Fill the mode's default CNNs and behaviour settings; check the names visual search and triplets use."""
    mode = config["dataset"]["mode"]
    for section, values in BEHAVIOUR_DEFAULTS["demo" if mode == "demo" else "real"].items():
        for key, value in values.items():
            if config[section][key] is None:
                config[section][key] = value
    networks = config["networks"] or DEFAULT_NETWORKS["demo" if mode == "demo" else "real"]
    config["networks"] = {name: dict(spec) for name, spec in networks.items()}
    problems = []
    for name, spec in networks.items():
        if spec["kind"] == "demo_cnn" and mode != "demo":
            problems.append(f"Config key 'networks.{name}' is the demo's own CNN (kind: demo_cnn), which only exists "
                            f"in demo mode; in {mode} mode use {DEFAULT_NETWORKS['real']['vgg16']}.")
        if spec["kind"] == "torchvision" and not spec.get("arch"):
            problems.append(f"Config key 'networks.{name}.arch' is required for kind torchvision, e.g. vgg16.")
    for section in ("visual_search", "triplets"):
        chosen = config[section]["network"] or next(iter(networks))
        config[section]["network"] = chosen
        if chosen not in networks:
            problems.append(f"Config key '{section}.network' is {chosen!r}, which is not under networks "
                            f"({sorted(networks)}).")
    images = config["triplets"]["images"]
    if images == "pool" and mode != "demo":
        problems.append("Config key 'triplets.images' is 'pool', the demo's disjoint image pool, which only exists in "
                        "demo mode; use 'stimuli' or a folder of images.")
    return problems


def check_config(
    config: Mapping[str, Any],
    schema: dict | None = None,
    *,
    base_dir: str | os.PathLike = ".",
) -> dict:
    """Validate ``config`` and return it with defaults filled in.

    Raises
    ------
    ConfigError
        Listing every problem, one line each, each naming the key and what is allowed.
    """
    schema = load_schema() if schema is None else schema
    filled = fill_defaults(dict(config), schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = (_check_roots(filled, Path(base_dir)) + _check_backbones(filled) + _check_networks(filled)
                    + _check_triplet_files(filled, Path(base_dir)))
        problems = problems or _check_braindive(filled)
    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(dict.fromkeys(problems)))
    return filled
