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


# keys a release replaced, with what the user writes now
RENAMED = {"bids.subject": "bids.subject was replaced by bids.participant_label, a list (e.g. participant_label: "
                           "['01']; empty: every participant)",
           "simulate.subject": "simulate.subject was replaced by simulate.subjects, a list of the simulated "
                               "participants' labels (e.g. subjects: ['01'])"}


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
        renamed = [RENAMED[k] for k in (_key([*error.absolute_path, e]) for e in extra) if k in RENAMED]
        return (
            f"Unknown config key {', '.join(repr(_key([*error.absolute_path, e])) for e in extra)}. "
            f"Allowed keys{where}: {', '.join(allowed)}.{''.join(' ' + r + '.' for r in renamed)}"
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
    if v == "minItems":
        return f"Config key '{key}' must list at least {error.validator_value} item(s); got {got!r}{hint}."
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
        elif path.exists() and not path.is_dir():
            problems.append(f"Config key '{key}': '{value}' is a file, not a folder. Point {key} at the folder "
                            f"holding {what} (the folder that contains this file, if it is one of them).")
        elif not path.is_dir():
            problems.append(f"Config key '{key}': folder '{value}' does not exist. Create it (mkdir -p {value}) "
                            f"or point {key} at {what}.")
        elif key == "bids.root" and not (path / "dataset_description.json").is_file():
            problems.append(f"Config key '{key}': '{value}' is not a BIDS dataset (no dataset_description.json). "
                            "Point bids.root at the folder that holds sub-*/, derivatives/ and "
                            "dataset_description.json.")
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


# Every setting whose default depends on the mode, stated once. A key left empty (null, or an empty mapping
# where a mapping is expected) in the user's config takes the value of its mode: the demo's small models and
# CPU-sized settings (tuned on the demo, see config/README.md), or the published methods' settings elsewhere
# (BrainDiVE's code: Stable Diffusion 2.1-base, 50 DPM-Solver++ steps, γ = 130; BrainSCUBA: 5 repeats, CLIPCap;
# eccNET: ImageNet VGG16 at the reference's scale and trial counts).
MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "demo": {
        "features.backbones": {"democlip": {"kind": "demo_clip"}},
        "networks": {"democnn": {"kind": "demo_cnn"}},
        "visual_search.scale": 0.5,
        "visual_search.trials_per_set_size": 6,
        "triplets.images": "pool",
        "triplets.max_images": 3000,
        "triplets.bin_size": 0.3,
        "braindive.diffusion": {"kind": "demo_diffusion"},
        "braindive.regions": ["faces", "places", "bodies", "words", "food", "V1", "V2", "V3"],
        "braindive.n_seeds": 64,
        "braindive.steps": 25,
        "braindive.guidance_scale": 150.0,
        "braindive.sag_scale": 0.0,  # measured: 0.75 raised no bar on the demo prior (faces share 0.77 -> 0.62)
        "braindive.batch_size": 32,
        # (braindive.classifier stays null in the demo: the oracle's classifier judges)
        "brainscuba.repeats": 1,
        "brainscuba.min_score": {"metric": "r2_noise_normalised", "value": 0.1},
        "brainscuba.captioner": {"kind": "demo_captioner"},
        "brainscuba.images.n_captions": 2,
        "brainscuba.images.seeds_per_caption": 6,
        "brainscuba.images.steps": 25,
        "brainscuba.images.guidance_scale": 150.0,
    },
    "real": {
        "features.backbones": {
            "braindive": {"kind": "open_clip", "arch": "ViT-B-16", "pretrained": "laion2b_s34b_b88k"},
            "brainscuba": {"kind": "open_clip", "arch": "ViT-B-32", "pretrained": "openai"},
        },
        "networks": {"vgg16": {"kind": "torchvision", "arch": "vgg16", "weights": "IMAGENET1K_V1"}},
        "visual_search.scale": 1.0,
        "visual_search.trials_per_set_size": "reference",
        "triplets.images": "stimuli",
        "triplets.max_images": 5000,
        "triplets.bin_size": 0.5,
        "braindive.diffusion": {"kind": "stable_diffusion", "model_id": "stabilityai/stable-diffusion-2-1-base",
                                "revision": "main"},
        "braindive.regions": ["faces", "places", "bodies", "words"],
        "braindive.n_seeds": 500,
        "braindive.steps": 50,
        "braindive.guidance_scale": 130.0,
        "braindive.sag_scale": 0.75,
        "braindive.batch_size": 8,
        # zero-shot judge: a stronger CLIP than the encoders' backbones, to limit circularity
        "braindive.classifier": {"kind": "open_clip", "arch": "ViT-L-14", "pretrained": "openai"},
        "brainscuba.repeats": 5,
        "brainscuba.min_score": {"metric": "r2_noise_normalised", "value": 0.1},
        "brainscuba.captioner": {"kind": "clipcap", "weights": None, "gpt2": None, "prefix_length": 10,
                                 "normalize_prefix": False},
        "brainscuba.images.n_captions": 3,
        "brainscuba.images.seeds_per_caption": 8,
        "brainscuba.images.steps": 50,
        "brainscuba.images.guidance_scale": 7.5,
    },
}


def mode_default(mode: str, key: str) -> Any:
    """The default of dotted config ``key`` in ``mode`` (demo, nsd, bids)."""
    return copy.deepcopy(MODE_DEFAULTS["demo" if mode == "demo" else "real"][key])


def _fill_mode_defaults(config: dict) -> None:
    """Fill every empty key of :data:`MODE_DEFAULTS` with its mode's value (in place)."""
    mode = config["dataset"]["mode"]
    for key in MODE_DEFAULTS["demo" if mode == "demo" else "real"]:
        *parents, leaf = key.split(".")
        section = config
        for part in parents:
            section = section[part]
        value = section.get(leaf)
        if value is None or (isinstance(value, dict) and not value):
            section[leaf] = mode_default(mode, key)


def _check_backbones(config: dict) -> list[str]:
    """Fill the mode's default backbones and check the names the encoder refers to."""
    mode = config["dataset"]["mode"]
    backbones = config["features"]["backbones"]
    config["features"]["backbones"] = {name: dict(spec) for name, spec in backbones.items()}
    problems = [f"Config key 'features.backbones.{name}' is the demo's own CLIP (kind: demo_clip), which only exists "
                f"in demo mode; in {mode} mode name open_clip backbones, e.g. "
                "{kind: open_clip, arch: ViT-B-16, pretrained: laion2b_s34b_b88k}."
                for name, spec in backbones.items() if spec["kind"] == "demo_clip" and mode != "demo"]
    problems += [f"Config key 'encoder.backbones' names {name!r}, which is not under features.backbones "
                 f"({sorted(backbones)})." for name in config["encoder"]["backbones"] if name not in backbones]
    return problems


def _encoder_backbones(config: Mapping[str, Any]) -> list[str]:
    return list(config["encoder"]["backbones"] or config["features"]["backbones"])


def _has_encoder(section: str, backbone: str, encoder_backbones: list[str]) -> list[str]:
    """A stage that reads an encoder must name a backbone the encoder stage fits."""
    if backbone in encoder_backbones:
        return []
    return [f"Config key '{section}.backbone' is {backbone!r}, which has no encoder; use one of encoder.backbones "
            f"{encoder_backbones}."]


def _check_braindive(config: dict) -> list[str]:
    """The guiding backbone must be one the encoder is fitted on; the diffusion model must exist in the mode."""
    mode = config["dataset"]["mode"]
    bd = config["braindive"]
    encoder_backbones = _encoder_backbones(config)
    bd["backbone"] = bd["backbone"] or encoder_backbones[0]
    problems = _has_encoder("braindive", bd["backbone"], encoder_backbones)
    kind = bd["diffusion"]["kind"]
    if kind == "demo_diffusion" and mode != "demo":
        problems.append("Config key 'braindive.diffusion' is the demo's own model (kind: demo_diffusion), which only "
                        f"exists in demo mode; in {mode} mode use {mode_default('real', 'braindive.diffusion')}.")
    if kind == "stable_diffusion" and not bd["diffusion"].get("model_id"):
        problems.append("Config key 'braindive.diffusion.model_id' is required for kind stable_diffusion, e.g. "
                        "stabilityai/stable-diffusion-2-1-base.")
    if len(set(bd["regions"])) != len(bd["regions"]):
        problems.append(f"Config key 'braindive.regions' lists a region twice: {bd['regions']}.")
    return problems


def _check_networks(config: dict) -> list[str]:
    """Check the CNNs and the names visual search and triplets use."""
    mode = config["dataset"]["mode"]
    networks = config["networks"]
    config["networks"] = {name: dict(spec) for name, spec in networks.items()}
    problems = []
    for name, spec in networks.items():
        if spec["kind"] == "demo_cnn" and mode != "demo":
            problems.append(f"Config key 'networks.{name}' is the demo's own CNN (kind: demo_cnn), which only exists "
                            f"in demo mode; in {mode} mode use {mode_default('real', 'networks')['vgg16']}.")
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


def brainscuba_enabled(config: Mapping[str, Any]) -> bool:
    """BrainSCUBA runs in the demo, and elsewhere once an image bank and captioner weights are configured."""
    bs = config["brainscuba"]
    return config["dataset"]["mode"] == "demo" or ((bs["bank"] is not None or bs["bank_images"] is not None)
                                                    and (bs["captioner"] or {}).get("weights") is not None)


def _check_brainscuba(config: dict, base_dir: Path) -> list[str]:
    """Check the backbone, the captioner and the bank paths; regions default to BrainDiVE's."""
    mode = config["dataset"]["mode"]
    bs = config["brainscuba"]
    bs["regions"] = bs["regions"] or list(config["braindive"]["regions"])
    encoder_backbones = _encoder_backbones(config)
    bs["backbone"] = bs["backbone"] or ("brainscuba" if "brainscuba" in encoder_backbones else encoder_backbones[0])
    problems = _has_encoder("brainscuba", bs["backbone"], encoder_backbones)
    kind = bs["captioner"]["kind"]
    if kind == "demo_captioner" and mode != "demo":
        problems.append("Config key 'brainscuba.captioner' is the demo's own captioner (kind: demo_captioner), which "
                        "only exists in demo mode; use {kind: clipcap, weights: coco_weights.pt, gpt2: <folder>}.")
    for key in ("bank", "bank_images"):
        if mode == "demo" and bs[key] is not None:
            problems.append(f"Config key 'brainscuba.{key}' must be empty in demo mode (the demo's bank is its "
                            "disjoint image pool).")
    if bs["bank"] is not None and bs["bank_images"] is not None:
        problems.append("Config keys 'brainscuba.bank' (embeddings already made) and 'brainscuba.bank_images' (images "
                        "to embed) both name a bank; keep one.")
    has_bank = bs["bank"] is not None or bs["bank_images"] is not None
    if mode != "demo" and has_bank != (bs["captioner"].get("weights") is not None):
        problems.append("BrainSCUBA needs both a bank ('brainscuba.bank': natural-image embeddings, or "
                        "'brainscuba.bank_images': a folder of natural images) and 'brainscuba.captioner.weights' (a "
                        "CLIPCap checkpoint); set both, or neither to skip it.")
    images = bs["bank_images"]
    if images is not None and not (base_dir / images).is_dir():
        problems.append(f"Config key 'brainscuba.bank_images' names '{images}', which is not a folder; give a folder "
                        "of images or of WebDataset .tar shards.")
    if brainscuba_enabled(config) and kind == "clipcap":
        if not bs["captioner"].get("gpt2"):
            problems.append("Config key 'brainscuba.captioner.gpt2' is required for kind clipcap: a local folder with "
                            "GPT-2's config and tokenizer (`huggingface-cli download gpt2 --local-dir <folder>`).")
        for key in ("weights", "gpt2"):
            path = bs["captioner"].get(key)
            if path and not (base_dir / path).exists():
                problems.append(f"Config key 'brainscuba.captioner.{key}' names '{path}', which does not exist.")
    bank = bs["bank"]
    for path in ([bank] if isinstance(bank, str) else bank or []):
        if not (base_dir / path).exists():
            problems.append(f"Config key 'brainscuba.bank' names '{path}', which does not exist.")
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
        _fill_mode_defaults(filled)
        problems = (_check_roots(filled, Path(base_dir)) + _check_backbones(filled) + _check_networks(filled)
                    + _check_triplet_files(filled, Path(base_dir)))
        problems = problems or _check_braindive(filled)
        problems = problems or _check_brainscuba(filled, Path(base_dir))
    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(dict.fromkeys(problems)))
    return filled


def load_config_file(path: str | os.PathLike) -> dict:
    """Read one YAML config file, with errors that name the file, the line and the fix.

    Snakemake's own ``--configfile`` reading stops with a bare traceback (missing file) or
    "Config file is not valid JSON or YAML" (no line); ``make … CONFIG=file`` and
    ``python -m cortexplorer.config file`` check the file with this first.
    """
    path = Path(path)
    if not path.is_file():
        here = sorted(str(p) for p in Path("config").glob("*.yaml")) if Path("config").is_dir() else []
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(f"Config file '{path}' {what}. Pass a YAML file"
                          f"{' such as ' + ', '.join(here) if here else ''} (paths are relative to {Path.cwd()}).")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where, line = "", ""
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
            lines = text.splitlines()
            line = f": {lines[mark.line]!r}" if mark.line < len(lines) else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        tabs = " The file contains tab characters; YAML indents with spaces only." if "\t" in text else ""
        raise ConfigError(f"Config file '{path}' is not valid YAML{where}{line} ({problem}). Check the indentation "
                          f"(spaces, the same depth for keys of one section) and that every 'key: value' has a space "
                          f"after the colon.{tabs}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{path}' holds a {type(data).__name__}, not a mapping of config keys "
                          "(e.g. 'dataset: {name: mine, mode: bids}').")
    return data


def main(argv: list[str] | None = None) -> int:
    """``python -m cortexplorer.config FILE…``: read and check config files as the workflow would (the
    shipped config/config.yaml first, then each FILE over it, as ``snakemake --configfile FILE`` does)."""
    import sys

    files = sys.argv[1:] if argv is None else argv
    try:
        config: dict = {}
        for f in ["config/config.yaml", *files]:
            _merge(config, load_config_file(f))
        check_config(config, base_dir=".")
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"config OK: {', '.join(files) or 'config/config.yaml'}")
    return 0


def _merge(base: dict, update: Mapping[str, Any]) -> None:
    """Snakemake's config update: mappings merge key by key, anything else replaces."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


if __name__ == "__main__":
    raise SystemExit(main())
