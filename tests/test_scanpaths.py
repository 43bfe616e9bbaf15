"""Stage ``scanpaths`` (issue 22): shelf displays, the planted observer, OAT's metrics and model, on known
answers (hand-worked scanpaths and boxes, brute-force loops, exact enumeration)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from cortexplorer.scanpaths import displays, eyetracking, metrics, oat, observer


# ---------------------------------------------------------------- displays
def test_shelf_boxes_tile_the_display_without_overlap():
    shelf = displays.Shelf(rows=3, cols=9, cell=20, gap=4)
    boxes = shelf.boxes()
    assert shelf.size == (9 * 24 + 4, 3 * 24 + 4)
    assert boxes[0].tolist() == [4, 4, 24, 24] and boxes[10].tolist() == [28, 28, 48, 48]  # row 1, col 1
    displays.check_boxes(boxes, where="shelf")
    with pytest.raises(ValueError, match=r"boxes 0 .* and 1 .* overlap"):
        displays.check_boxes(np.array([[0, 0, 10, 10], [9, 9, 20, 20]]), where="layout L7")
    with pytest.raises(ValueError, match=r"layout L7: box 1 .* is empty"):
        displays.check_boxes(np.array([[0, 0, 10, 10], [12, 0, 12, 5]]), where="layout L7")
    displays.check_boxes(np.array([[0, 0, 10, 10], [10, 0, 20, 10]]), where="touching edges are not an overlap")


def _objects(n=60, categories=("face", "place", "body", "food")):
    return pd.DataFrame({"stim_id": [f"s{i:03d}" for i in range(n)],
                         "category": [categories[i % len(categories)] for i in range(n)]})


def test_splits_hold_out_layouts_and_targets():
    shelf = displays.Shelf(rows=2, cols=5, cell=8, gap=2)
    layouts, trials = displays.make_displays(_objects(), shelf, n_layouts=20, trials_per_layout=6,
                                             heldout_layouts=0.2, heldout_targets=0.2, val_fraction=0.1,
                                             test_fraction=0.1, rng=np.random.default_rng(0))
    assert set(trials["split"]) == set(displays.SPLITS)
    for _layout, slots in layouts.groupby("layout"):
        assert len(slots) == 10 and slots["stim_id"].is_unique  # distinct objects per layout
    by = {s: t for s, t in trials.groupby("split")}
    seen = pd.concat([by["train"], by["val"], by["test"]])
    assert not set(by["unseen_layout"]["layout"]) & set(seen["layout"])
    assert not set(by["unseen_target"]["target_stim_id"]) & set(seen["target_stim_id"])
    assert not set(by["unseen_target"]["layout"]) & set(by["unseen_layout"]["layout"])
    merged = trials.merge(layouts, left_on=["layout", "target_slot"], right_on=["layout", "slot"])
    assert (merged["stim_id"] == merged["target_stim_id"]).all()  # the target is the object in its slot
    with pytest.raises(ValueError, match="needs 10 distinct objects; the image set has 6"):
        displays.make_displays(_objects(6), shelf, n_layouts=4, trials_per_layout=2, heldout_layouts=0.25,
                               heldout_targets=0.0, val_fraction=0.1, test_fraction=0.1,
                               rng=np.random.default_rng(0))


def test_render_places_each_object_in_its_box_and_crops_read_it_back():
    shelf = displays.Shelf(rows=2, cols=3, cell=8, gap=2)
    layouts, _ = displays.make_displays(_objects(12), shelf, n_layouts=1, trials_per_layout=1, heldout_layouts=0.0,
                                        heldout_targets=0.0, val_fraction=0.0, test_fraction=0.0,
                                        rng=np.random.default_rng(1))
    rng = np.random.default_rng(2)
    images = {s: rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for s in _objects(12)["stim_id"]}
    canvas = displays.render(layouts, images, shelf)
    assert canvas.shape == (2 * 10 + 2, 3 * 10 + 2, 3)
    cut = displays.crops(canvas, layouts[["x0", "y0", "x1", "y1"]].to_numpy(), 8)
    for k, sid in enumerate(layouts["stim_id"]):
        np.testing.assert_array_equal(cut[k], images[sid])


# ---------------------------------------------------------------- metrics
def test_fixations_map_to_the_box_that_holds_them_else_the_nearest_centre():
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [0, 20, 10, 30]], float)
    x = [5, 10, 20, 15.1, 14.9, 100, 5, 4]
    y = [5, 10, 0, 5, 5, 100, 17, 14.8]
    # inside; on an edge (inclusive); on the other box's corner; between 0 and 1 (nearer 1's centre, then 0's);
    # far away (nearest centre: box 1's (25, 5) vs box 2's (5, 25): 95.1 vs 95.1 tie -> the first);
    # below box 0, nearer box 2's centre; nearer box 0's centre
    got = metrics.fixations_to_objects(x, y, boxes)
    d1, d2 = np.hypot(100 - 25, 100 - 5), np.hypot(100 - 5, 100 - 25)
    assert d1 == d2
    assert got.tolist() == [0, 0, 1, 1, 0, 1, 2, 0]


def test_behaviour_statistics_on_a_hand_worked_scanpath():
    # runs: 3 3 | 5 | 3 | 7 7 7 | 2 -> first visits 3, 5, 7, 2 (4); revisit of 3 (1); refixations 1 + 2 (3)
    stats = metrics.behaviour([3, 3, 5, 3, 7, 7, 7, 2], target=2)
    assert stats == {"correct": 1.0, "length": 8.0, "search": 0.5, "refixation": 0.375, "revisit": 0.125}
    assert metrics.behaviour([1, 2, 1], target=2)["correct"] == 0.0
    with pytest.raises(ValueError, match="empty scanpath"):
        metrics.behaviour([], target=0)
    # dataset means: per trial over its paths, then over trials
    means = metrics.mean_behaviour([[[0], [0, 0]], [[1, 2]]], targets=[0, 2])
    assert means["length"] == pytest.approx((1.5 + 2) / 2) and means["refixation"] == pytest.approx((0.25 + 0) / 2)
    observed = {"correct": 0.8, "length": 5.0, "search": 0.6, "refixation": 0.2, "revisit": 0.2}
    model = {"correct": 0.4, "length": 6.0, "search": 0.6, "refixation": 0.1, "revisit": 0.3}
    assert metrics.behaviour_delta(model, observed) == pytest.approx((0.5 + 0.2 + 0 + 0.5 + 0.5) / 5)
    assert metrics.behaviour_delta(model | {"revisit": 0.0}, observed | {"revisit": 0.0}) == pytest.approx(1.2 / 5)


def _levenshtein_brute(a, b):
    if not a or not b:
        return len(a) + len(b)
    return min(_levenshtein_brute(a[1:], b) + 1, _levenshtein_brute(a, b[1:]) + 1,
               _levenshtein_brute(a[1:], b[1:]) + (a[0] != b[0]))


def test_edit_distance_equals_the_recursive_definition():
    assert metrics.edit_distance([1, 2, 3, 4], [1, 3, 4, 5]) == 2
    rng = np.random.default_rng(0)
    for _ in range(40):
        a, b = (rng.integers(0, 4, rng.integers(0, 7)).tolist() for _ in range(2))
        assert metrics.edit_distance(a, b) == _levenshtein_brute(a, b)


def test_target_found_curve_and_length_filter():
    curve = metrics.target_found_curve([[4, 2], [1], [0, 0, 3]], targets=[2, 9, 3], max_fixations=4)
    np.testing.assert_allclose(curve, [0, 1 / 3, 2 / 3, 2 / 3])
    lengths = [5] * 30 + [40]  # mean 6.13, SD 6.3: 40 is beyond mean + 3 SD
    keep = metrics.length_filter(lengths)
    assert keep[:30].all() and not keep[30]


# ---------------------------------------------------------------- observer
POLICY = observer.Policy(target=3.0, category=1.0, distance=0.8, inhibition=2.0, refixation=0.15, miss=0.2,
                         max_fixations=6)


def _scene():
    shelf = displays.Shelf(rows=2, cols=3, cell=8, gap=2)
    return observer.Scene(grid=shelf.grid().astype(float), target=4,
                          same_category=np.array([False, True, False, False, True, False]))


def test_every_scanpath_probability_sums_to_one():
    """Exact enumeration with max_fixations 3: the probabilities of all paths (ended or truncated) sum to 1."""
    policy = observer.Policy(**{**POLICY.__dict__, "max_fixations": 3})
    scene = _scene()
    total = 0.0
    for length in range(1, 4):
        for path in itertools.product(range(6), repeat=length):
            total += float(np.exp(observer.log_likelihood(policy, scene, list(path)).sum()))
    assert total == pytest.approx(1.0, abs=1e-12)


def test_samples_follow_the_planted_policy():
    scene, rng = _scene(), np.random.default_rng(0)
    paths = [observer.sample(POLICY, scene, rng) for _ in range(4000)]
    first = np.bincount([p[0] for p in paths], minlength=6) / len(paths)
    move, p_end = observer.step_distribution(POLICY, scene, [])
    assert p_end == 0.0
    np.testing.assert_allclose(first, move, atol=0.03)
    # every ended path ends on the target; a stop on the target happens with probability 1 - miss
    ended = [p for p in paths if len(p) < POLICY.max_fixations]
    assert all(p[-1] == scene.target for p in ended)
    on_target = sum(s == scene.target for p in paths for s in (p if len(p) < 6 else p[:-1]))
    assert len(ended) / on_target == pytest.approx(1 - POLICY.miss, abs=0.03)
    repeats = [p[t] == p[t - 1] for p in paths for t in range(1, len(p)) if p[t - 1] != scene.target]
    assert np.mean(repeats) == pytest.approx(POLICY.refixation, abs=0.02)


# ---------------------------------------------------------------- OAT
def _tiny(pe="distance"):
    cfg = oat.OATConfig(rows=2, cols=3, crop=16, d_cnn=16, d_pe=12, heads=2, encoder_layers=1, decoder_layers=1,
                        feedforward=32, dropout=0.0, ca_heads=2, ca_dk=8, pe=pe, pe_steps=300)
    torch.manual_seed(0)
    return oat.OAT(cfg, seed=0)


def test_object_attention_equals_a_loop_over_objects():
    torch.manual_seed(0)
    att = oat.ObjectAttention(d_model=12, heads=3, dk=5)
    memory, state = torch.randn(2, 7, 12), torch.randn(2, 4, 12)
    with torch.no_grad():
        got = att(memory, state)
    w, b = att.readout.weight[0], att.readout.bias[0]
    for i in range(2):
        for t in range(4):
            for j in range(7):
                with torch.no_grad():
                    ref = b + sum(w[h] * (att.dec[h](state[i, t]) @ att.enc[h](memory[i, j])) / np.sqrt(5)
                                  for h in range(3))
                assert float(got[i, t, j]) == pytest.approx(float(ref), abs=1e-5)


def test_distance_aware_encoding_falls_with_grid_distance():
    table, loss = oat.distance_aware_table(14, 86, sigma=2.0, steps=2000)
    unit = torch.nn.functional.normalize(table, dim=1)
    sim = (unit @ unit.T).numpy()
    i = np.arange(14)
    target = np.exp(-((i[:, None] - i[None, :]) ** 2) / 8.0)
    assert np.abs(sim - target).max() < 0.05 and loss < 1e-3
    # slots of a 6 x 14 shelf: the encoding is [P[row], P[col], P[flag]], so similarity falls with the row
    # distance at every column distance and with the column distance at every row distance
    slot = oat.slot_similarity(table, 6, 14, 256)
    k = np.arange(84)
    d_row, d_col = np.abs(k[:, None] // 14 - k[None, :] // 14), np.abs(k[:, None] % 14 - k[None, :] % 14)
    grid = np.array([[slot[(d_row == r) & (d_col == c)].mean() for c in range(14)] for r in range(6)])
    # (never rising; falling by > 0.01 per cell up to 4 cells = 2 sigma, beyond which the Gaussian target is flat)
    assert (np.diff(grid, axis=0) < 1e-3).all() and (np.diff(grid, axis=1) < 1e-3).all()
    assert (np.diff(grid[:, :5], axis=1) < -0.01).all() and (np.diff(grid[:5], axis=0) < -0.01).all()
    r = np.corrcoef(np.hypot(d_row, d_col).ravel(), slot.ravel())[0, 1]
    print(f"\n  slot PE cosine vs Euclidean grid distance (6 x 14): r = {r:.3f}")
    assert r < -0.7  # measured -0.741: the plateau beyond 2 sigma keeps |r| below 1


def test_oat_is_causal_and_decodes_to_the_end_token():
    model = _tiny()
    model.eval()
    crops, target = torch.rand(3, 6, 3, 16, 16), torch.tensor([4, 0, 2])
    history = torch.tensor([[1, 2, 3], [0, 5, -1], [2, -1, -1]])
    logits = model(crops, target, history)
    assert logits.shape == (3, 4, 7) and torch.isinf(logits[:, 0, 6]).all()  # no end at the first step
    changed = history.clone()
    changed[0, 2] = 5
    np.testing.assert_allclose(model(crops, target, changed)[0, :3].detach(), logits[0, :3].detach(), atol=1e-5)
    paths = oat.decode(model, crops, target, max_len=5)
    assert len(paths) == 3 and all(1 <= len(p) <= 5 and all(0 <= s < 6 for s in p) for p in paths)


def test_labels_end_with_the_end_token_unless_truncated():
    history, labels = oat.step_labels([[1, 2], [3]], ended=[True, False], end=6)
    assert history.tolist() == [[1, 2], [3, -1]]
    assert labels.tolist() == [[1, 2, 6], [3, -100, -100]]


# ---------------------------------------------------------------- real eye-tracking files
def _write_study(tmp_path, fixations, trials=None, layouts=None):
    shelf = displays.Shelf(rows=1, cols=3, cell=10, gap=10)  # boxes x 10-20, 30-40, 50-60; y 10-20
    if layouts is None:
        b = shelf.boxes()
        layouts = pd.DataFrame({"layout": "A", "slot": range(3), "x0": b[:, 0], "y0": b[:, 1], "x1": b[:, 2],
                                "y1": b[:, 3]})
    if trials is None:
        trials = pd.DataFrame({"trial": ["t1", "t2"], "layout": ["A", "A"], "target_slot": [2, 0]})
    paths = {}
    for name, table in (("fixations", fixations), ("trials", trials), ("layouts", layouts)):
        paths[name] = tmp_path / f"{name}.tsv"
        table.to_csv(paths[name], sep="\t", index=False)
    return paths


def _fix(rows):
    return pd.DataFrame(rows, columns=["participant", "trial", "x", "y", "duration"])


def test_fixations_become_object_scanpaths(tmp_path):
    p = _write_study(tmp_path, _fix([("s1", "t1", 15, 15, 0.2), ("s1", "t1", 26, 15, 0.2), ("s1", "t1", 55, 12, 0.3),
                                     ("s2", "t1", 58, 19, 0.2), ("s1", "t2", 41, 40, 0.3), ("s1", "t2", 12, 11, 0.2)]))
    got = eyetracking.read_fixations(p["fixations"], p["trials"], p["layouts"], screen=(80, 40))
    # (26, 15): between boxes 0 and 1, nearer box 1's centre (35, 15); (41, 40): below box 1, nearest centre 1
    assert got.paths == {("s1", "t1"): [0, 1, 2], ("s2", "t1"): [2], ("s1", "t2"): [1, 0]} and got.dropped == []


@pytest.mark.parametrize(("fixations", "trials", "layouts", "message"), [
    (_fix([("s1", "t9", 15, 15, 0.2)]), None, None, r"row 2 names trial 't9', which has no layout"),
    (_fix([("s1", "t1", 15, 15, 0.2)]), pd.DataFrame({"trial": ["t1"], "layout": ["B"], "target_slot": [0]}), None,
     r"trial 't1' names layout 'B', which .* does not have"),
    (_fix([("s1", "t1", 15, 15, 0.2), ("s1", "t1", 95, 15, 0.2)]), None, None,
     r"row 3: fixation \(95.0, 15.0\) lies outside the 80 × 40 px display"),
    (_fix([("s1", "t1", 15, 15, 0.2)]), None, None, r"Trial 't2' .* has an empty scanpath"),
    (_fix([("s1", "t1", 15, 15, 0.2)]), pd.DataFrame({"trial": ["t1"], "layout": ["A"], "target_slot": [0]}),
     pd.DataFrame({"layout": "A", "slot": [0, 1], "x0": [10, 15], "y0": [10, 10], "x1": [20, 25], "y1": [20, 20]}),
     r"layout 'A'.*boxes 0 .* and 1 .* overlap"),
])
def test_bad_eye_tracking_files_name_the_problem(tmp_path, fixations, trials, layouts, message):
    p = _write_study(tmp_path, fixations, trials, layouts)
    with pytest.raises(ValueError, match=message):
        eyetracking.read_fixations(p["fixations"], p["trials"], p["layouts"], screen=(80, 40))


# ---------------------------------------------------------------- pixel-level searchers on shelves
def test_shelves_go_on_a_square_canvas_and_a_target_driven_search_ends_on_the_target():
    from cortexplorer.scanpaths import pixel_models

    shelf = displays.Shelf(rows=2, cols=4, cell=8, gap=2)
    display = np.full((shelf.size[1], shelf.size[0], 3), 200, np.uint8)
    canvas, moved = pixel_models.square_canvas(display, shelf.boxes())
    assert canvas.shape == (42, 42, 3) and (canvas[:10] == pixel_models.BACKGROUND).all()  # (42 - 22) / 2 rows above
    np.testing.assert_array_equal(moved[0], [2, 12, 10, 20])

    class TargetOnly:  # attention only on the target's pixels: the search goes there first and stops
        def target_kernels(self, target):
            return target

        def attention_maps(self, images, fixations, kernels):
            return [np.all(img == k[0, 0], axis=-1).astype(float) for img, k in zip(images, kernels, strict=True)]

    display[:] = 90
    display[12:20, 32:40] = (255, 0, 0)  # slot 7 (row 1, col 3) is red
    paths = pixel_models.object_scanpaths([display], [shelf.boxes()], [7], TargetOnly(), max_fixations=5, seed=0,
                                          keys=["t"], model="test")
    assert paths == [[7]]


def test_learned_encoding_is_trained_and_distance_encoding_is_fixed():
    learned, fixed = _tiny("learned"), _tiny("distance")
    assert isinstance(learned.pe_table, torch.nn.Parameter) and "pe_table" not in dict(fixed.named_parameters())
    crops, target, history = torch.rand(2, 6, 3, 16, 16), torch.tensor([1, 2]), torch.tensor([[0, 1], [3, 2]])
    learned(crops, target, history)[:, 1:].logsumexp(-1).sum().backward()
    assert learned.pe_table.grad is not None and learned.pe_table.grad.abs().sum() > 0
