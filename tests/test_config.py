"""Config validation: defaults, and one clear message per problem naming the key."""

from __future__ import annotations

import re

import pytest
import yaml

from cortexplorer.config import ConfigError, check_config, load_schema

from .conftest import REPO

BASE = {"dataset": {"name": "demo", "mode": "demo"}, "seed": 1}


def test_defaults_are_filled_at_every_level():
    cfg = check_config(BASE)
    assert cfg["stimuli"]["n_images"] == 600
    assert cfg["simulate"]["localizer"]["n_runs"] == 2
    assert cfg["simulate"]["early_visual"]["shells_mm"] == [14, 22, 30]
    assert cfg["device"] == "auto"


# every file in config/: (dataset.name, dataset.mode) it runs
SHIPPED = {"config.yaml": ("demo", "demo"), "smoke.yaml": ("smoke", "demo"), "nsd.yaml": ("nsd", "nsd"),
           "search_baselines.yaml": ("baselines", "demo")}


def _leaves(node, prefix=()) -> dict[tuple, object]:
    if isinstance(node, dict) and node:
        return {k: v for key, value in node.items() for k, v in _leaves(value, (*prefix, key)).items()}
    return {prefix: node}


def merged_config(*names: str) -> dict:
    """config/config.yaml overlaid with each of ``names`` the way Snakemake does it (``configfile:`` in the
    Snakefile, then every ``--configfile``): a recursive update, nested keys merge."""
    from snakemake.utils import update_config

    config: dict = {}
    for name in ("config.yaml", *names):
        update_config(config, yaml.safe_load((REPO / "config" / name).read_text()) or {})
    return config


def test_shipped_configs_are_valid():
    shipped = sorted(p.name for p in (REPO / "config").glob("*.y*ml"))
    assert shipped == sorted(SHIPPED), f"config/ holds {shipped}: add each to SHIPPED with the dataset it runs"
    base = _leaves(merged_config())
    for name, (dataset, mode) in SHIPPED.items():
        merged = merged_config(name)
        overlay, leaves = _leaves(yaml.safe_load((REPO / "config" / name).read_text())), _leaves(merged)
        assert all(leaves[k] == v for k, v in overlay.items()), name  # the overlay wins ...
        kept = {k: v for k, v in base.items() if not any(k[: len(o)] == o for o in overlay)}
        assert all(leaves[k] == v for k, v in kept.items()), name  # ... and every other key of config.yaml stays
        cfg = check_config(merged, base_dir=REPO)
        assert (cfg["dataset"]["name"], cfg["dataset"]["mode"]) == (dataset, mode), name
        assert cfg["seed"] == merged["seed"] and cfg["report"]["html"] == merged["report"]["html"], name
    smoke = check_config(merged_config("smoke.yaml"), base_dir=REPO)
    # nested keys merge: smoke.yaml sets four stimuli keys, config.yaml's others stay; check_config keeps the values
    assert smoke["stimuli"]["n_images"] == 120 and smoke["stimuli"]["categories"] == base[("stimuli", "categories")]
    assert smoke["stimuli"]["test_fraction"] == base[("stimuli", "test_fraction")]
    assert smoke["triplets"]["odd_one_out"]["n_objects"] == 60 and smoke["braindive"]["regions"] == ["faces", "places", "V1"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"stimuli": {"n_imgs": 5}}, r"Unknown config key 'stimuli\.n_imgs'\. Allowed keys under 'stimuli': .*n_images"),
        ({"colour": 1}, r"Unknown config key 'colour'\. Allowed keys at the top level: .*dataset"),
        ({"stimuli": {"n_images": "many"}}, r"Config key 'stimuli\.n_images' must be of type integer; got 'many'"),
        ({"stimuli": {"n_pool": -5}}, r"Config key 'stimuli\.n_pool' must be >= 12; got -5"),
        ({"dataset": {"name": "demo", "mode": "fmri"}}, r"Config key 'dataset\.mode' must be one of \['demo', 'nsd', 'bids'\]; got 'fmri'"),
        ({"simulate": {"ar1": [0.2]}}, r"Config key 'simulate\.ar1'"),
        ({"device": "gpu"}, r"Config key 'device' must match"),
    ],
)
def test_bad_values_name_the_key(patch, message):
    with pytest.raises(ConfigError, match=message):
        check_config({**BASE, **patch})


def test_missing_required_key():
    with pytest.raises(ConfigError, match=r"Config key 'dataset\.mode' is required but missing"):
        check_config({"dataset": {"name": "x"}, "seed": 1})


def test_missing_data_root_is_reported(tmp_path):
    cfg = {**BASE, "dataset": {"name": "nsd", "mode": "nsd"}, "nsd": {"root": "no/such/folder"}}
    with pytest.raises(ConfigError, match=r"Config key 'nsd\.root': folder 'no/such/folder' does not exist"):
        check_config(cfg, base_dir=tmp_path)


def test_bids_mode_needs_its_folders(tmp_path):
    (tmp_path / "bids").mkdir()
    cfg = {**BASE, "dataset": {"name": "mine", "mode": "bids"}, "bids": {"root": "bids"}}
    with pytest.raises(ConfigError, match=r"Config key 'bids\.stimuli_dir' is empty; set it to the folder holding your stimulus images"):
        check_config(cfg, base_dir=tmp_path)
    (tmp_path / "bids" / "stimuli").mkdir()
    cfg = {**cfg, "bids": {"root": "bids", "stimuli_dir": "bids/stimuli"}}
    with pytest.raises(ConfigError, match=r"Config key 'bids\.root': 'bids' is not a BIDS dataset \(no "
                                          r"dataset_description\.json\)"):
        check_config(cfg, base_dir=tmp_path)
    (tmp_path / "bids" / "dataset_description.json").write_text("{}")
    check_config(cfg, base_dir=tmp_path)


# issue 19: config problems a new user met, now stopped before any job with the key and the fix
def _bids_config(tmp_path, **bids):
    (tmp_path / "bids" / "stimuli").mkdir(parents=True, exist_ok=True)
    (tmp_path / "bids" / "dataset_description.json").write_text("{}")
    return {**BASE, "dataset": {"name": "mine", "mode": "bids"},
            "bids": {"root": "bids", "stimuli_dir": "bids/stimuli", **bids}}


def test_bids_participant_labels_take_the_sub_prefix_or_not(tmp_path):
    cfg = check_config(_bids_config(tmp_path, participant_label=["sub-02", "03"]), base_dir=tmp_path)
    assert cfg["bids"]["participant_label"] == ["sub-02", "03"]
    with pytest.raises(ConfigError, match=r"Config key 'bids\.participant_label\.0' must match .*; got 'sub_02'"):
        check_config(_bids_config(tmp_path, participant_label=["sub_02"]), base_dir=tmp_path)
    # the key this one replaced is named with its successor
    with pytest.raises(ConfigError, match=r"Unknown config key 'bids\.subject'\..*bids\.subject was replaced by "
                                          r"bids\.participant_label, a list"):
        check_config(_bids_config(tmp_path, subject="02"), base_dir=tmp_path)


def test_demo_simulates_two_participants_by_default():
    demo = {"dataset": {"name": "t", "mode": "demo"}, "seed": 1}
    assert check_config(demo)["simulate"]["subjects"] == ["01", "02"]
    with pytest.raises(ConfigError, match=r"Unknown config key 'simulate\.subject'\..*replaced by simulate\.subjects, "
                                          r"a list"):
        check_config({**demo, "simulate": {"subject": "01"}})
    with pytest.raises(ConfigError, match=r"Config key 'simulate\.subjects': \['01', '01'\] has non-unique elements"):
        check_config({**demo, "simulate": {"subjects": ["01", "01"]}})


@pytest.mark.parametrize("categories", [[], ["face"]])
def test_rois_categories_need_two_to_contrast(categories):
    with pytest.raises(ConfigError, match=rf"Config key 'rois\.categories' must list at least 2 item\(s\); got "
                                          rf"{re.escape(repr(categories))}"):
        check_config({**BASE, "rois": {"categories": categories}})
    assert check_config({**BASE, "rois": {"categories": ["face", "place"]}})["rois"]["categories"] == ["face", "place"]


def test_stimuli_dir_naming_a_file_says_it_is_a_file(tmp_path):
    cfg = _bids_config(tmp_path, stimuli_dir="bids/stimuli/img1.png")
    (tmp_path / "bids" / "stimuli" / "img1.png").write_bytes(b"png")
    with pytest.raises(ConfigError, match=r"Config key 'bids\.stimuli_dir': 'bids/stimuli/img1\.png' is a file, not a "
                                          r"folder\. Point bids\.stimuli_dir at the folder"):
        check_config(cfg, base_dir=tmp_path)


def test_config_file_that_does_not_exist_or_is_not_yaml(tmp_path, monkeypatch, capsys):
    from cortexplorer.config import load_config_file, main

    monkeypatch.chdir(REPO)
    with pytest.raises(ConfigError, match=r"Config file '.*nope\.yaml' does not exist\. Pass a YAML file such as "
                                          r"config/config\.yaml"):
        load_config_file(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset:\n  name: mine\n  mode: [bids\nseed: 1\n")
    with pytest.raises(ConfigError, match=r"'.*bad\.yaml' is not valid YAML at line 4, column 5: 'seed: 1' "):
        load_config_file(bad)
    tabs = tmp_path / "tabs.yaml"
    tabs.write_text("dataset:\n\tname: mine\n")
    with pytest.raises(ConfigError, match=r"at line 2, column 1: '\\tname: mine'.*YAML indents with spaces only"):
        load_config_file(tabs)
    listed = tmp_path / "list.yaml"
    listed.write_text("- dataset\n")
    with pytest.raises(ConfigError, match=r"holds a list, not a mapping of config keys"):
        load_config_file(listed)
    # the command-line check: the shipped config with the file over it, as snakemake --configfile merges them
    assert main([str(bad)]) == 1 and "not valid YAML" in capsys.readouterr().err
    good = tmp_path / "good.yaml"
    good.write_text("braindive:\n  n_seeds: 8\n")
    assert main([str(good)]) == 0 and "config OK" in capsys.readouterr().out
    typo = tmp_path / "typo.yaml"
    typo.write_text("braindive:\n  n_seed: 8\n")
    assert main([str(typo)]) == 1 and "Unknown config key 'braindive.n_seed'" in capsys.readouterr().err


def test_schema_describes_every_leaf():
    """Every object in the schema forbids unknown keys (so typos cannot pass silently)."""
    schema = load_schema(REPO / "workflow/schemas/config.schema.yaml")

    def walk(node, path):
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path or 'top level'} allows unknown keys"
            for k, v in node["properties"].items():
                walk(v, f"{path}.{k}" if path else k)
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            walk(node["items"], path + "[]")

    walk(schema, "")


def test_default_backbones_follow_the_mode_and_bad_names_are_refused(tmp_path):
    schema = load_schema()
    demo = check_config({"dataset": {"name": "d", "mode": "demo"}, "seed": 1}, schema)
    assert demo["features"]["backbones"] == {"democlip": {"kind": "demo_clip"}}
    (tmp_path / "bids" / "stim").mkdir(parents=True)
    (tmp_path / "bids" / "dataset_description.json").write_text("{}")
    bids = {"dataset": {"name": "b", "mode": "bids"}, "seed": 1,
            "bids": {"root": str(tmp_path / "bids"), "stimuli_dir": str(tmp_path / "bids" / "stim")}}
    real = check_config(bids, schema)
    assert real["features"]["backbones"]["braindive"] == {"kind": "open_clip", "arch": "ViT-B-16",
                                                         "pretrained": "laion2b_s34b_b88k"}
    assert real["features"]["backbones"]["brainscuba"]["arch"] == "ViT-B-32"
    with pytest.raises(ConfigError, match=r"features.backbones.mine' is the demo's own CLIP"):
        check_config({**bids, "features": {"backbones": {"mine": {"kind": "demo_clip"}}}}, schema)
    with pytest.raises(ConfigError, match=r"'encoder.backbones' names 'other'"):
        check_config({"dataset": {"name": "d", "mode": "demo"}, "seed": 1, "encoder": {"backbones": ["other"]}}, schema)


def test_braindive_defaults_follow_the_mode_and_bad_settings_are_refused(tmp_path):
    schema = load_schema()
    demo = check_config({"dataset": {"name": "d", "mode": "demo"}, "seed": 1}, schema)["braindive"]
    assert demo["diffusion"] == {"kind": "demo_diffusion"} and demo["backbone"] == "democlip"
    assert demo["regions"][:4] == ["faces", "places", "bodies", "words"] and demo["keep_fraction"] == 0.2
    (tmp_path / "bids" / "stim").mkdir(parents=True)
    (tmp_path / "bids" / "dataset_description.json").write_text("{}")
    bids = {"dataset": {"name": "b", "mode": "bids"}, "seed": 1,
            "bids": {"root": str(tmp_path / "bids"), "stimuli_dir": str(tmp_path / "bids" / "stim")}}
    real = check_config(bids, schema)["braindive"]
    assert real["diffusion"]["model_id"] == "stabilityai/stable-diffusion-2-1-base"
    assert (real["steps"], real["guidance_scale"], real["n_seeds"], real["backbone"]) == (50, 130.0, 500, "braindive")
    assert real["classifier"]["arch"] == "ViT-L-14" and demo["classifier"] is None
    with pytest.raises(ConfigError, match=r"braindive\.diffusion' is the demo's own model"):
        check_config({**bids, "braindive": {"diffusion": {"kind": "demo_diffusion"}}}, schema)
    with pytest.raises(ConfigError, match=r"'braindive\.backbone' is 'nope', which has no encoder"):
        check_config({**bids, "braindive": {"backbone": "nope"}}, schema)
    with pytest.raises(ConfigError, match=r"Unknown config key 'braindive\.classifier\.archh'"):
        check_config({**bids, "braindive": {"classifier": {"kind": "open_clip", "arch": "ViT-L-14",
                                                           "pretrained": "openai", "archh": 1}}}, schema)


def test_networks_follow_the_mode_and_behaviour_settings_are_checked(tmp_path):
    schema = load_schema()
    demo = check_config({"dataset": {"name": "d", "mode": "demo"}, "seed": 1}, schema)
    assert demo["networks"] == {"democnn": {"kind": "demo_cnn"}}
    assert demo["visual_search"]["network"] == demo["triplets"]["network"] == "democnn"
    (tmp_path / "bids" / "stim").mkdir(parents=True)
    (tmp_path / "bids" / "dataset_description.json").write_text("{}")
    bids = {"dataset": {"name": "b", "mode": "bids"}, "seed": 1,
            "bids": {"root": str(tmp_path / "bids"), "stimuli_dir": str(tmp_path / "bids" / "stim")}}
    real = check_config(bids, schema)
    assert real["networks"] == {"vgg16": {"kind": "torchvision", "arch": "vgg16", "weights": "IMAGENET1K_V1"}}
    assert real["triplets"]["odd_one_out"]["triplets"] is None and real["visual_search"]["scale"] == 1.0
    with pytest.raises(ConfigError, match=r"networks\.mine' is the demo's own CNN"):
        check_config({**bids, "networks": {"mine": {"kind": "demo_cnn"}}}, schema)
    with pytest.raises(ConfigError, match=r"'triplets\.network' is 'nope', which is not under networks"):
        check_config({**bids, "triplets": {"network": "nope"}}, schema)
    with pytest.raises(ConfigError, match=r"'triplets\.images' is 'pool'.*only exists in demo mode"):
        check_config({**bids, "triplets": {"images": "pool"}}, schema)
    with pytest.raises(ConfigError, match=r"'triplets\.images': folder 'no/such/folder' does not exist"):
        check_config({**bids, "triplets": {"images": "no/such/folder"}}, schema, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"'triplets\.choices': file 'choices\.tsv' does not exist"):
        check_config({**bids, "triplets": {"choices": "choices.tsv"}}, schema, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"visual_search\.experiments.*'search_for_waldo'"):
        check_config({**bids, "visual_search": {"experiments": ["search_for_waldo"]}}, schema)


def test_brainscuba_runs_in_the_demo_and_elsewhere_only_when_configured(tmp_path):
    from cortexplorer.config import brainscuba_enabled

    schema = load_schema()
    demo = check_config({"dataset": {"name": "d", "mode": "demo"}, "seed": 1}, schema)
    bs = demo["brainscuba"]
    assert brainscuba_enabled(demo) and bs["captioner"] == {"kind": "demo_captioner"} and bs["repeats"] == 1
    assert bs["backbone"] == "democlip" and bs["regions"] == demo["braindive"]["regions"]
    assert bs["temperature"] == 150 and bs["beam_size"] == 5 and bs["max_length"] == 67
    (tmp_path / "bids" / "stim").mkdir(parents=True)
    (tmp_path / "bids" / "dataset_description.json").write_text("{}")
    bids = {"dataset": {"name": "b", "mode": "bids"}, "seed": 1,
            "bids": {"root": str(tmp_path / "bids"), "stimuli_dir": str(tmp_path / "bids" / "stim")}}
    real = check_config(bids, schema)
    assert not brainscuba_enabled(real)  # no bank, no CLIPCap weights: skipped
    assert real["brainscuba"]["backbone"] == "brainscuba" and real["brainscuba"]["repeats"] == 5
    assert real["brainscuba"]["captioner"]["prefix_length"] == 10
    (tmp_path / "coco_weights.pt").write_bytes(b"x")
    (tmp_path / "gpt2").mkdir()
    (tmp_path / "bank.txt").write_text("shard.npy\n")
    full = {**bids, "brainscuba": {"bank": "bank.txt", "captioner": {"kind": "clipcap", "weights": "coco_weights.pt",
                                                                      "gpt2": "gpt2"}}}
    assert brainscuba_enabled(check_config(full, schema, base_dir=tmp_path))
    with pytest.raises(ConfigError, match=r"needs both a bank \('brainscuba\.bank'.*'brainscuba\.bank_images'.*\) "
                                          r"and 'brainscuba\.captioner\.weights'"):
        check_config({**bids, "brainscuba": {"bank": "bank.txt"}}, schema, base_dir=tmp_path)
    # a bank built from the lab's own images instead: a folder, never beside a ready bank, never in the demo
    (tmp_path / "photos").mkdir()
    built = check_config({**full, "brainscuba": {**full["brainscuba"], "bank": None, "bank_images": "photos"}}, schema,
                         base_dir=tmp_path)
    assert brainscuba_enabled(built) and built["brainscuba"]["bank_shard_size"] == 10000
    with pytest.raises(ConfigError, match=r"'brainscuba\.bank' \(embeddings already made\) and "
                                          r"'brainscuba\.bank_images' \(images to embed\) both name a bank"):
        check_config({**full, "brainscuba": {**full["brainscuba"], "bank_images": "photos"}}, schema,
                     base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"'brainscuba\.bank_images' names 'nophotos', which is not a folder"):
        check_config({**full, "brainscuba": {**full["brainscuba"], "bank": None, "bank_images": "nophotos"}}, schema,
                     base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"'brainscuba\.bank_images' must be empty in demo mode"):
        check_config({"dataset": {"name": "d", "mode": "demo"}, "seed": 1, "brainscuba": {"bank_images": "photos"}},
                     schema, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"'brainscuba\.captioner\.gpt2' is required"):
        check_config({**bids, "brainscuba": {"bank": "bank.txt", "captioner": {"kind": "clipcap",
                                                                               "weights": "coco_weights.pt"}}},
                     schema, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"'brainscuba\.captioner\.weights' names 'nope\.pt', which does not exist"):
        check_config({**full, "brainscuba": {**full["brainscuba"], "captioner": {
            "kind": "clipcap", "weights": "nope.pt", "gpt2": "gpt2"}}}, schema, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"'brainscuba\.bank' names 'none\.txt', which does not exist"):
        check_config({**full, "brainscuba": {**full["brainscuba"], "bank": "none.txt"}}, schema, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"'brainscuba\.captioner' is the demo's own captioner"):
        check_config({**bids, "brainscuba": {"captioner": {"kind": "demo_captioner"}}}, schema)
    with pytest.raises(ConfigError, match=r"'brainscuba\.backbone' is 'nope', which has no encoder"):
        check_config({"dataset": {"name": "d", "mode": "demo"}, "seed": 1, "brainscuba": {"backbone": "nope"}}, schema)
    with pytest.raises(ConfigError, match=r"'brainscuba\.bank' must be empty in demo mode"):
        check_config({"dataset": {"name": "d", "mode": "demo"}, "seed": 1, "brainscuba": {"bank": ["x.npy"]}}, schema)
