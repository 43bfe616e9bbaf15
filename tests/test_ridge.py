"""Per-voxel ridge CV against a brute-force loop and against himalaya on the same folds."""

from __future__ import annotations

import numpy as np
import pytest

from cortexplorer.encoder import grouped_kfold, ridge_cv

ALPHAS = np.logspace(-2, 4, 9)


def _problem(seed=0, n=120, d=15, v=40):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.5 + 2.0  # correlated features, non-zero mean
    w = rng.normal(size=(d, v)) * rng.uniform(0, 1, v)  # from no signal to strong signal
    y = x @ w + rng.normal(0, 3.0, (n, v)) + 5.0
    groups = np.repeat(np.arange(n // 3), 3)  # three repeats per stimulus
    return x, y, groups


def _brute(x, y, alphas, folds):
    """Literal loop over voxels, folds and alphas (centred by the training means), then refit."""
    n_vox = y.shape[1]
    mse = np.zeros((len(alphas), n_vox))
    for v in range(n_vox):
        for k, a in enumerate(alphas):
            for train, test in folds:
                xm, ym = x[train].mean(0), y[train, v].mean()
                xt = x[train] - xm
                b = np.linalg.solve(xt.T @ xt + a * np.eye(x.shape[1]), xt.T @ (y[train, v] - ym))
                pred = (x[test] - xm) @ b + ym
                mse[k, v] += np.mean((y[test, v] - pred) ** 2) / len(folds)
    best = alphas[np.argmin(mse, axis=0)]
    coef = np.zeros((x.shape[1], n_vox))
    intercept = np.zeros(n_vox)
    for v in range(n_vox):
        xm, ym = x.mean(0), y[:, v].mean()
        xc = x - xm
        coef[:, v] = np.linalg.solve(xc.T @ xc + best[v] * np.eye(x.shape[1]), xc.T @ (y[:, v] - ym))
        intercept[v] = ym - xm @ coef[:, v]
    return best, coef, intercept, mse


def test_ridge_cv_equals_brute_force():
    x, y, groups = _problem()
    folds = grouped_kfold(groups, 5, seed=1)
    fit = ridge_cv(x, y.astype(np.float64), ALPHAS, folds)
    best, coef, intercept, mse = _brute(x, y, ALPHAS, folds)
    np.testing.assert_allclose(fit.cv_mse, mse, rtol=1e-5)
    np.testing.assert_array_equal(fit.alpha, best)
    assert len(np.unique(fit.alpha)) >= 3  # the grid is really used per voxel
    np.testing.assert_allclose(fit.coef, coef, rtol=1e-5, atol=1e-5 * np.abs(coef).max())
    np.testing.assert_allclose(fit.intercept, intercept, rtol=1e-5, atol=1e-5 * np.abs(intercept).max())
    np.testing.assert_allclose(fit.predict(x), x @ coef + intercept, rtol=1e-4, atol=1e-4)


def test_folds_keep_repeats_together_and_bad_input_is_refused():
    _, _, groups = _problem()
    folds = grouped_kfold(groups, 4, seed=0)
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(len(groups)))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    with pytest.raises(ValueError, match="3 stimuli cannot fill 5 cross-validation folds"):
        grouped_kfold(np.repeat([1, 2, 3], 3), 5)
    x, y, groups = _problem()
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match="features hold 1 NaN"):
        ridge_cv(x, y, ALPHAS, grouped_kfold(groups, 3))


def test_ridge_cv_picks_the_same_alphas_as_himalaya():
    himalaya = pytest.importorskip("himalaya.ridge")
    x, y, groups = _problem(seed=3, n=150, d=20, v=60)
    folds = grouped_kfold(groups, 5, seed=2)
    ours = ridge_cv(x, y, ALPHAS, folds)
    theirs = himalaya.RidgeCV(alphas=ALPHAS, fit_intercept=True, cv=folds).fit(x, y)
    np.testing.assert_allclose(ours.alpha, np.asarray(theirs.best_alphas_), rtol=1e-9)  # himalaya: exp(log α)
    np.testing.assert_allclose(ours.coef, np.asarray(theirs.coef_), rtol=1e-4, atol=1e-4 * np.abs(ours.coef).max())


def test_torch_encoder_matches_the_fit_and_its_image_gradient_matches_finite_differences(tmp_path):
    import torch

    from cortexplorer.encoder import ImageEncoder, VoxelEncoder

    x, y, groups = _problem(seed=5, n=90, d=8, v=12)
    fit = ridge_cv(x, y, ALPHAS, grouped_kfold(groups, 3))
    ijk = np.arange(36).reshape(12, 3)
    enc = VoxelEncoder.from_fit(fit, ijk)
    np.testing.assert_allclose(
        enc(torch.as_tensor(x, dtype=torch.float32)).numpy(),
        fit.predict(x),
        rtol=1e-6,
        atol=1e-6 * np.abs(fit.predict(x)).max(),
    )
    enc.save(tmp_path / "enc.pt")
    back = VoxelEncoder.load(tmp_path / "enc.pt")
    assert torch.equal(back.weight, enc.weight) and torch.equal(back.voxel_ijk, enc.voxel_ijk)
    with pytest.raises(ValueError, match="region has no voxels"):
        enc.select(np.array([], dtype=int))
    # a tiny backbone: the gradient of a region's mean predicted response w.r.t. the image
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 8)
    ).double()
    model = ImageEncoder(backbone, enc.select([1, 4, 7])).double()
    image = torch.rand(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    model(image).mean().backward()
    grad = image.grad.numpy().ravel()
    eps = 1e-6
    numeric = []
    for i in range(0, grad.size, 17):
        step = torch.zeros_like(image).view(-1)
        step[i] = eps
        up = model(image.detach() + step.view_as(image)).mean().item()
        down = model(image.detach() - step.view_as(image)).mean().item()
        numeric.append((up - down) / (2 * eps))
    np.testing.assert_allclose(grad[::17], numeric, rtol=1e-5, atol=1e-9)


def test_held_out_scores_against_hand_values():
    from cortexplorer.encoder import held_out_scores

    measured = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]])
    predicted = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [4.0, 0.0]])
    s = held_out_scores(predicted, measured, noise_ceiling_percent=np.array([50.0, 50.0]))
    np.testing.assert_allclose(s["r"], [1.0, np.corrcoef(predicted[:, 1], measured[:, 1])[0, 1]])
    np.testing.assert_allclose(s["r2"], [1.0, 1 - 20 / 5])  # SSE 1+1+9+9, SST 5
    np.testing.assert_allclose(s["r2_noise_normalised"], [1.0, 0.0])  # capped at 1; negative r counts as 0


def _brute_loo(x, y, alphas, fit_intercept=True):
    """Literal leave-one-out: drop each row, refit (with an intercept), predict the dropped row; then refit."""
    n, n_feat = x.shape
    mse = np.zeros((len(alphas), y.shape[1]))
    for k, a in enumerate(alphas):
        for i in range(n):
            keep = np.arange(n) != i
            xm = x[keep].mean(0) if fit_intercept else np.zeros(n_feat)
            ym = y[keep].mean(0) if fit_intercept else np.zeros(y.shape[1])
            xt = x[keep] - xm
            b = np.linalg.solve(xt.T @ xt + a * np.eye(n_feat), xt.T @ (y[keep] - ym))
            mse[k] += ((x[i] - xm) @ b + ym - y[i]) ** 2 / n
    best = alphas[np.argmin(mse, axis=0)]
    xm = x.mean(0) if fit_intercept else np.zeros(n_feat)
    ym = y.mean(0) if fit_intercept else np.zeros(y.shape[1])
    xc = x - xm
    coef = np.stack(
        [np.linalg.solve(xc.T @ xc + best[v] * np.eye(n_feat), xc.T @ (y[:, v] - ym[v])) for v in range(y.shape[1])],
        axis=1,
    )
    return best, coef, ym - xm @ coef, mse


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ridge_loo_equals_brute_force(dtype, fit_intercept):
    x, y, _ = _problem(seed=7, n=60, d=10, v=30)
    y = y.astype(dtype)  # float32 responses take the float32 path; the reference is float64 on the same values
    fit = ridge_cv(x, y, ALPHAS, "loo", fit_intercept=fit_intercept, voxel_chunk=16)  # two voxel chunks
    best, coef, intercept, mse = _brute_loo(x, y.astype(np.float64), ALPHAS, fit_intercept)
    np.testing.assert_allclose(fit.cv_mse, mse, rtol=1e-5 if dtype == np.float32 else 1e-10)
    np.testing.assert_array_equal(fit.alpha, best)
    assert len(np.unique(fit.alpha)) >= 3  # the grid is really used per voxel
    np.testing.assert_allclose(fit.coef, coef, rtol=1e-5, atol=1e-5 * np.abs(coef).max())
    np.testing.assert_allclose(fit.intercept, intercept, rtol=1e-5, atol=1e-5 * np.abs(intercept).max())
    with pytest.raises(ValueError, match=r"list of .* or 'loo', not 'lOO'"):
        ridge_cv(x, y, ALPHAS, "lOO")


def test_ridge_loo_picks_the_same_alphas_as_sklearn():
    from sklearn.linear_model import RidgeCV

    x, y, _ = _problem(seed=11, n=200, d=25, v=80)
    ours = ridge_cv(x, y.astype(np.float32), ALPHAS, "loo")
    theirs = RidgeCV(alphas=ALPHAS, fit_intercept=True, alpha_per_target=True, store_cv_results=True).fit(x, y)
    np.testing.assert_array_equal(ours.alpha, theirs.alpha_)
    assert len(np.unique(ours.alpha)) >= 3
    np.testing.assert_allclose(ours.cv_mse, theirs.cv_results_.mean(0).T, rtol=1e-5)  # n × V × K squared LOO errors
    np.testing.assert_allclose(ours.coef, theirs.coef_.T, rtol=1e-4, atol=1e-5 * np.abs(ours.coef).max())
    np.testing.assert_allclose(ours.intercept, theirs.intercept_, rtol=1e-4, atol=1e-5 * np.abs(ours.intercept).max())
