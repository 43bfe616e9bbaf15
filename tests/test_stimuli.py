"""The procedural world: determinism, balance, captions that name the content, disjoint sets."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from cortexplorer.io.images import ImageSet, read_image_set, write_image_set
from cortexplorer.stimuli import CATEGORIES, caption, generate_image_set, render, sample_scene
from cortexplorer.stimuli.world import COLOURS, KINDS, POSES

CONTENT_WORDS = {"face": "face", "body": "person", "word": "the word"}


def _set(n=60, stream="test", seed=3, size=32, categories=CATEGORIES, **kw):
    return generate_image_set(n, categories=categories, seed=seed, stream=stream, id_prefix=stream[:3], image_size=size,
                              progress=False, **kw)


def test_same_seed_same_images_and_table():
    a, b = _set(), _set()
    assert np.array_equal(a.images, b.images)
    assert a.table.equals(b.table)
    c = _set(seed=4)
    assert not np.array_equal(a.images, c.images)


def test_categories_are_balanced_and_images_well_formed():
    s = _set(n=61)
    counts = s.table["category"].value_counts()
    assert set(counts.index) == set(CATEGORIES)
    assert counts.max() - counts.min() <= 1
    assert s.images.dtype == np.uint8 and s.images.shape == (61, 32, 32, 3)
    # images are not blank: every image has visible structure
    assert (s.images.reshape(61, -1).std(1) > 3).all()


@pytest.mark.parametrize("category", CATEGORIES)
def test_captions_name_category_kind_and_attributes(category):
    rng = np.random.default_rng(0)
    for _ in range(30):
        scene = sample_scene(rng, category)
        text = caption(scene)
        assert scene.colour in text
        assert scene.pose in text
        if category == "place":
            assert scene.kind.rstrip("s") in text or "buildings" in text
        else:
            assert scene.size in text
            assert CONTENT_WORDS.get(category, scene.kind) in text
        if category == "word":
            assert f"'{scene.word}'" in text


def test_attribute_vocabularies_are_consistent():
    for cat in CATEGORIES:
        assert KINDS[cat] and POSES[cat]
    assert "red" in COLOURS


def test_render_reflects_size_attribute():
    """A large object covers more pixels that differ from the background than a small one."""
    rng = np.random.default_rng(1)
    big, small = [], []
    for _ in range(20):
        s = sample_scene(rng, "object")
        for size, out in (("large", big), ("small", small)):
            scene = type(s)(**{**s.as_row(), "size": size, "background_style": "plain", "pose": "upright"})
            img = render(scene, 64).astype(int)
            out.append((np.abs(img - img[0, 0]).sum(-1) > 40).mean())
    assert np.mean(big) > 2 * np.mean(small)


def test_test_split_is_stratified():
    s = _set(n=120, test_fraction=0.25)
    per_cat = s.table[s.table["split"] == "test"]["category"].value_counts()
    assert (per_cat == 5).all() and len(per_cat) == 6


def test_streams_are_disjoint():
    a, b = _set(stream="stimuli"), _set(stream="pool", n=200)
    ha = {hashlib.sha1(x.tobytes()).hexdigest() for x in a.images}
    hb = {hashlib.sha1(x.tobytes()).hexdigest() for x in b.images}
    assert not ha & hb
    assert not set(a.table["stim_id"]) & set(b.table["stim_id"])


def test_image_set_round_trip_and_mismatch(tmp_path):
    s = _set(n=12)
    write_image_set(s, tmp_path / "images.h5", tmp_path / "stimuli.tsv")
    back = read_image_set(tmp_path / "images.h5", tmp_path / "stimuli.tsv")
    assert np.array_equal(back.images, s.images)
    assert list(back.table["stim_id"]) == list(s.table["stim_id"])
    other = _set(n=12, seed=9, stream="other")
    write_image_set(other, tmp_path / "b.h5", tmp_path / "b.tsv")
    with pytest.raises(ValueError, match="list different stimulus ids"):
        read_image_set(tmp_path / "images.h5", tmp_path / "b.tsv")


def test_image_set_rejects_bad_arrays():
    s = _set(n=12)
    with pytest.raises(ValueError, match="Expected uint8 images"):
        ImageSet(s.images.astype(np.float32), s.table)
    with pytest.raises(ValueError, match="12 images but 11 table rows"):
        ImageSet(s.images, s.table.iloc[:11])


def test_unknown_category_is_an_error():
    with pytest.raises(ValueError, match="Unknown category 'car'"):
        sample_scene(np.random.default_rng(0), "car")


def test_demo_image_set_settings_shape_only_their_set():
    from cortexplorer.config import check_config
    from cortexplorer.stimuli.stage import DemoImageSetSettings

    cfg = check_config({"dataset": {"name": "t", "mode": "demo"}, "seed": 4,
                        "stimuli": {"n_images": 30, "n_pool": 50, "n_localizer_per_category": 3}})
    loc = DemoImageSetSettings.from_config(cfg, imageset="localizer")
    assert loc.n == 3 * len(cfg["simulate"]["localizer"]["categories"]) and loc.test_fraction == 0.0
    assert loc.categories == tuple(cfg["simulate"]["localizer"]["categories"]) and loc.seed == 4
    stim = DemoImageSetSettings.from_config(cfg, imageset="stimuli")
    assert (stim.n, stim.test_fraction) == (30, cfg["stimuli"]["test_fraction"])
    assert DemoImageSetSettings.from_config(cfg, imageset="pool").n == 50
