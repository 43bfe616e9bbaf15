"""BrainSCUBA's stage: caption semantics against hand-counted answers, the projection rule's file checks,
typical captions, the category map and Stable Diffusion's text conditioning at tiny size."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.colors import to_rgba

from cortexplorer.brainscuba.bank import bank_paths
from cortexplorer.brainscuba.projection import BRAINSCUBA_TEMPERATURE, dense_projection
from cortexplorer.brainscuba.semantics import (
    annotate,
    caption_category,
    nouns_in,
    read_lexicon,
    region_shares,
    top_nouns,
)
from cortexplorer.brainscuba.settings import ProjectionSettings
from cortexplorer.brainscuba.stage import category_map, run_projection, typical_captions
from cortexplorer.encoder.model import VoxelEncoder
from cortexplorer.io.hdf5 import write_h5
from cortexplorer.io.tables import write_tsv
from tests.tiny_models import random_encoder, tiny_stable_diffusion

torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------- lexicon and nouns


def test_shipped_lexicon_reads_demo_and_coco_captions():
    lex = read_lexicon()
    assert {"face", "place", "body", "food", "word", "object"} <= set(lex.categories)
    demo = {
        "a large face with brown hair, facing right, in the centre, on a speckled blue background": "face",
        "a large person in a red shirt, with arms outstretched, on the left, on a dark background": "body",
        "a small yellow donut on a plate, on the left, on a grey background": "food",
        "the word 'kalo' in small red letters, upright, on the right, on a grey background": "word",
        "a street of red buildings under a blue sky, seen from afar, in the centre": "place",
        "a large orange chair, tilted, in the centre, on a speckled dark background": "object",
    }
    for caption, category in demo.items():
        assert caption_category(caption, lex) == category, caption
    # plural forms map to their lemma, in caption order; the colour "orange" is not food
    assert nouns_in("Two men and a woman eating pizzas.", lex) == [("man", "body"), ("woman", "body"),
                                                                   ("pizza", "food")]
    assert nouns_in("an orange chair", lex) == [("chair", "object")]
    assert caption_category("a blurry picture.", lex) == "none"


def test_multiword_nouns_win_over_their_parts(tmp_path):
    path = tmp_path / "lex.tsv"
    path.write_text("# comment\nword\tnoun\tcategory\nhot dog\thot dog\tfood\ndog\tdog\tanimal\n")
    lex = read_lexicon(path)
    assert nouns_in("a hot dog next to a dog", lex) == [("hot dog", "food"), ("dog", "animal")]


@pytest.mark.parametrize(("text", "match"), [
    ("word\tcategory\nface\tface\n", "lacks the column"),
    ("word\tnoun\tcategory\nface\tface\tface\nface\tface\tbody\n", "twice"),
    ("word\tnoun\tcategory\n", "no rows"),
    ("word\tnoun\tcategory\nface\tface\t\n", "empty word or category"),
])
def test_malformed_lexicon_is_refused(tmp_path, text, match):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        read_lexicon(path)
    assert str(path) in str(err.value)
    with pytest.raises(FileNotFoundError, match=r"brainscuba\.lexicon"):
        read_lexicon(tmp_path / "missing.tsv")


def test_region_shares_and_top_nouns_match_hand_counts():
    lex = read_lexicon()
    captions = pd.DataFrame({"voxel": range(8), "repeat": 0, "caption": [
        "a face.", "a face and a man.", "a house.", "a man.",     # region A: voxels 0-3
        "a face.", "a pizza.", "a street with a man.", "nothing here.",  # elsewhere: 4-7
    ]})
    ann = annotate(captions, lex)
    shares = region_shares(ann, {"A": np.array([0, 1, 2, 3])}, {"A": "face"}, lex.categories).iloc[0]
    assert shares["n_voxels"] == 4
    assert shares["share_named"] == pytest.approx(2 / 4)           # voxels 0 and 1 name a face
    assert shares["share_named_other_voxels"] == pytest.approx(1 / 4)  # voxel 4
    assert shares["ratio"] == pytest.approx(2.0)
    assert shares["first_face"] == pytest.approx(2 / 4)            # first nouns: face, face, house, man
    assert shares["first_place"] == pytest.approx(1 / 4) and shares["first_body"] == pytest.approx(1 / 4)
    nouns = top_nouns(ann, {"A": np.array([0, 1, 2, 3])}, 20)
    assert nouns.set_index("noun")["count"].to_dict() == {"face": 2, "man": 2, "house": 1}
    # with two repeats a voxel's share is the mean over its repeats
    second = captions.assign(repeat=1, caption=["a pizza."] * 8)
    shares2 = region_shares(annotate(pd.concat([captions, second]), lex), {"A": np.arange(4)}, {"A": "face"},
                            lex.categories).iloc[0]
    assert shares2["share_named"] == pytest.approx(1 / 4)


def test_typical_captions_are_nearest_the_region_centre():
    # unit vectors at 0°, 36.9°, 53.1°, 36.9°: the mean points at 32°, so y (4.9° away) then z (21°), x (32°) last
    emb = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.8, 0.6]])
    texts = ["x", "y", "z", "y"]
    assert typical_captions(texts, emb, 2) == ["y", "z"]  # distinct captions, by cosine to the mean direction
    assert typical_captions(texts, emb, 5) == ["y", "z", "x"]


# ------------------------------------------------------------------------------------------- projection rule


@pytest.fixture()
def encoder_file(tmp_path):
    enc = random_encoder(16, 12, seed=3, identity={"kind": "demo_clip", "arch": "x", "weights_sha256": "abc"})
    enc.weight[:, 5] = 0  # a voxel with an all-zero weight vector
    path = tmp_path / "encoder.pt"
    enc.save(path)
    return path, enc


def _projection_settings(**changes) -> ProjectionSettings:
    settings = dict(temperature=BRAINSCUBA_TEMPERATURE, repeats=1, sample_size=None, chunk_rows=32768,
                    bank_dataset="features", score_metric="r2_noise_normalised", min_score=None, device="cpu", seed=0)
    return ProjectionSettings(**{**settings, **changes})


def _metrics(encoder, path, **scores) -> str:
    """The encoder's metrics.tsv (voxel, i, j, k and the given score columns)."""
    ijk = encoder.voxel_ijk.numpy()
    table = pd.DataFrame({"voxel": np.arange(len(ijk)), "i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2], **scores})
    write_tsv(table, path)
    return str(path)


def _project(encoder, bank, out, metrics=None, **changes) -> None:
    if metrics is None:
        metrics = _metrics(VoxelEncoder.load(encoder), Path(out).with_suffix(".metrics.tsv"),
                           r=np.linspace(0, 1, VoxelEncoder.load(encoder).weight.shape[1]))
    run_projection(inputs={"encoder": str(encoder), "metrics": str(metrics), "bank": [str(b) for b in bank]},
                   outputs={"projection": str(out), "provenance": str(out) + ".provenance.json"},
                   settings=_projection_settings(**changes))


def test_projection_rule_matches_dense_and_skips_zero_voxels(tmp_path, encoder_file, caplog):
    path, enc = encoder_file
    rng = np.random.default_rng(0)
    bank = (rng.standard_normal((400, 16)) * rng.uniform(2, 9, (400, 1))).astype(np.float32)
    np.save(tmp_path / "a.npy", bank[:150])
    write_h5(tmp_path / "b.h5", {"features": bank[150:]})
    out = tmp_path / "projection.h5"
    shards = [tmp_path / "a.npy", tmp_path / "b.h5"]
    with caplog.at_level(logging.WARNING):
        _project(path, shards, out, chunk_rows=64)
    assert "all-zero" in caplog.text
    with h5py.File(out) as f:
        projected = f["projected"][()]
    with np.errstate(invalid="ignore"):  # the zero voxel divides by zero in the dense reference
        dense = dense_projection(enc.weight.T.numpy(), bank, temperature=BRAINSCUBA_TEMPERATURE)
    ok = np.arange(12) != 5
    assert projected.shape == (1, 12, 16)
    assert np.isnan(projected[0, 5]).all()
    np.testing.assert_allclose(projected[0, ok], dense.projected[ok], atol=1e-5)
    # two repeats use disjoint halves of the bank
    _project(path, shards, out, repeats=2, seed=1)
    with h5py.File(out) as f:
        assert f["projected"].shape == (2, 12, 16)
        assert f.attrs["bank_rows_per_repeat"] == "[200, 200]"


def test_projection_keeps_exactly_the_voxels_at_or_above_min_score(tmp_path, encoder_file, caplog):
    """brainscuba.min_score: the kept voxels are those scoring >= the threshold (the boundary included, no score
    dropped), each projected as it would be alone; bad metrics tables are refused by name."""
    path, enc = encoder_file
    bank = np.random.default_rng(1).standard_normal((300, 16)).astype(np.float32)
    np.save(tmp_path / "bank.npy", bank)
    score = np.array([0.3, -0.1, 0.2, np.nan, 0.05, 0.9, 0.2, 0.19999, 0.0, 0.5, np.nan, 0.21])
    metrics = _metrics(enc, tmp_path / "metrics.tsv", r2_noise_normalised=score, r=score / 2)
    out = tmp_path / "projection.h5"
    with caplog.at_level(logging.INFO, logger="cortexplorer.brainscuba.stage"):
        _project(path, [tmp_path / "bank.npy"], out, metrics=metrics, min_score=0.2)
    expected = [0, 2, 5, 6, 9, 11]  # 0.2 kept, 0.19999 and both NaN dropped
    assert "6 of 12 voxels have r2_noise_normalised >= 0.2 (2 without a score)" in caplog.text
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["voxel"][()], expected)
        np.testing.assert_array_equal(f["voxel_ijk"][()], enc.voxel_ijk.numpy()[expected])
        projected = f["projected"][()]
    with np.errstate(invalid="ignore"):  # voxel 5 has all-zero weights: NaN in both
        dense = dense_projection(enc.weight.T.numpy()[expected], bank, temperature=BRAINSCUBA_TEMPERATURE)
    assert projected.shape == (1, 6, 16)
    np.testing.assert_allclose(projected[0], dense.projected, atol=1e-5)
    assert json.loads((tmp_path / "projection.h5.provenance.json").read_text())["n_voxels_projected"] == 6
    _project(path, [tmp_path / "bank.npy"], out, metrics=metrics, score_metric="r", min_score=0.2)
    with h5py.File(out) as f:  # r = score / 2: only 0.9 and 0.5 reach 0.2
        np.testing.assert_array_equal(f["voxel"][()], [5, 9])
    _project(path, [tmp_path / "bank.npy"], out, metrics=metrics, min_score=None)
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["voxel"][()], np.arange(12))

    out.unlink()
    only_r = _metrics(enc, tmp_path / "only_r.tsv", r=score, r2=score)
    with pytest.raises(ValueError, match=r"only_r\.tsv.*no 'r2_noise_normalised'.*noise ceiling.*\['r2', 'r'\]"):
        _project(path, [tmp_path / "bank.npy"], out, metrics=only_r, min_score=0.1)
    with pytest.raises(ValueError, match=r"No voxel.*>= 0\.95; the best is 0\.9"):
        _project(path, [tmp_path / "bank.npy"], out, metrics=metrics, min_score=0.95)
    other = random_encoder(16, 12, seed=9)
    other.voxel_ijk[0] += 1
    stale = _metrics(other, tmp_path / "stale.tsv", r2_noise_normalised=score)
    with pytest.raises(ValueError, match=r"stale\.tsv.*other voxels.*rerun the encoder"):
        _project(path, [tmp_path / "bank.npy"], out, metrics=stale, min_score=0.1)
    assert not out.exists()


def test_projection_rule_refuses_bad_banks(tmp_path, encoder_file):
    path, _ = encoder_file
    out = tmp_path / "o.h5"
    np.save(tmp_path / "wrong.npy", np.ones((10, 8), np.float32))
    with pytest.raises(ValueError, match=r"wrong\.npy.*\(10, 8\).*16-dimensional"):
        _project(path, [tmp_path / "wrong.npy"], out)
    np.save(tmp_path / "empty.npy", np.zeros((0, 16), np.float32))
    with pytest.raises(ValueError, match="is empty"):
        _project(path, [tmp_path / "empty.npy"], out)
    with pytest.raises(ValueError, match="lists no shards"):
        _project(path, [], out)
    write_h5(tmp_path / "other.h5", {"features": np.ones((10, 16), np.float32)},
             attrs={"identity": '{"kind": "demo_clip", "arch": "x", "weights_sha256": "zzz"}'})
    with pytest.raises(ValueError, match="another model"):
        _project(path, [tmp_path / "other.h5"], out)
    assert not out.exists()  # nothing half-written


def test_bank_manifest_paths(tmp_path):
    (tmp_path / "shards").mkdir()
    manifest = tmp_path / "shards" / "bank.txt"
    manifest.write_text("# LAION subset\npart-0.npy\n\n/abs/part-1.h5\n")
    assert bank_paths(str(manifest)) == [str(tmp_path / "shards" / "part-0.npy"), "/abs/part-1.h5"]
    assert bank_paths(["x.npy"]) == ["x.npy"]
    with pytest.raises(FileNotFoundError, match=r"brainscuba\.bank"):
        bank_paths(str(tmp_path / "none.txt"))
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="lists no shards"):
        bank_paths(str(tmp_path / "empty.txt"))


# ------------------------------------------------------------------------------------------- figures, text-to-image


def test_category_map_draws_on_fsaverage5():
    from cortexplorer.brainscuba.stage import CATEGORY_COLOURS
    from cortexplorer.encoder.model import VoxelEncoder

    # a coarse MNI grid (4 mm) with voxels where the cortex is, labelled by quadrant
    rng = np.random.default_rng(0)
    ijk = np.unique(rng.integers((5, 5, 5), (40, 48, 38), size=(3000, 3)), axis=0)
    n = len(ijk)
    enc = VoxelEncoder(torch.zeros(4, n), torch.zeros(n), torch.as_tensor(ijk), torch.ones(n), {},
                       torch.tensor([[4.0, 0, 0, -80], [0, 4, 0, -112], [0, 0, 4, -70], [0, 0, 0, 1]],
                                    dtype=torch.float64), torch.tensor([45, 54, 45]))
    cats = np.array(["face", "place", "none", "food"])[(ijk[:, 0] > 22).astype(int) * 2 + (ijk[:, 1] > 26)]
    ann = pd.DataFrame({"voxel": range(n), "category": cats})
    order = ["face", "place", "food", "none"]
    legend = [f"{c} ({int((cats == c).sum())})" for c in order]  # every category with its number of voxels
    colours = [to_rgba(CATEGORY_COLOURS.get(c, "#ff00ff")) for c in order]

    def legend_of(fig):
        (box,) = fig.legends
        return [t.get_text() for t in box.get_texts()], [tuple(h.get_facecolor()) for h in box.legend_handles]

    fig = category_map(ann, enc, order, on_template=True)
    assert [ax.get_title() for ax in fig.axes] == ["left lateral", "left ventral", "right ventral", "right lateral"]
    assert legend_of(fig) == (legend, colours)
    fig = category_map(ann, enc, order, on_template=False)
    assert legend_of(fig) == (legend, colours)
    # the slices shown are slices of the label volume: 1..4 in the order of `order` where a voxel is, else 0
    volume = np.zeros((45, 54, 45), int)
    volume[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = [order.index(c) + 1 for c in cats]
    shown = [np.asarray(im.get_array().filled(0)) for ax in fig.axes for im in ax.get_images()]
    assert len(shown) == 6
    matches = [[z for z in range(45) if np.array_equal(img, volume[:, :, z].T[::-1])
                or np.array_equal(img, volume[:, :, z].T)] for img in shown]
    assert all(len(m) >= 1 for m in matches), matches
    assert len({m[0] for m in matches}) == 6  # six different slices


def test_text_to_image_is_seeded_and_uses_the_prompt(tmp_path):
    from cortexplorer.models.diffusion import text_to_image

    pipe = tiny_stable_diffusion(tmp_path)
    a = text_to_image(pipe, "a face", [1, 2], steps=3, guidance_scale=7.5)
    assert a.shape == (2, 16, 16, 3) and a.dtype == np.uint8
    again = text_to_image(pipe, "a face", [2], steps=3, guidance_scale=7.5)
    np.testing.assert_array_equal(a[1], again[0])  # an image depends only on its seed
    other = text_to_image(pipe, "zzz qqq", [1], steps=3, guidance_scale=7.5)
    assert np.abs(other[0].astype(int) - a[0].astype(int)).max() > 0  # the text conditions the image


def test_settings_come_from_the_config_and_its_mode_defaults():
    from cortexplorer.brainscuba.settings import (
        BankSettings,
        CaptionImageSettings,
        CaptionSettings,
        ProjectionSettings,
        SemanticsSettings,
    )
    from cortexplorer.config import check_config, mode_default

    cfg = check_config({"dataset": {"name": "demo", "mode": "demo"}, "seed": 4,
                        "brainscuba": {"temperature": 90.0, "images": {"steps": 3}}})
    def demo(key):
        return mode_default("demo", f"brainscuba.{key}")

    p = ProjectionSettings.from_config(cfg)
    assert (p.temperature, p.repeats, p.sample_size, p.seed) == (90.0, demo("repeats"), None, 4)
    c = CaptionSettings.from_config(cfg)
    assert c.captioner == demo("captioner") and c.regions == tuple(cfg["braindive"]["regions"])
    sem = SemanticsSettings.from_config(cfg)
    assert sem.on_template and sem.top_k == cfg["brainscuba"]["top_nouns"]
    im = CaptionImageSettings.from_config(cfg)
    assert im.steps == 3 and im.guidance_scale == demo("images.guidance_scale")
    assert im.seeds == list(range(cfg["braindive"]["first_seed"],
                                  cfg["braindive"]["first_seed"] + demo("images.seeds_per_caption")))
    assert im.diffusion == cfg["braindive"]["diffusion"] and im.classifier is None
    bank = BankSettings.from_config(cfg)
    assert bank.backbone == cfg["brainscuba"]["backbone"] and bank.batch_size == cfg["features"]["batch_size"]
