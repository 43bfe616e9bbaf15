"""The decoding stage's science: parcel time series, windows, the contrastive loss, the beta-space ridge baseline,
retrieval and semantic scores with their permutation tests, and the WAVE-style decoder on a world with planted
networks (known answers: which networks carry the stimulus' meaning, and how strongly)."""

from __future__ import annotations

import itertools
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from nilearn.maskers import NiftiLabelsMasker
from sklearn.linear_model import Ridge

from cortexplorer.decoding import evaluate, wave
from cortexplorer.decoding.baseline import fit_beta_decoder
from cortexplorer.decoding.parcels import (
    DecodingInputError,
    parcel_timeseries,
    read_atlas,
    trial_windows,
    window_starts,
)
from cortexplorer.encoder.ridge import grouped_kfold
from cortexplorer.models.contrastive import LogitScale, clip_loss

AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])


# --- contrastive loss -------------------------------------------------------------------------------------------

def test_clip_loss_equals_a_brute_force_sum_over_pairs():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    scale = 3.7
    got = float(clip_loss(a, b, scale))
    an = [np.asarray(v) / np.linalg.norm(v) for v in a.double().numpy()]
    bn = [np.asarray(v) / np.linalg.norm(v) for v in b.double().numpy()]
    n = len(an)
    logit = [[scale * float(an[i] @ bn[j]) for j in range(n)] for i in range(n)]
    rows = sum(-logit[i][i] + np.log(sum(np.exp(logit[i][j]) for j in range(n))) for i in range(n)) / n
    cols = sum(-logit[j][j] + np.log(sum(np.exp(logit[i][j]) for i in range(n))) for j in range(n)) / n
    assert got == pytest.approx(0.5 * (rows + cols), rel=1e-5)


def test_logit_scale_starts_at_clips_value_and_is_clamped_at_100():
    s = LogitScale()
    assert s().item() == pytest.approx(1 / 0.07, rel=1e-6)
    with torch.no_grad():
        s.log_scale.fill_(10.0)
    assert s().item() == pytest.approx(100.0, rel=1e-6)
    with pytest.raises(ValueError, match="initial logit scale"):
        LogitScale(init=200.0)


def test_perfectly_aligned_pairs_have_a_lower_loss_than_shuffled_ones():
    a = F.normalize(torch.eye(6), dim=-1)
    assert float(clip_loss(a, a, 20.0)) < 1e-6
    assert float(clip_loss(a, a[torch.randperm(6, generator=torch.Generator().manual_seed(1))], 20.0)) > 5


# --- atlas, parcel time series, windows -------------------------------------------------------------------------

@pytest.fixture
def atlas_files(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, (6, 5, 4)).astype(np.int16)  # parcels 1..5, 0 = background
    nib.Nifti1Image(labels, AFFINE).to_filename(tmp_path / "atlas.nii.gz")
    pd.DataFrame({"index": [1, 2, 3, 4, 5], "network": ["Vis", "Vis", "Default", "n/a", "Cont"]}).to_csv(
        tmp_path / "networks.tsv", sep="\t", index=False)
    return tmp_path, labels


def test_atlas_reads_every_parcel_with_its_network(atlas_files):
    folder, _ = atlas_files
    atlas = read_atlas(folder / "atlas.nii.gz", folder / "networks.tsv")
    assert atlas.labels.tolist() == [1, 2, 3, 4, 5]
    assert atlas.networks.tolist() == ["Vis", "Vis", "Default", "n/a", "Cont"]
    assert atlas.network_names == ["Vis", "Default", "n/a", "Cont"]
    assert atlas.parcels_of("Vis").tolist() == [0, 1]


def test_parcel_time_series_equal_nilearns_masker_and_a_brute_force_mean(atlas_files):
    folder, labels = atlas_files
    atlas = read_atlas(folder / "atlas.nii.gz", folder / "networks.tsv")
    rng = np.random.default_rng(1)
    n_vol = 50
    data = rng.normal(800, 20, (*labels.shape, n_vol)).astype(np.float32)
    bold = nib.Nifti1Image(data, AFFINE)
    confounds = rng.normal(size=(n_vol, 3))
    got = parcel_timeseries(bold, atlas, confounds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = NiftiLabelsMasker(labels_img=atlas.image, strategy="mean", standardize=False).fit_transform(
            bold, confounds=confounds)
    np.testing.assert_allclose(got, 100 * (ref - ref.mean(0)) / ref.mean(0), atol=1e-4)
    # by hand: each parcel's mean, least-squares residual on [1, confounds], over its mean
    means = np.stack([data[labels == k].astype(np.float64).mean(0) for k in range(1, 6)], 1)
    design = np.column_stack([np.ones(n_vol), confounds])
    resid = means - design @ np.linalg.lstsq(design, means, rcond=None)[0]
    np.testing.assert_allclose(got, 100 * resid / means.mean(0), atol=2e-3)


def test_network_labels_naming_parcels_the_atlas_lacks_are_refused(atlas_files):
    folder, _ = atlas_files
    pd.DataFrame({"index": [1, 2, 3, 4, 5, 17], "network": ["Vis"] * 6}).to_csv(folder / "more.tsv", sep="\t",
                                                                                 index=False)
    with pytest.raises(DecodingInputError, match=r"name 1 parcel\(s\) that the atlas .* lacks: \[17\]"):
        read_atlas(folder / "atlas.nii.gz", folder / "more.tsv")
    pd.DataFrame({"index": [1, 2, 3], "network": ["Vis"] * 3}).to_csv(folder / "fewer.tsv", sep="\t", index=False)
    with pytest.raises(DecodingInputError, match=r"2 parcel\(s\) with no row in .*\[4, 5\]"):
        read_atlas(folder / "atlas.nii.gz", folder / "fewer.tsv")
    pd.DataFrame({"index": [1], "name": ["Vis"]}).to_csv(folder / "cols.tsv", sep="\t", index=False)
    with pytest.raises(DecodingInputError, match=r"lack the column\(s\) \['network'\]"):
        read_atlas(folder / "atlas.nii.gz", folder / "cols.tsv")


def test_a_4d_atlas_is_refused(atlas_files):
    folder, labels = atlas_files
    nib.Nifti1Image(np.stack([labels] * 2, -1), AFFINE).to_filename(folder / "prob.nii.gz")
    with pytest.raises(DecodingInputError, match="one 3-D label image"):
        read_atlas(folder / "prob.nii.gz", folder / "networks.tsv")


def test_windows_start_at_the_first_volume_after_onset_plus_the_offset():
    series = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 3))
    # volumes at 1, 3, 5, ... s: onset 0 → volume 0; onset 4 → volume 2 (5 s); onset 5 → volume 2
    assert window_starts([0.0, 4.0, 5.0], tr=2.0, start_time=1.0, offset=1).tolist() == [1, 3, 3]
    w = trial_windows(series, [0.0, 4.0, 5.0], tr=2.0, start_time=1.0, offset=1, length=4, run="r")
    assert w.shape == (3, 4, 3)
    assert w[1, :, 0].tolist() == [3, 4, 5, 6]


def test_a_window_past_the_end_of_a_run_is_refused():
    series = np.zeros((20, 3), np.float32)
    with pytest.raises(DecodingInputError, match=r"1 trial window\(s\) of 'sub-01_run-2_bold.nii.gz' run past its "
                                                 r"end: .* onset 36 s needs volumes up to 24 .* has 20"):
        trial_windows(series, [0.0, 36.0], tr=2.0, start_time=1.0, offset=2, length=4,
                      run="/d/sub-01_run-2_bold.nii.gz")


# --- the beta-space baseline ------------------------------------------------------------------------------------

def test_the_beta_decoder_is_the_encoder_solver_on_the_transposed_problem():
    rng = np.random.default_rng(2)
    n_stim, reps, n_vox, n_emb = 40, 2, 30, 5
    stim = np.repeat(np.arange(n_stim), reps)
    emb = rng.normal(size=(n_stim, n_emb))
    mixing = rng.normal(size=(n_emb, n_vox))
    betas = emb[stim] @ mixing + rng.normal(size=(len(stim), n_vox))
    alphas = [0.1, 10.0, 1000.0]
    fit = fit_beta_decoder(betas, emb[stim], stim, alphas=alphas, n_folds=4, seed=3)
    # the α each embedding dimension gets is the grouped-CV minimiser, computed here fold by fold with scikit-learn
    folds = grouped_kfold(stim, 4, 3)
    mse = np.zeros((len(alphas), n_emb))
    for k, a in enumerate(alphas):
        for train, val in folds:
            pred = Ridge(alpha=a).fit(betas[train], emb[stim][train]).predict(betas[val])
            mse[k] += ((pred - emb[stim][val]) ** 2).mean(0) / len(folds)
    np.testing.assert_array_equal(fit.alpha, np.asarray(alphas)[mse.argmin(0)])
    for d in range(n_emb):  # and the refit on all trials is that α's closed-form ridge
        ref = Ridge(alpha=fit.alpha[d]).fit(betas, emb[stim][:, d])
        np.testing.assert_allclose(fit.coef[:, d], ref.coef_, rtol=1e-3, atol=1e-5)
        assert fit.intercept[d] == pytest.approx(ref.intercept_, abs=1e-4)


# --- scores -----------------------------------------------------------------------------------------------------

def test_retrieval_ranks_and_top_k_match_a_brute_force_count():
    rng = np.random.default_rng(4)
    sim = rng.normal(size=(9, 9))
    for k in (1, 3):
        brute = np.mean([sorted(range(9), key=lambda j: -sim[i, j]).index(i) < k for i in range(9)])
        assert evaluate.top_k(sim, k) == pytest.approx(brute)


def test_semantic_accuracy_is_the_exact_mean_over_every_foil_draw():
    rng = np.random.default_rng(5)
    proto_sim = rng.normal(size=(12, 6))
    category = rng.integers(0, 6, 12)
    for n_way in (2, 3, 5):
        per_stim = []
        for i, c in enumerate(category):
            others = [j for j in range(6) if j != c]
            draws = list(itertools.combinations(others, n_way - 1))
            per_stim.append(np.mean([proto_sim[i, c] > max(proto_sim[i, list(f)]) for f in draws]))
        assert evaluate.semantic_accuracy(proto_sim, category, n_way) == pytest.approx(np.mean(per_stim))


def _task(rng, n_stim=30, n_cat=5, dim=8, n_way=3):
    emb = rng.normal(size=(n_stim, dim))
    cat = np.arange(n_stim) % n_cat
    protos = np.stack([emb[cat == c].mean(0) for c in range(n_cat)])
    return evaluate.Task(np.arange(n_stim).astype(str), emb, cat, tuple(f"c{c}" for c in range(n_cat)), protos, n_way)


def test_perfect_predictions_get_the_smallest_p_and_random_ones_do_not():
    rng = np.random.default_rng(6)
    task = _task(rng)
    good = evaluate.score(task.embeddings + 0.01 * rng.normal(size=task.embeddings.shape), task, n_perm=199, rng=rng)
    assert good["image_top1"]["value"] == 1.0 and good["brain_top1"]["value"] == 1.0
    assert all(v["p"] == pytest.approx(1 / 200) for v in good.values())
    assert good["semantic"]["chance"] == pytest.approx(1 / 3)
    ps = [evaluate.score(rng.normal(size=task.embeddings.shape), task, n_perm=99, rng=rng)["image_top1"]["p"]
          for _ in range(20)]
    assert np.mean(np.array(ps) < 0.05) <= 0.2  # ~5% of null runs, with room for 20 draws


def test_a_test_split_too_small_for_the_n_way_task_is_refused():
    rng = np.random.default_rng(7)
    with pytest.raises(DecodingInputError, match=r"The test split has 4 stimuli; the 3-way task and top-5 retrieval "
                                                 r"need at least 6"):
        evaluate.score(rng.normal(size=(4, 8)), _task(rng, n_stim=4, n_cat=2, n_way=3), n_perm=9, rng=rng)
    with pytest.raises(DecodingInputError, match=r"The 6-way semantic task needs 6 categories but the stimuli have 5"):
        evaluate.score(rng.normal(size=(30, 8)), _task(rng, n_way=6), n_perm=9, rng=rng)


# --- the WAVE-style decoder on planted networks -----------------------------------------------------------------

PLANTED = {  # network: (strength, content, lag in TRs)
    "Vis": (1.0, "visual", 0), "Default": (1.0, "semantic", 1), "DorsAttn": (0.5, "semantic", 0),
    "SomMot": (0.0, "none", 0), "Limbic": (0.0, "none", 0)}
HRF_TRS = np.array([0.0, 0.4, 1.0, 0.8, 0.4, 0.1, 0.0, 0.0])


def planted_world(seed=0, n_stim=240, n_cat=6, dim=16, n_caption=8, window=4, shift=1, reps=2, per_network=16):
    """Stimuli with a category and a caption vector; their CLIP-like image embedding mixes both with an image-specific
    part. The visual network carries the image-specific part (and a little meaning), the default-mode and dorsal
    attention networks the meaning (category + caption) at strengths 1 and 0.5, the default one a TR later; the
    control networks carry nothing. Windows = response × HRF profile + unit noise."""
    rng = np.random.default_rng(seed)
    cat = np.arange(n_stim) % n_cat
    onehot = np.eye(n_cat)[cat]
    caption = rng.normal(size=(n_stim, n_caption))
    to_emb_c, to_emb_e = rng.normal(size=(n_cat, dim)), rng.normal(size=(n_caption, dim))
    specific = rng.normal(size=(n_stim, dim))
    meaning = 2 * onehot @ to_emb_c + 0.7 * caption @ to_emb_e
    image = meaning + specific
    semantic = np.column_stack([2 * onehot, 0.7 * caption])
    responses, lags, networks = [], [], []
    for name, (strength, content, lag) in PLANTED.items():
        feat = {"visual": np.column_stack([specific, 0.3 * semantic]), "semantic": semantic,
                "none": np.zeros((n_stim, 1))}[content]
        w = rng.normal(size=(feat.shape[1], per_network)) / np.sqrt(feat.shape[1])
        responses.append(strength * feat @ w)
        lags += [lag] * per_network
        networks += [name] * per_network
    responses = np.concatenate(responses, 1)
    trials = np.repeat(np.arange(n_stim), reps)
    profile = np.stack([np.roll(HRF_TRS, lag)[:window + 2 * shift] for lag in lags], 1)
    windows = responses[trials][:, None, :] * profile[None] + rng.normal(size=(len(trials), *profile.shape))
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    return dict(category=cat, image=unit(image), text=unit(meaning), windows=windows.astype(np.float32),
                trials=trials, networks=np.array(networks), n_cat=n_cat)


@pytest.fixture(scope="module")
def planted():
    w = planted_world()
    test_stim = np.arange(len(w["image"])) >= 200
    w["train"] = ~test_stim[w["trials"]]
    protos = np.stack([w["image"][~test_stim & (w["category"] == c)].mean(0) for c in range(w["n_cat"])])
    w["task"] = evaluate.Task(np.flatnonzero(test_stim).astype(str), w["image"][test_stim],
                              w["category"][test_stim], tuple(f"c{c}" for c in range(w["n_cat"])), protos, n_way=3)
    return w


def _fit_and_predict(w, seed, visible=None, masked=None):
    torch.manual_seed(seed)
    model = wave.WaveDecoder(wave.WaveConfig(n_parcels=w["windows"].shape[2], window=4, embed_dim=16, width=32,
                                             depth=1, heads=4))
    model.fit_normalisation(w["windows"][w["train"]])
    wave.finetune(model, w["windows"][w["train"]], w["trials"][w["train"]], w["image"], w["text"], epochs=60,
                  lr=3e-3, batch_size=50, parcel_dropout=0.2, tr_shift=1, rng=np.random.default_rng(seed),
                  device="cpu", visible=visible)
    test = ~w["train"]

    def stimulus_pred(seen):
        pred = wave.predict(model, w["windows"][test], tr_shift=1, device="cpu", visible=seen)
        return evaluate.stimulus_means(pred, w["trials"][test].astype(str), w["task"].stim_ids)

    full = stimulus_pred(visible)
    ablated = {net: stimulus_pred(w["networks"] != net) for net in PLANTED} if masked else {}
    return full, ablated


def test_a_masked_parcel_does_not_change_the_prediction(planted):
    torch.manual_seed(0)
    model = wave.WaveDecoder(wave.WaveConfig(n_parcels=80, window=4, embed_dim=16, width=32, depth=1, heads=4))
    x = planted["windows"][:10].copy()
    visible = planted["networks"] == "Vis"
    before = wave.predict(model, x, tr_shift=1, device="cpu", visible=visible)
    x[:, :, ~visible] = 1e3
    np.testing.assert_array_equal(wave.predict(model, x, tr_shift=1, device="cpu", visible=visible), before)


def test_wave_decoder_finds_the_planted_networks_in_their_order(planted):
    task = planted["task"]
    semantic, drops = [], {net: [] for net in PLANTED}
    visual_only = []
    for seed in range(3):
        full, ablated = _fit_and_predict(planted, seed, masked=True)
        s = evaluate.score(full, task, n_perm=199, rng=np.random.default_rng(seed))
        assert s["image_top1"]["p"] < 0.01 and s["semantic"]["p"] < 0.01, s
        semantic.append(s["semantic"]["value"])
        for net, pred in ablated.items():
            drops[net].append(semantic[-1] - evaluate.score(pred, task, n_perm=0, rng=None)["semantic"]["value"])
        vis, _ = _fit_and_predict(planted, seed, visible=planted["networks"] == "Vis")
        visual_only.append(evaluate.score(vis, task, n_perm=0, rng=None)["semantic"]["value"])
    mean = {net: float(np.mean(d)) for net, d in drops.items()}
    # whole brain beats the visual network alone by more than its seed-to-seed SD
    assert np.mean(semantic) - np.mean(visual_only) > max(np.std(semantic), np.std(visual_only))
    # planted order of the meaning each network carries: default (1.0) > dorsal attention (0.5) > controls (0)
    assert mean["Default"] > mean["DorsAttn"] > max(mean["SomMot"], mean["Limbic"])
    for control in ("SomMot", "Limbic"):  # no planted signal: a drop within noise of zero
        assert abs(mean[control]) < 0.05, mean


def test_pretraining_learns_to_fill_in_hidden_parcels():
    """Windows from three shared sources mixed into 40 parcels plus noise of SD 0.3: a hidden parcel is predictable
    from the others down to its noise share, about 0.09 / (1 + 0.09) ≈ 0.08 of its variance."""
    rng = np.random.default_rng(8)
    mixing = rng.normal(size=(3, 40))
    mixing /= np.linalg.norm(mixing, axis=0) / np.sqrt(1.0)  # unit signal variance per parcel
    windows = rng.normal(size=(1500, 6, 3)) @ mixing + 0.3 * rng.normal(size=(1500, 6, 40))
    torch.manual_seed(0)
    model = wave.WaveDecoder(wave.WaveConfig(n_parcels=40, window=6, embed_dim=8, width=32, depth=1, heads=4))
    model.fit_normalisation(windows)
    curve = wave.pretrain(model, windows, epochs=15, lr=3e-3, batch_size=64, mask_fraction=0.25,
                          rng=np.random.default_rng(0), device="cpu")
    # z-scored parcels: predicting 0 scores 1
    assert curve[0]["loss"] > 0.5
    assert curve[-1]["loss"] < 0.2, curve[-1]


def test_retrieval_margin_is_own_minus_mean_of_the_others():
    sim = np.array([[0.9, 0.1, 0.3], [0.2, 0.5, 0.8], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(evaluate.retrieval_margin(sim), [0.9 - 0.2, 0.5 - 0.5, 0.0])


def test_sign_flip_p_matches_the_exact_enumeration():
    values = np.array([0.3, -0.1, 0.5, 0.2, 0.4, -0.05, 0.25])
    observed = abs(values.mean())
    exact = np.mean([abs((np.array(s) * values).mean()) >= observed - 1e-15
                     for s in itertools.product([-1, 1], repeat=len(values))])
    p = evaluate.sign_flip_p(values, 20000, np.random.default_rng(0))
    assert p == pytest.approx(exact, abs=0.01)
    assert evaluate.sign_flip_p(np.random.default_rng(1).normal(size=40), 999, np.random.default_rng(2)) > 0.01


def test_reliable_voxels_pick_the_ones_whose_repeats_agree():
    from cortexplorer.decoding.stage import reliable_voxels

    rng = np.random.default_rng(9)
    stim = np.repeat(np.arange(50), 2)
    signal = rng.normal(size=(50, 6))
    betas = rng.normal(size=(100, 6))
    betas[:, [1, 4]] += 3 * signal[stim][:, [1, 4]]
    assert reliable_voxels(betas, stim.astype(str), 2).tolist() == [1, 4]
    assert reliable_voxels(betas, stim.astype(str), 0).tolist() == list(range(6))
