"""The demo's judge of its image prior, against known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import linalg

from cortexplorer.models.prior_quality import at_prior_resolution, frechet_distance, prior_quality, total_variation

CATEGORIES = ["face", "place", "body"]


def test_frechet_distance_matches_the_closed_form_of_two_fitted_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 5)) @ rng.standard_normal((5, 5)) + 1.0
    b = rng.standard_normal((3000, 5)) @ rng.standard_normal((5, 5)) - 0.5
    # brute force by another route: Tr((Σa Σb)^½) = Σ √eig(Σa^½ Σb Σa^½), a symmetric PSD matrix
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    half = linalg.sqrtm(ca).real
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(half @ cb @ half), 0, None)).sum()
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca) + np.trace(cb) - 2 * cross
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # two large samples of N(0, I) and N(μ, 4I) in 3 dims: ‖μ‖² + 3 (2 − 1)² analytically
    x, y = rng.standard_normal((200_000, 3)), 2 * rng.standard_normal((200_000, 3)) + np.array([1.0, 2.0, 0.0])
    print(f"\nFréchet N(0,I) vs N(μ,4I): {frechet_distance(x, y):.4f} (analytic 8.0)")
    assert frechet_distance(x, y) == pytest.approx(5.0 + 3.0, rel=0.01)


def test_frechet_distance_refuses_mismatched_sets():
    with pytest.raises(ValueError, match=r"two sets of ≥ 2 feature rows of one width, not \(3, 2\) and \(3, 4\)"):
        frechet_distance(np.zeros((3, 2)), np.zeros((3, 4)))


def test_total_variation_over_the_union_of_categories():
    p = pd.Series({"face": 0.5, "place": 0.5})
    q = pd.Series({"face": 0.25, "body": 0.75})
    assert total_variation(p, q) == pytest.approx(0.5 * (0.25 + 0.5 + 0.75))
    assert total_variation(p, p) == 0.0


def _planted(labels: list[int], rng) -> np.ndarray:
    """uint8 images whose first pixel's red value names the category; the rest is noise."""
    images = rng.integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = np.asarray(labels, dtype=np.uint8)
    return images


def test_prior_quality_recovers_planted_distributions_and_agreement():
    rng = np.random.default_rng(1)
    world = _planted([i % 3 for i in range(600)], rng)  # balanced
    samples = _planted([0] * 150 + [1] * 100 + [2] * 50, rng)  # 0.5 / 0.33 / 0.17

    def probabilities(images):
        p = np.full((len(images), 3), 0.1)
        p[np.arange(len(images)), images[:, 0, 0, 0]] = 0.8
        return p

    def features(images):
        return np.stack([images[:, 0, 0, 0], images[:, 1, 1, 1] / 255.0], axis=1).astype(float)

    def second_judge(images):  # agrees except on every tenth image
        names = np.asarray(CATEGORIES, dtype=object)[images[:, 0, 0, 0]]
        names[::10] = "other"
        return names

    q = prior_quality(samples, world, categories=CATEGORIES, oracle_probabilities=probabilities,
                      oracle_features=features, second_judge=second_judge)
    rows = q.summary.set_index("measure")
    assert rows.loc["category total variation (oracle)", "samples"] == pytest.approx(0.5 * (1 / 6 + 0 + 1 / 6))
    assert rows.loc["mean top-class probability (oracle)", ["samples", "world"]].tolist() == pytest.approx([0.8, 0.8])
    assert rows.loc["second judge agrees with the oracle", "samples"] == pytest.approx(0.9)
    assert rows.loc["second judge agrees with the oracle", "world"] == pytest.approx(0.9)
    fd = rows.loc["Fréchet distance in oracle features", ["samples", "world"]].to_numpy()
    assert fd[0] > 10 * fd[1]  # a skewed category mix is far from the world; two halves of the world are close
    assert q.categories.set_index("category")["samples"].tolist() == pytest.approx([0.5, 1 / 3, 1 / 6])


def test_world_images_reach_the_judges_at_the_prior_resolution():
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    images = blocks.repeat(2, axis=1).repeat(2, axis=2)  # 32 px of 2 × 2 constant blocks
    assert np.array_equal(at_prior_resolution(images, 16), blocks)  # area averaging of equal pixels: exact
    assert np.array_equal(at_prior_resolution(blocks, 16), blocks)  # already at the prior's size: unchanged
    assert at_prior_resolution(images, 8).shape == (5, 8, 8, 3)


def test_the_cnn_trains_on_what_the_judge_shows_it_of_a_half_size_image():
    """Half the demo CNN's batches are seen at half resolution, exactly as :func:`cnn_labeller` shows it a 32-px
    sample (area-averaged to 32 px, bilinear back to 64): up to the 32-px image's uint8 rounding."""
    import torch

    from cortexplorer.models.demo_cnn import _augment, half_resolution
    from cortexplorer.models.prior_quality import cnn_labeller

    images = np.random.default_rng(4).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    seen = {}

    class Recorder(torch.nn.Module):  # a "CNN" that records what the labeller feeds it
        mean = torch.zeros(1)

        def forward(self, batch):
            seen["x"] = batch
            return torch.zeros(len(batch), 2)

    cnn_labeller(Recorder(), ["a", "b"], 64)(at_prior_resolution(images, 32))
    assert seen["x"].shape == x.shape
    assert (half_resolution(x) - seen["x"]).abs().max() <= 0.5 / 255 + 1e-6
    assert (half_resolution(x) - x).abs().max() > 0.1  # not the identity on random pixels
    for seed in range(6):  # same draws, then the extra one: with fraction 1 every batch, with 0 none
        plain = _augment(x, np.random.default_rng(seed), 4, 0.0)
        assert torch.equal(_augment(x, np.random.default_rng(seed), 4, 1.0), half_resolution(plain))
