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


# A stimulus folder (BIDS ``stimuli/``) as people hand it over: broken files, macOS litter, odd formats.

def _import(folder, out, **kw):
    from cortexplorer.stimuli.folder import import_image_folder

    kw.setdefault("image_size", 4)
    import_image_folder(folder=folder, out_h5=out / "images.h5", out_tsv=out / "stimuli.tsv",
                        out_provenance=out / "provenance.json", **kw)
    return read_image_set(out / "images.h5", out / "stimuli.tsv")


def _png(path, size=(4, 4), colour=(10, 200, 30)):
    from PIL import Image

    Image.new("RGB", size, colour).save(path)


def _halves(path):
    """A 8 wide × 4 high image: red left half, blue right half."""
    from PIL import Image

    px = np.zeros((4, 8, 3), np.uint8)
    px[:, :4] = (255, 0, 0)
    px[:, 4:] = (0, 0, 255)
    Image.fromarray(px).save(path)


RED, BLUE = (255, 0, 0), (0, 0, 255)


def test_folder_truncated_image_is_an_error_naming_it(tmp_path):
    from PIL import Image

    folder = tmp_path / "stim"
    folder.mkdir()
    _png(folder / "ok.png")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "cut.png")
    data = (folder / "cut.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])  # the header survives: only a full decode notices
    with pytest.raises(ValueError, match=r"cannot be decoded, truncated or corrupt: '.*cut\.png' \(.*\)\. "
                                         r"Re-export each from its source, or replace it"):
        _import(folder, tmp_path / "out")
    assert not (tmp_path / "out" / "images.h5").exists()


def test_folder_unidentifiable_image_is_an_error_naming_it(tmp_path):
    folder = tmp_path / "stim"
    folder.mkdir()
    _png(folder / "ok.png")
    (folder / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match=r"'.*junk\.jpg' \(cannot identify image file.*Re-export"):
        _import(folder, tmp_path / "out")


def test_folder_skips_hidden_and_appledouble_files_with_one_info_line(tmp_path, caplog):
    folder = tmp_path / "stim"
    folder.mkdir()
    _png(folder / "img0001.png")
    (folder / "._img0001.png").write_bytes(b"\x00\x05\x16\x07AppleDouble resource fork")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    with caplog.at_level("INFO", logger="cortexplorer.stimuli.folder"):
        s = _import(folder, tmp_path / "out")
    assert list(s.table["stim_id"]) == ["img0001"]
    hidden = [r for r in caplog.records if "hidden file(s)" in r.getMessage()]
    assert len(hidden) == 1 and hidden[0].levelname == "INFO"
    assert "skipped 2 hidden file(s)" in hidden[0].getMessage()
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.skipif(not __import__("PIL.features").features.check("webp"), reason="Pillow built without WebP")
def test_folder_accepts_webp_and_gif_first_frame(tmp_path, caplog):
    from PIL import Image

    folder = tmp_path / "stim"
    folder.mkdir()
    Image.new("RGB", (4, 4), RED).save(folder / "a.webp", lossless=True)
    frames = [Image.new("RGB", (4, 4), c) for c in (BLUE, RED)]
    frames[0].save(folder / "b.gif", save_all=True, append_images=frames[1:])
    with caplog.at_level("INFO", logger="cortexplorer.stimuli.folder"):
        s = _import(folder, tmp_path / "out")
    assert list(s.table["stim_id"]) == ["a", "b"]
    assert tuple(s.images[0, 2, 2]) == RED and tuple(s.images[1, 2, 2]) == BLUE
    animated = [r for r in caplog.records if "animated" in r.getMessage()]
    assert len(animated) == 1 and animated[0].levelname == "WARNING" and "b.gif" in animated[0].getMessage()


def test_folder_names_files_it_does_not_import_in_one_warning(tmp_path, caplog):
    folder = tmp_path / "stim"
    folder.mkdir()
    _png(folder / "img1.png")
    (folder / "stimuli.tsv").write_text("stim_id\tcategory\nimg1\tface\n")
    (folder / "README.md").write_text("notes\n")
    (folder / "stimuli.json").write_text("{}\n")
    (folder / "clip.mp4").write_bytes(b"\x00")
    (folder / "img2.svg").write_text("<svg/>")
    (folder / "extra").mkdir()
    (folder / "extra" / "movie.avi").write_bytes(b"\x00")
    with caplog.at_level("INFO", logger="cortexplorer.stimuli.folder"):
        s = _import(folder, tmp_path / "out")
    assert list(s.table["stim_id"]) == ["img1"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "3 entries not imported" in warnings[0] and "clip.mp4, extra/movie.avi, img2.svg" in warnings[0]
    assert "README" not in warnings[0] and "stimuli" not in warnings[0].split(":")[-1]


def test_folder_fit_crop_keeps_the_centre(tmp_path, caplog):
    folder = tmp_path / "stim"
    folder.mkdir()
    _halves(folder / "wide.png")
    with caplog.at_level("INFO", logger="cortexplorer.stimuli.folder"):
        s = _import(folder, tmp_path / "out", image_size=4, fit="crop")
    # centre 4×4 of the 8×4 image: columns 2-5, two red then two blue; no resize at size 4
    assert (s.images[0, :, :2] == RED).all() and (s.images[0, :, 2:] == BLUE).all()
    line = [r for r in caplog.records if "non-square" in r.getMessage()]
    assert len(line) == 1 and line[0].levelname == "INFO"
    assert "1 non-square image(s) centre-cropped" in line[0].getMessage() and "wide.png (8×4)" in line[0].getMessage()
    import json

    assert json.loads((tmp_path / "out" / "provenance.json").read_text())["settings"]["fit"] == "crop"


def test_folder_fit_pad_adds_mean_colour_borders(tmp_path):
    folder = tmp_path / "stim"
    folder.mkdir()
    _halves(folder / "wide.png")
    s = _import(folder, tmp_path / "out", image_size=8, fit="pad")
    img = s.images[0]
    mean = (128, 0, 128)  # (255·4 + 0·4)/8 = 127.5, rounded half to even
    assert (img[:2] == mean).all() and (img[6:] == mean).all()
    assert (img[2:6, :4] == RED).all() and (img[2:6, 4:] == BLUE).all()


def test_folder_fit_stretch_squeezes_and_warns(tmp_path, caplog):
    folder = tmp_path / "stim"
    folder.mkdir()
    _halves(folder / "wide.png")
    with caplog.at_level("INFO", logger="cortexplorer.stimuli.folder"):
        s = _import(folder, tmp_path / "out", image_size=4, fit="stretch")
    img = s.images[0].astype(int)
    # the 8 columns squeezed into 4: outer columns pure, the two middle ones mix red and blue
    assert (img[:, 0] == RED).all() and (img[:, 3] == BLUE).all()
    assert (img[:, 1, 0] > img[:, 1, 2]).all() and (img[:, 2, 2] > img[:, 2, 0]).all()
    assert (img[:, 1:3, 0] < 255).all() and (img[:, 1:3, 2] > 0).all()
    line = [r for r in caplog.records if "non-square" in r.getMessage()]
    assert len(line) == 1 and line[0].levelname == "WARNING" and "stretched" in line[0].getMessage()


def test_folder_rejects_unknown_fit(tmp_path):
    folder = tmp_path / "stim"
    folder.mkdir()
    _png(folder / "a.png")
    with pytest.raises(ValueError, match=r"fit must be one of \['crop', 'pad', 'stretch'\], not 'zoom'"):
        _import(folder, tmp_path / "out", fit="zoom")


def test_folder_settings_take_fit_from_config():
    from cortexplorer.config import check_config
    from cortexplorer.stimuli.stage import FolderStimuliSettings

    base = {"dataset": {"name": "t", "mode": "demo"}, "seed": 1}
    assert FolderStimuliSettings.from_config(check_config(base)).fit == "crop"
    cfg = check_config({**base, "stimuli": {"fit": "pad", "image_size": 32}})
    assert FolderStimuliSettings.from_config(cfg) == FolderStimuliSettings(image_size=32, fit="pad")


def test_folder_with_sub_folders_names_images_by_their_relative_path(tmp_path):
    """BIDS stimulus folders may have sub-folders: an image there is stim_id 'faces/a' (its path without the
    suffix) and stim_file 'faces/a.png' (what events' stim_file names); equal stems in different sub-folders are
    different images; hidden sub-folders are skipped; stimuli.tsv annotates by stim_id."""
    folder = tmp_path / "stim"
    for rel, colour in (("faces/a.png", RED), ("places/a.bmp", BLUE), ("c.png", RED), ("places/in/d.png", BLUE),
                        (".thumbs/a.png", RED)):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        _png(folder / rel, colour=colour)
    (folder / "stimuli.tsv").write_text("stim_id\tcategory\nfaces/a\tface\nplaces/in/d\tplace\n")
    s = _import(folder, tmp_path / "out")
    assert list(s.table["stim_id"]) == ["c", "faces/a", "places/a", "places/in/d"]
    assert list(s.table["stim_file"]) == ["c.png", "faces/a.png", "places/a.bmp", "places/in/d.png"]
    assert list(s.table["category"].fillna("n/a")) == ["n/a", "face", "n/a", "place"]
    assert [tuple(im[0, 0]) for im in s.images] == [RED, RED, BLUE, BLUE]
    from cortexplorer.stimuli.folder import stim_id_of_file

    assert [stim_id_of_file(f) for f in s.table["stim_file"]] == list(s.table["stim_id"])


def test_folder_duplicate_stems_are_an_error_naming_both(tmp_path):
    folder = tmp_path / "stim"
    folder.mkdir()
    _png(folder / "img0001.png")
    _png(folder / "img0001.jpg")
    _png(folder / "img0002.png")
    with pytest.raises(ValueError, match=r"same name stem: 'img0001' \(img0001\.jpg, img0001\.png\)\. The stem is "
                                         r"the stim_id and must be unique: remove or rename"):
        _import(folder, tmp_path / "out")


def test_folder_non_ascii_names_round_trip(tmp_path):
    import unicodedata

    folder = tmp_path / "stim"
    folder.mkdir()
    _png(folder / "café ü 42.png", colour=RED)
    _png(folder / unicodedata.normalize("NFD", "crème.png"), colour=BLUE)  # as macOS spells file names
    (folder / "stimuli.tsv").write_text("stim_id\tcaption\ncafé ü 42\ta café in Zürich — ☕\ncrème\tn/a\n",
                                        encoding="utf-8")
    s = _import(folder, tmp_path / "out")
    assert list(s.table["stim_id"]) == ["café ü 42", "crème"]
    assert s.table["caption"].iloc[0] == "a café in Zürich — ☕"
    assert tuple(s.images[0, 0, 0]) == RED and tuple(s.images[1, 0, 0]) == BLUE
