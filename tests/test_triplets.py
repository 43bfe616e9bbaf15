"""Triplet search, choice models and the shared CNN backbone, against planted and brute-force answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cortexplorer.models.cnn import Cnn, CnnSpec, DemoVGG, default_layers, layer_table, load_network, resolve_layer
from cortexplorer.triplets.choices import (
    analytic_ceiling,
    cross_validated_accuracy,
    fit_choice_model,
    read_choices,
    repeat_ceiling,
    simulate_observers,
)
from cortexplorer.triplets.search import (
    TripletGrid,
    decorrelated_triplets,
    grid_coverage,
    pair_similarity,
    random_triplet_differences,
    similarity_matrix,
)


def correlated_layers(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two 'layers' sharing a latent, so their similarities correlate as in real networks."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n, 40))
    high = shared + 0.8 * rng.standard_normal((n, 40))
    low = np.hstack([shared, 1.2 * rng.standard_normal((n, 40))])
    return similarity_matrix(high), similarity_matrix(low)


def test_similarity_is_pearson_and_pairs_agree():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 30)) * rng.uniform(0.5, 3, (12, 1)) + rng.standard_normal((12, 1))
    s = similarity_matrix(x)
    np.testing.assert_allclose(s, np.corrcoef(x), atol=1e-6)
    a, b = np.array([0, 3, 5]), np.array([7, 3, 11])
    np.testing.assert_allclose(pair_similarity(x, a, b), np.corrcoef(x)[a, b], atol=1e-10)
    x[4] = 2.0
    with pytest.raises(ValueError, match="constant activations"):
        similarity_matrix(x)


def test_search_decorrelates_hits_targets_and_covers_the_grid():
    s_high, s_low = correlated_layers(1200)
    grid = TripletGrid(n_bins=6, bin_size=0.4, tolerance=0.05, n_loops=10)
    table = decorrelated_triplets(s_high, s_low, grid, max_triplets=300, rng=np.random.default_rng(2))
    nat_high, nat_low = random_triplet_differences(s_high, s_low, 3000, np.random.default_rng(3))
    r_natural = np.corrcoef(nat_low, nat_high)[0, 1]
    r_found = np.corrcoef(table["d_low"], table["d_high"])[0, 1]
    coverage = grid_coverage(table, grid.n_bins)
    print(f"natural r {r_natural:.3f}, searched r {r_found:.3f}, {len(table)} triplets, "
          f"coverage {(coverage['n_triplets'] > 0).mean():.2f}")
    assert r_natural > 0.3  # the planted layers do correlate: the search has something to remove
    assert abs(r_found) <= 0.1
    assert (coverage["n_triplets"] > 0).mean() >= 0.95
    assert len(table) >= 200
    # brute force: each triplet's differences, read from the matrices, are within tolerance of the targets
    r, a, b = (table[c].to_numpy() for c in ("root", "image1", "image2"))
    sd_h, sd_l = s_high.std(), s_low.std()
    d_h, d_l = s_high[r, b] - s_high[r, a], s_low[r, b] - s_low[r, a]
    assert np.all(np.abs(d_h - table["b_high"] * grid.bin_size * sd_h) <= grid.tolerance * sd_h + 1e-6)
    assert np.all(np.abs(d_l - table["sign"] * table["b_low"] * grid.bin_size * sd_l) <= grid.tolerance * sd_l + 1e-6)
    # no image is used twice, and every cell holds as many congruent as conflict triplets
    used = np.concatenate([r, a, b])
    assert len(np.unique(used)) == len(used)
    signs = table.groupby(["b_high", "b_low"])["sign"].sum()
    assert (signs == 0).all()


def test_search_refuses_too_few_images():
    s_high, s_low = correlated_layers(50)
    with pytest.raises(ValueError, match=r"50 images are too few.*triplets.max_images"):
        decorrelated_triplets(s_high, s_low, TripletGrid(n_bins=10, bin_size=0.5, tolerance=0.05, n_loops=20),
                              max_triplets=100, rng=np.random.default_rng(0))


def planted_trials(n_triplets: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"root": [f"r{i}" for i in range(n_triplets)], "image1": [f"a{i}" for i in range(n_triplets)],
                         "image2": [f"b{i}" for i in range(n_triplets)],
                         "z_high": rng.uniform(-3, 3, n_triplets), "z_low": rng.uniform(-3, 3, n_triplets)})


def test_simulated_observers_recover_weights_and_reach_the_ceiling():
    triplets = planted_trials()
    sim = simulate_observers(triplets, n_observers=20, n_trials=2000, beta_high=3.0, beta_low=1.0, jitter=0.1,
                             lapse=0.05, rng=np.random.default_rng(4))
    z = triplets.set_index("root").loc[sim["root"], ["z_high", "z_low"]].to_numpy()
    y = (sim["choice"] == sim["image2"]).to_numpy().astype(float)
    fit = fit_choice_model(z, y, lapse=True)
    print(f"beta_high {fit.coef[1]:.3f} ± {fit.se[1]:.3f}, beta_low {fit.coef[2]:.3f} ± {fit.se[2]:.3f}, "
          f"lapse {fit.lapse:.3f}")
    assert fit.coef[1] == pytest.approx(3.0, rel=0.10)
    assert fit.coef[2] == pytest.approx(1.0, rel=0.10)
    assert fit.lapse == pytest.approx(0.05, abs=0.02)
    # coefficients within 3 standard errors of the planted (mean observer) weights: the SEs are honest
    assert abs(fit.coef[1] - sim["beta_high_true"].drop_duplicates().mean()) < 3 * fit.se[1] + 0.1
    groups = sim["root"].to_numpy()
    acc = cross_validated_accuracy(z, y, groups, folds=5, lapse=True)
    ceiling = analytic_ceiling(sim["p_image2"].to_numpy())
    empirical, n_used = repeat_ceiling(y, groups)
    print(f"accuracy {acc:.4f}, analytic ceiling {ceiling:.4f}, repeat ceiling {empirical:.4f} ({n_used} trials)")
    assert abs(acc - ceiling) <= 0.02
    assert abs(empirical - ceiling) <= 0.02
    # a wrong model (the low-level difference alone) is clearly worse: the accuracy check can fail
    assert cross_validated_accuracy(z[:, 1], y, groups, folds=5, lapse=True) < ceiling - 0.1


def test_choice_model_without_lapse_equals_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    x = rng.standard_normal((3000, 2))
    y = (rng.random(3000) < 1 / (1 + np.exp(-(0.3 + x @ [1.5, -0.7])))).astype(float)
    ours = fit_choice_model(x, y, lapse=False)
    peer = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(x, y)
    np.testing.assert_allclose(ours.coef, [peer.intercept_[0], *peer.coef_[0]], atol=1e-4)
    # standard errors against the analytic inverse Fisher information
    x1 = np.column_stack([np.ones(len(y)), x])
    p = 1 / (1 + np.exp(-x1 @ ours.coef))
    se = np.sqrt(np.diag(np.linalg.inv(x1.T @ (x1 * (p * (1 - p))[:, None]))))
    np.testing.assert_allclose(ours.se, se, rtol=1e-3)


def test_read_choices_names_unknown_images_and_bad_choices(tmp_path):
    path = tmp_path / "choices.tsv"
    good = pd.DataFrame({"root": ["a"], "image1": ["b"], "image2": ["c"], "choice": ["c"], "subject": ["s1"]})
    good.to_csv(path, sep="\t", index=False)
    assert read_choices(path, ["a", "b", "c"])["choice"].tolist() == ["c"]
    with pytest.raises(ValueError, match=r"choices\.tsv' references 1 image id.*'c'"):
        read_choices(path, ["a", "b"])
    good.assign(choice="a").to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"row 2: choice 'a' is neither image1"):
        read_choices(path, ["a", "b", "c"])


def test_demo_vgg_mirrors_vgg16_bn_layer_names_and_aliases():
    import torchvision

    demo = DemoVGG(width=2, n_classes=3)
    ref = torchvision.models.vgg16_bn(weights=None)
    assert [n for n, _ in demo.features.named_children()] == [n for n, _ in ref.features.named_children()]
    cnn = Cnn(demo, None, (0.5,) * 3, (0.25,) * 3, {"name": "t", "arch": "demo_vgg16"})
    aliases = {r["alias"]: r["layer"] for r in layer_table(cnn)}
    # vgg16_bn: conv3_3 is features.20, pool3 features.23, pool5 features.43
    assert (aliases["conv3_3"], aliases["pool3"], aliases["pool5"]) == ("features.20", "features.23", "features.43")
    assert resolve_layer(cnn, "pool3", "k") == "features.23"
    assert default_layers(cnn)[:5] == ["features.6", "features.13", "features.23", "features.33", "features.43"]
    with pytest.raises(ValueError, match=r"triplets.low_layer: network 't' .* has no layer 'conv9_9'.*pool3"):
        resolve_layer(cnn, "conv9_9", "triplets.low_layer")


def test_activations_equal_a_truncated_forward_pass():
    torch.manual_seed(0)
    demo = DemoVGG(width=2, n_classes=3).eval()
    cnn = Cnn(demo, None, (0.5,) * 3, (0.25,) * 3, {"name": "t", "arch": "demo_vgg16"})
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    acts = cnn.activations(images, ["features.2", "features.23"], batch_size=2, progress=False)
    x = cnn.normalise(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)
    with torch.no_grad():
        # features.2 is a ReLU(inplace) after conv/bn: the hook's copy must equal the post-ReLU value
        expected2 = demo.features[:3](x).flatten(1).numpy()
        expected23 = demo.features[:24](x).flatten(1).numpy()
    np.testing.assert_allclose(acts["features.2"], expected2, atol=1e-5)
    np.testing.assert_allclose(acts["features.23"], expected23, atol=1e-5)


def test_missing_torchvision_weights_say_how_to_fetch_them(tmp_path):
    spec = {"kind": "torchvision", "arch": "vgg16", "weights": "IMAGENET1K_V1", "cache_dir": str(tmp_path)}
    with pytest.raises(FileNotFoundError, match=r"not in the local cache.*get_model\('vgg16'"):
        load_network("vgg", spec, device="cpu")
    with pytest.raises(ValueError, match="torchvision has no classification model 'vgg99'"):
        CnnSpec.from_config("v", {"kind": "torchvision", "arch": "vgg99"})
    with pytest.raises(ValueError, match="neither a file nor a weight tag"):
        load_network("vgg", {**spec, "weights": "IMAGENET9K"}, device="cpu")


def test_settings_come_from_the_config_and_its_mode_defaults():
    from cortexplorer.config import check_config, mode_default
    from cortexplorer.triplets.settings import (
        OddOneOutSettings,
        TripletChoicesSettings,
        TripletFitSettings,
        TripletSearchSettings,
    )

    cfg = check_config({"dataset": {"name": "demo", "mode": "demo"}, "seed": 5,
                        "triplets": {"n_bins": 4, "observers": {"n": 3},
                                     "odd_one_out": {"repeats": [0, 1], "learning_rate": 0.02}}})
    search = TripletSearchSettings.from_config(cfg)
    assert search.grid == TripletGrid(n_bins=4, bin_size=mode_default("demo", "triplets.bin_size"), tolerance=0.05,
                                      n_loops=20)
    net = search.network
    assert net.name == "democnn" and net.spec == {"kind": "demo_cnn"} and net.seed == 5 and net.device == "auto"
    assert net.max_images == mode_default("demo", "triplets.max_images") and (net.low_layer, net.high_layer) == (
        "pool3", "pool5")
    assert TripletFitSettings.from_config(cfg).network == net  # the fit takes σ over the search's selection
    assert TripletChoicesSettings.from_config(cfg).observers.n == 3
    ooo = OddOneOutSettings.from_config(cfg)
    assert ooo.planted.repeats is None  # [0, 1]: no repeated triplets
    assert ooo.spose.lr == 0.02 and ooo.spose.seed == 5 and ooo.spose.n_dims == 30
