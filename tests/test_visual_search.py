"""visual_search: stimuli, eccentric pooling, the search loop, metrics and the stage's checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from cortexplorer.models.cnn import IMAGENET_MEAN, IMAGENET_STD, Cnn, DemoVGG
from cortexplorer.visual_search import metrics, stage
from cortexplorer.visual_search.eccnet import CentreDependentPooling, eccnet, ivsn, ring_table, tf_same_pool
from cortexplorer.visual_search.search import gaussian_kernel, search, search_many, search_steps
from cortexplorer.visual_search.settings import SearchSettings, SummarySettings
from cortexplorer.visual_search.stimuli import EXPERIMENTS, generate_experiment, read_stimulus_set

INF = float("inf")


@pytest.fixture(scope="module")
def tiny_cnn() -> Cnn:
    torch.manual_seed(0)
    return Cnn(DemoVGG(8, 6), None, IMAGENET_MEAN, IMAGENET_STD, {"name": "t", "arch": "demo_vgg16"}).eval()


@pytest.fixture(scope="module")
def stim_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vs") / "lighting"
    generate_experiment("lighting", folder, scale=0.5, trials_per_set_size=1, seed=3)
    return folder


# ---------------------------------------------------------------- stimuli

@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_every_experiment_draws_its_items(tmp_path, experiment):
    table = generate_experiment(experiment, tmp_path / experiment, scale=0.25, trials_per_set_size=2, seed=0)
    spec = EXPERIMENTS[experiment]
    assert len(table) == 2 * len(spec.set_sizes) * 2
    stim = read_stimulus_set(tmp_path / experiment)
    assert len(stim.cells) == spec.grid ** 2
    for _, row in stim.trials.iterrows():
        display, _target = stim.load(row)  # checks the target is in its cell
        items = [int(c) for c in row["item_cells"].split()]
        assert len(items) == row["set_size"] and row["target_cell"] in items
        drawn = [c for c in range(len(stim.cells)) if np.any(display[stim.cells[c]] != spec.background)]
        assert drawn == items


def test_same_seed_same_displays_and_unknown_experiment(tmp_path):
    generate_experiment("orientation_hetero", tmp_path / "a", scale=0.25, trials_per_set_size=1, seed=5)
    generate_experiment("orientation_hetero", tmp_path / "b", scale=0.25, trials_per_set_size=1, seed=5)
    for f in sorted((tmp_path / "a" / "displays").iterdir()):
        assert np.array_equal(np.asarray(Image.open(f)), np.asarray(Image.open(tmp_path / "b" / "displays" / f.name)))
    with pytest.raises(ValueError, match=r"Unknown visual-search experiment 'colour'.*curvature"):
        generate_experiment("colour", tmp_path / "c", scale=0.25, trials_per_set_size=1, seed=5)


# ---------------------------------------------------------------- pooling

# §2.3 of the reference: (outer radius on the output grid, pool size); inf = beyond the last ring
RINGS_806 = {3: [(16, 2), (20, 3), (24, 3), (28, 4), (32, 4), (36, 5), (40, 5), (44, 6), (48, 6), (INF, 7)],
             4: [(8, 2), (10, 3), (12, 3), (14, 4), (16, 5), (18, 5), (20, 6), (22, 6), (24, 7), (INF, 8)],
             5: [(4, 2), (5, 3), (6, 3), (7, 4), (8, 5), (9, 5), (10, 6), (11, 6), (12, 7), (INF, 8)]}
RINGS_524 = {3: [(16, 2), (20, 3), (24, 3), (28, 4), (32, 4), (INF, 5)],
             4: [(8, 2), (10, 3), (12, 3), (14, 4), (16, 5), (INF, 5)],
             5: [(4, 2), (5, 3), (6, 3), (7, 4), (8, 5), (INF, 5)]}


def _continue(rows, last_radius, step, slope, d2p):
    rows = rows[:-1]
    r = rows[-1][0] + step
    while r <= last_radius:
        rows.append((r, 2 + round(slope * (2 * r - 4 * d2p))))
        r += step
    return rows


def test_ring_tables_match_reference():
    for layer in (3, 4, 5):
        assert ring_table(806, layer) == RINGS_806[layer]
        assert ring_table(524, layer) == RINGS_524[layer]
    # 1358: "as above, continuing to 84→12, >84→12 | …to 42→13, >42→14 | …to 21→13, >21→14"
    for layer, last, step, slope, d2p, outer in ((3, 84, 4, 0.07, 8, 12), (4, 42, 2, 0.16, 4, 14),
                                                 (5, 21, 1, 0.32, 2, 14)):
        table = ring_table(1358, layer)
        assert table[:len(RINGS_806[layer]) - 1] == RINGS_806[layer][:-1]
        assert table[-2:] == [(last, table[-2][1]), (INF, outer)]
        assert table[:-1] == _continue(RINGS_806[layer], last, step, slope, d2p)
    assert ring_table(1358, 3)[-2] == (84, 12) and ring_table(1358, 4)[-2] == (42, 13)
    assert ring_table(1358, 5)[-2] == (21, 13)
    assert all(size == 2 for _, size in ring_table(806, 1))
    for deg2px in (7.5, 1.0):  # coarse displays: the deepest layers round to ≥ 1 px/deg, so the rings end
        assert ring_table(400, 5, deg2px)[-1][0] == INF


def _tf_same_avg_brute(x: np.ndarray, k: int, s: int) -> np.ndarray:
    h, w = x.shape
    out_h, out_w = math.ceil(h / s), math.ceil(w / s)
    pad_h = max((out_h - 1) * s + k - h, 0) // 2
    pad_w = max((out_w - 1) * s + k - w, 0) // 2
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            vals = [x[a, b] for a in range(i * s - pad_h, i * s - pad_h + k)
                    for b in range(j * s - pad_w, j * s - pad_w + k) if 0 <= a < h and 0 <= b < w]
            out[i, j] = np.mean(vals)
    return out


@pytest.mark.parametrize(("size", "kernel"), [(9, 2), (10, 3), (11, 5), (7, 7), (6, 4)])
def test_same_average_pool_excludes_padding(size, kernel):
    x = np.random.default_rng(size * kernel).normal(size=(size, size + 1))
    got = tf_same_pool(torch.from_numpy(x)[None, None], kernel, 2)[0, 0].numpy()
    np.testing.assert_allclose(got, _tf_same_avg_brute(x, kernel, 2), rtol=1e-12)


def test_centre_dependent_pooling_uses_ring_sizes():
    pool = CentreDependentPooling(layer=5, deg2px=30)  # input 51 → output 26, sizes 2..8
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(1, 2, 51, 51)))
    out = pool(x)
    assert out.shape == (1, 2, 26, 26)
    c = 13
    np.testing.assert_allclose(out[..., c, c], tf_same_pool(x, 2)[..., c, c])  # fovea: rf_min
    np.testing.assert_allclose(out[..., 0, 0], tf_same_pool(x, 8)[..., 0, 0])  # far corner: outer size


def test_opencv_gaussian_kernels():
    assert gaussian_kernel(3, 0).tolist() == [0.25, 0.5, 0.25]
    g = gaussian_kernel(5, 3)
    assert g.sum() == pytest.approx(1) and g[2] == g.max()


# ---------------------------------------------------------------- the search loop

def _grid(n_cells_side=4, cell=10):
    side = n_cells_side * cell
    cells = np.zeros((n_cells_side ** 2, side, side), bool)
    for k in range(n_cells_side ** 2):
        r, c = divmod(k, n_cells_side)
        cells[k, r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = True
    return cells


def test_planted_map_gives_serial_self_terminating_search():
    cells = _grid()
    rng = np.random.default_rng(0)
    n_items, n_trials = 8, 3000
    counts, visited_twice = [], 0
    for _ in range(n_trials):
        items = rng.choice(len(cells), n_items, replace=False)
        target = int(items.min())  # the first item in scan order: a WTA without random ties would find it at once
        planted = cells[items].any(0).astype(float)  # equal at every item's cell, zero elsewhere
        display = np.zeros((*cells.shape[1:], 3), np.uint8)
        result = search(display, cells, target, lambda img, fix, m=planted: m, background=0, set_size=n_items,
                        rng=rng, recognition_px=1)
        assert result.found
        fixated = [int(np.flatnonzero(cells[:, y, x])[0]) for y, x in result.fixations[1:]]
        visited_twice += len(set(fixated)) != len(fixated)
        assert set(fixated) <= set(items.tolist())
        counts.append(result.n_fix)
    print(f"mean fixations {np.mean(counts):.3f} for {n_items} items ((n + 1) / 2 = {(n_items + 1) / 2})")
    assert visited_twice == 0
    assert np.mean(counts) == pytest.approx((n_items + 1) / 2, rel=0.05)
    assert np.bincount(counts)[1:].min() > n_trials / n_items * 0.7  # every position about equally likely


def test_inhibition_of_return_paints_one_cell_per_fixation():
    cells = _grid()
    display = np.random.default_rng(2).integers(1, 255, (*cells.shape[1:], 3)).astype(np.uint8)
    painted_before: list[int] = []

    def attention(image, fix):
        painted_before.append(sum(bool(np.all(image[c] == 0)) for c in cells))
        return np.random.default_rng(len(painted_before)).random(image.shape[:2])

    for k in range(1, 7):
        painted_before.clear()
        result = search(display, cells, 15, attention, background=0, set_size=5, max_fixations=k,
                        rng=np.random.default_rng(0), recognition_px=1)
        # before the j-th map, exactly j - 1 cells have been painted with the background
        assert painted_before == list(range(len(painted_before)))
        assert len(result.fixations) - 1 == len(painted_before)
        assert not np.any(np.all(display == 0, axis=-1))  # the caller's display is untouched
        if not result.found:
            assert len(painted_before) == k and result.n_fix == 5


def test_not_found_counts_as_set_size():
    cells = _grid(2)
    result = search(np.zeros((20, 20, 3), np.uint8), cells, 3, lambda img, fix: -cells[3].astype(float),
                    background=0, set_size=2, max_fixations=2, rng=np.random.default_rng(0), recognition_px=1)
    assert not result.found and result.n_fix == 2 and len(result.fixations) == 3


# IVSN reads conv5_3 only: with random weights its peak sits up to ~25 px off the target (the deep receptive
# fields are not centred), so it is tested with 80-px cells and the target near its cell's centre.
@pytest.mark.parametrize(("model", "side", "cell", "jitter"), [(eccnet, 4, 40, 16), (ivsn, 2, 80, 8)])
def test_lone_target_is_fixated_first(tiny_cnn, model, side, cell, jitter):
    """Template peak (§6.3): with random weights, a display holding only the target is searched target-first."""
    rng = np.random.default_rng(4)
    cells = _grid(side, cell)
    hits = 0
    for _ in range(20):
        target = rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)
        display = np.full((side * cell, side * cell, 3), 127, np.uint8)
        k = int(rng.integers(side * side))
        r, c = divmod(k, side)
        margin = (cell - 24 - jitter) // 2
        y, x = r * cell + margin + int(rng.integers(jitter)), c * cell + margin + int(rng.integers(jitter))
        display[y:y + 24, x:x + 24] = target
        searcher = model(tiny_cnn, deg2px=15, background=127)
        searcher.set_target(target)
        result = search(display, cells, k, searcher.attention_map, background=127, set_size=1, max_fixations=1,
                        rng=rng, recognition_px=1)
        hits += result.found
    print(f"{model.__name__}: first fixation on the target in {hits}/20 trials")
    assert hits >= 19


def test_batched_search_equals_single_trials(tiny_cnn, stim_dir):
    stim = read_stimulus_set(stim_dir)
    searcher = eccnet(tiny_cnn, deg2px=stim.info["deg2px"], background=stim.info["background"])
    loaded = [stim.load(row) for _, row in stim.trials.iterrows()]
    kwargs = lambda row, i: {"background": stim.info["background"], "set_size": int(row["set_size"]),  # noqa: E731
                             "rng": np.random.default_rng(i), "recognition_px": 1}
    single = []
    for i, ((_, row), (display, target)) in enumerate(zip(stim.trials.iterrows(), loaded, strict=True)):
        searcher.set_target(target)
        single.append(search(display, stim.cells, int(row["target_cell"]), searcher.attention_map, **kwargs(row, i)))
    steps = [search_steps(display, stim.cells, int(row["target_cell"]), **kwargs(row, i))
             for i, ((_, row), (display, _t)) in enumerate(zip(stim.trials.iterrows(), loaded, strict=True))]
    batched = search_many(steps, [t for _, t in loaded], searcher, batch_size=4)
    assert [r.fixations for r in batched] == [r.fixations for r in single]


# ---------------------------------------------------------------- metrics

def test_human_asymmetry_indices():
    human = metrics.load_human_rt()
    assert len(human) == 40 and human["source"].str.len().min() > 10
    slopes = metrics.task_slopes(human)
    table = metrics.asymmetry_table(slopes, slopes, {e: s.tasks for e, s in EXPERIMENTS.items()})
    assert table["ai"].round(2).tolist() == [0.81, 0.70, 0.36, 0.40, 0.61, 0.50]
    assert round(table["ai"].mean(), 3) == 0.564
    assert slopes["hetero_t20"] == pytest.approx(71.12, abs=0.01)


def test_synthetic_observers():
    rng = np.random.default_rng(0)
    sizes = [4, 8, 16, 32]
    serial = [(n, rng.integers(1, n + 1)) for n in sizes for _ in range(4000)]
    ss, nf = np.array(serial).T
    slope = metrics.rt_slope(ss, metrics.fixations_to_rt(nf))
    assert slope == pytest.approx(126.18, rel=0.03)
    exact = metrics.rt_slope(sizes, metrics.fixations_to_rt([(n + 1) / 2 for n in sizes]))
    assert exact == pytest.approx(126.18, abs=0.01)
    # parallel for the easy task, serial for the hard one: AI +1; labels swapped: −1
    human = {"hard": 50.0, "easy": 5.0}
    model = {"hard": exact, "easy": metrics.rt_slope(sizes, metrics.fixations_to_rt([1] * 4))}
    assert metrics.asymmetry_table(model, human, {"e": ("hard", "easy")})["ai"].item() == 1.0
    swapped = {"hard": model["easy"], "easy": model["hard"]}
    assert metrics.asymmetry_table(swapped, human, {"e": ("easy", "hard")})["ai"].item() == -1.0
    assert metrics.asymmetry_index(0.0, 0.0) == 0.0 and metrics.asymmetry_index(-3, 4) == -1.0


def test_task_anova_matches_separate_fits():
    rng = np.random.default_rng(1)
    x = np.tile([1, 4, 8, 12], 30).astype(float)
    task = np.repeat(["a", "b"], 60)
    y = np.where(task == "a", 400 + 10 * x, 420 + 25 * x) + rng.normal(0, 80, x.size)
    # brute force: the full model is one line per task; the small one a line through all
    rss_small = np.sum((y - np.polyval(np.polyfit(x, y, 1), x)) ** 2)
    rss_full = sum(np.sum((y[task == t] - np.polyval(np.polyfit(x[task == t], y[task == t], 1), x[task == t])) ** 2)
                   for t in "ab")
    f = ((rss_small - rss_full) / 2) / (rss_full / (x.size - 4))
    from scipy import stats
    assert metrics.task_anova_p(x, task, y) == pytest.approx(stats.f.sf(f, 2, x.size - 4), rel=1e-9)
    same = np.where(task == "a", 400 + 10 * x, 400 + 10 * x) + rng.normal(0, 80, x.size)
    assert metrics.task_anova_p(x, task, same) > 0.01


def test_sequence_score_and_correlation():
    assert metrics.sequence_score("ABCD", "ABCD") == 1.0
    assert metrics.sequence_score("ABCD", "ACBD") == 0.75  # LCS ABD
    assert metrics.sequence_score([1, 2, 3], [4, 5]) == 0.0
    assert metrics.sequence_score("AB", "AXXB") == 0.5
    r, _ = metrics.slope_correlation({"a": 1, "b": 2, "c": 3}, {"a": 2, "b": 4, "c": 6.5})
    assert r > 0.99
    np.testing.assert_allclose(metrics.cumulative_performance([1, 2, 2, 5], [True, True, True, False], 3),
                               [0.25, 0.75, 0.75])


def test_multimatch_needs_its_package():
    try:
        import multimatch_gaze  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"pip install multimatch-gaze"):
            metrics.multimatch(np.zeros((3, 3)), np.zeros((3, 3)), (100, 100))


# ---------------------------------------------------------------- stage: bad inputs, and one small run

def _row(stim, i=0):
    return stim.trials.iloc[i]


def test_target_larger_than_display_is_refused(stim_dir, tmp_path):
    stim = read_stimulus_set(stim_dir)
    row = _row(stim)
    Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(stim_dir / row["target"])
    with pytest.raises(ValueError, match=r"trial top_down 0 .*target image .*larger than the display"):
        stim.load(row)
    generate_experiment("lighting", stim_dir, scale=0.5, trials_per_set_size=1, seed=3)  # restore


def test_display_without_target_is_refused(stim_dir):
    stim = read_stimulus_set(stim_dir)
    row = _row(stim)
    display = np.asarray(Image.open(stim_dir / row["display"])).copy()
    display[stim.cells[int(row["target_cell"])]] = stim.info["background"]
    Image.fromarray(display).save(stim_dir / row["display"])
    with pytest.raises(ValueError, match=r"top_down_0000.png.*target is not in the display.*regenerate"):
        stim.load(row)
    stim.cells[int(row["target_cell"])] = False
    with pytest.raises(ValueError, match=r"target cell mask \d+ is empty"):
        stim.load(row)
    generate_experiment("lighting", stim_dir, scale=0.5, trials_per_set_size=1, seed=3)


def _search_settings(model: str, seed: int = 0) -> SearchSettings:
    return SearchSettings(model=model, network="t", network_spec={"kind": "demo_cnn"}, batch_size=8,
                          recognition_px=1, device="cpu", seed=seed)


def test_unknown_model_and_experiment_in_stage(stim_dir, tiny_cnn, tmp_path):
    outputs = {"fixations": str(tmp_path / "f.tsv"), "scanpaths": str(tmp_path / "f.png")}
    with pytest.raises(ValueError, match=r"Unknown visual-search model 'gbvs'.*eccnet"):
        stage.run_search(stim_dir, tiny_cnn, _search_settings("gbvs"), outputs)
    bad = pd.DataFrame({"experiment": ["colour"], "task": ["x"], "set_size": [1], "n_fix": [1]})
    bad.to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    with pytest.raises(ValueError, match=r"Unknown visual-search experiment 'colour'"):
        stage.summarise_search({"fixations": [str(tmp_path / "bad.tsv")]},
                               {"rt": str(tmp_path / "rt.tsv"), "asymmetry": str(tmp_path / "a.tsv"),
                                "curves": str(tmp_path / "c.png"), "provenance": str(tmp_path / "p.json")},
                               SummarySettings(models=("m",), experiments=("colour",)))


def test_stage_end_to_end(stim_dir, tiny_cnn, tmp_path):
    fixations = []
    for model in ("eccnet", "ivsn"):
        out = tmp_path / model
        t = stage.run_search(stim_dir, tiny_cnn, _search_settings(model, seed=1),
                             {"fixations": str(out / "fixations.tsv"), "scanpaths": str(out / "scanpaths.png"),
                              "provenance": str(out / "prov.json")})
        assert (out / "scanpaths.png").stat().st_size > 1000 and (out / "prov.json").is_file()
        assert len(t) == 6 and (t["n_fix"] >= 1).all()
        fix = stage.parse_fixations(t["fixations"].iloc[0])
        assert fix.shape[1] == 2 and len(fix) >= 2
        fixations.append(str(out / "fixations.tsv"))
    stage.summarise_search({"fixations": fixations},
                           {"rt": str(tmp_path / "rt.tsv"), "asymmetry": str(tmp_path / "asym.tsv"),
                            "curves": str(tmp_path / "curves.png"), "provenance": str(tmp_path / "p.json")},
                           SummarySettings(models=("eccnet", "ivsn"), experiments=("lighting",)))
    asym = pd.read_csv(tmp_path / "asym.tsv", sep="\t")
    assert asym["experiment"].tolist() == ["lighting", "mean"] * 2
    assert asym.loc[asym["experiment"] == "lighting", "human_ai"].round(2).tolist() == [0.70, 0.70]
    rt = pd.read_csv(tmp_path / "rt.tsv", sep="\t")
    assert set(rt["task"]) == {"top_down", "left_right"} and rt["human_rt_ms"].notna().all()
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_settings_come_from_the_config_and_its_mode_defaults(tmp_path):
    from cortexplorer.config import check_config, mode_default
    from cortexplorer.visual_search.settings import StimuliSettings

    demo = check_config({"dataset": {"name": "demo", "mode": "demo"}, "seed": 2,
                         "visual_search": {"models": ["ivsn"], "batch_size": 3}})
    stimuli = StimuliSettings.from_config(demo, experiment="lighting")
    assert stimuli == StimuliSettings("lighting", mode_default("demo", "visual_search.scale"),
                                      mode_default("demo", "visual_search.trials_per_set_size"), 2)
    search = SearchSettings.from_config(demo, model="ivsn")
    assert (search.model, search.network, search.batch_size, search.recognition_px, search.seed) == (
        "ivsn", "democnn", 3, 1, 2)
    assert search.network_spec == demo["networks"]["democnn"]
    assert SummarySettings.from_config(demo) == SummarySettings(("ivsn",), tuple(EXPERIMENTS))
    (tmp_path / "dataset_description.json").write_text("{}")
    bids = check_config({"dataset": {"name": "x", "mode": "bids"}, "seed": 2,
                         "bids": {"root": str(tmp_path), "stimuli_dir": str(tmp_path), "participant_label": ["01"]}})
    assert StimuliSettings.from_config(bids, experiment="curvature").trials_per_set_size is None  # "reference"


# ---------------------------------------------------------------- the paper's baselines (issue 25)

def test_template_matching_equals_a_brute_force_normalised_correlation():
    from cortexplorer.visual_search.baselines import match_template

    rng = np.random.default_rng(0)
    for th, tw in ((7, 7), (6, 5)):
        display, template = rng.random((17, 19, 3)), rng.random((th, tw, 3))
        got = match_template(display, template)
        padded = np.zeros((17 + 2 * th, 19 + 2 * tw, 3))
        padded[th:th + 17, tw:tw + 19] = display
        t = template - template.mean(axis=(0, 1))
        for i in range(17):
            for j in range(19):
                window = padded[i - th // 2 + th:i - th // 2 + 2 * th, j - tw // 2 + tw:j - tw // 2 + 2 * tw]
                w = window - window.mean(axis=(0, 1))
                expected = (w * t).sum() / np.sqrt((w * w).sum() * (t * t).sum())
                assert got[i, j] == pytest.approx(expected, abs=1e-9)


def test_pixelmatch_fixates_an_exact_copy_of_the_target_first():
    """Among distinct random distractors the target's own pixels correlate best: found at the first fixation."""
    from cortexplorer.visual_search.baselines import pixelmatch

    rng = np.random.default_rng(4)
    cells = _grid(4, 40)
    model = pixelmatch()
    hits = 0
    for _ in range(20):
        display = np.full((160, 160, 3), 127, np.uint8)
        items = rng.integers(0, 256, (16, 24, 24, 3)).astype(np.uint8)
        for k in range(16):
            r, c = divmod(k, 4)
            display[r * 40 + 8:r * 40 + 32, c * 40 + 8:c * 40 + 32] = items[k]
        k = int(rng.integers(16))
        kernel = model.target_kernels(items[k])
        result = search(display, cells, k, lambda img, fix, kernel=kernel: model.attention_maps([img], [fix],
                                                                                                 [kernel])[0],
                        background=127, set_size=16, max_fixations=1, rng=rng, recognition_px=1)
        hits += result.found
    assert hits == 20


def test_chance_search_has_no_asymmetry(tmp_path):
    """Random fixations among the items: n_fix ~ U{1..N} (mean (N+1)/2 at every set size) whatever the task, so
    the asymmetry index of every experiment is 0 up to trial noise: its trial bootstrap 95% CI holds 0 (measured
    +0.040 [-0.15, 0.24] and -0.076 [-0.21, 0.05] with 240 trials each; the paper's stored chance -0.003)."""
    human = metrics.task_slopes(metrics.load_human_rt())
    lines = []
    for experiment in ("curvature", "lighting"):
        folder = tmp_path / experiment
        generate_experiment(experiment, folder, scale=0.25, trials_per_set_size=40, seed=5)
        table = stage.run_search(folder, None, _search_settings("chance", seed=2),
                                 {"fixations": str(folder / "fix.tsv"), "scanpaths": str(folder / "s.png")})
        assert table["found"].all()
        for n, group in table.groupby("set_size"):
            se = group["n_fix"].std(ddof=1) / math.sqrt(len(group))
            assert abs(group["n_fix"].mean() - (n + 1) / 2) <= 4 * se + 1e-9, (experiment, n)
        slopes = metrics.task_slopes(table.assign(rt_ms=metrics.fixations_to_rt(table["n_fix"])))
        hard, easy = metrics.hard_easy(human, EXPERIMENTS[experiment].tasks)
        ai = metrics.asymmetry_index(slopes[hard], slopes[easy])
        low, high = metrics.bootstrap_ai(table, human, {experiment: EXPERIMENTS[experiment].tasks})[experiment]
        lines.append(f"{experiment}: AI {ai:+.3f} (95% CI {low:+.3f} to {high:+.3f}, {len(table)} trials)")
        assert low < 0 < high, lines[-1]
    print("\n  chance: " + "; ".join(lines))


def _serial_trials(experiment: str, rng, per: int = 40, parallel: str | None = None) -> pd.DataFrame:
    rows = []
    for task in EXPERIMENTS[experiment].tasks:
        for n in (8, 16, 32):
            for _ in range(per):
                rows.append({"experiment": experiment, "task": task, "set_size": n,
                             "n_fix": 1 if task == parallel else int(rng.integers(1, n + 1))})
    return pd.DataFrame(rows)


def test_bootstrap_ci_of_the_asymmetry_index():
    """The vectorised trial bootstrap agrees with a plain resample-and-refit loop; a planted parallel-vs-serial
    pair (the human-hard task serial, the other found at once) has AI = 1 in every resample."""
    human = metrics.task_slopes(metrics.load_human_rt())
    tasks = {"lighting": EXPERIMENTS["lighting"].tasks}
    trials = _serial_trials("lighting", np.random.default_rng(1))
    fast = metrics.bootstrap_ai(trials, human, tasks, n_boot=2000, seed=3)
    rng = np.random.default_rng(4)
    loop = []
    for _ in range(400):
        resampled = trials.groupby(["task", "set_size"], group_keys=False).sample(frac=1, replace=True,
                                                                                 random_state=rng)
        slopes = metrics.task_slopes(resampled.assign(rt_ms=metrics.fixations_to_rt(resampled["n_fix"])))
        hard, easy = metrics.hard_easy(human, tasks["lighting"])
        loop.append(metrics.asymmetry_index(slopes[hard], slopes[easy]))
    low, high = np.percentile(loop, [2.5, 97.5])
    print(f"\n  AI 95% CI: vectorised {fast['lighting'][0]:+.3f} to {fast['lighting'][1]:+.3f}; "
          f"loop {low:+.3f} to {high:+.3f}")
    assert abs(fast["lighting"][0] - low) < 0.06 and abs(fast["lighting"][1] - high) < 0.06
    assert fast["mean"] == fast["lighting"]  # one experiment: the mean is that experiment
    hard, easy = metrics.hard_easy(human, tasks["lighting"])
    planted = _serial_trials("lighting", np.random.default_rng(2), parallel=easy)
    assert metrics.bootstrap_ai(planted, human, tasks, n_boot=500)["lighting"] == (1.0, 1.0)


def test_the_papers_stored_asymmetry_indices_are_consistent():
    """The packaged paper table: each model's mean row is the mean of its six experiments (to the table's rounding),
    the human row equals the AIs computed from the packaged human RT curves, and the summary carries the paper's
    value beside ours for the same model and experiment."""
    paper = metrics.load_paper_asymmetry()
    for model, rows in paper.groupby("model"):
        per = rows[rows["experiment"] != "mean"]
        assert list(per["experiment"]) == list(EXPERIMENTS), model
        assert abs(per["ai"].mean() - rows.loc[rows["experiment"] == "mean", "ai"].iloc[0]) < 0.005, model
    human = metrics.task_slopes(metrics.load_human_rt())
    table = metrics.asymmetry_table(human, human, {e: s.tasks for e, s in EXPERIMENTS.items()})
    stored = paper[paper["model"] == "humans"].set_index("experiment")["ai"]
    for row in table.itertuples():
        assert abs(row.human_ai - stored[row.experiment]) < 0.006, row.experiment
    ours = pd.DataFrame({"model": ["chance", "eccnet", "mine"], "experiment": ["lighting", "mean", "lighting"],
                         "ai": [0.1, 0.2, 0.3]})
    got = stage.with_paper_values(ours)
    assert got["paper_ai"].tolist()[:2] == [-0.26, 0.513] and math.isnan(got["paper_ai"].iloc[2])
    assert got["paper_human_ai"].tolist() == [0.70, 0.564, 0.70]


def test_the_light_settings_name_the_same_baselines_the_stage_runs():
    """settings.BASELINE_MODELS (imported when the DAG is built, so without scipy) and baselines.BASELINES agree."""
    from cortexplorer.visual_search.baselines import BASELINES
    from cortexplorer.visual_search.settings import BASELINE_MODELS

    assert set(BASELINE_MODELS) == set(BASELINES)
    assert set(stage.MODELS) == {"eccnet", "ivsn", *BASELINE_MODELS}
