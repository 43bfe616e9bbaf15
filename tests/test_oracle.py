"""Oracle building blocks against known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cortexplorer.oracle import (
    OracleClassifier,
    OracleSettings,
    contrast_energy_maps,
    load_oracle,
    rf_energy,
    train_oracle,
)
from cortexplorer.oracle.energy import rf_weights


def test_rf_weights_are_normalised_gaussians():
    centre = lambda px: (px + 0.5) / 32  # noqa: E731 (pixel centre as an image fraction)
    w = rf_weights(32, np.array([centre(8), 0.5]), np.array([centre(20), 0.75]), np.array([0.05, 0.1])).numpy()
    assert np.allclose(w.sum(axis=(1, 2)), 1, atol=1e-5)
    assert np.unravel_index(w[0].argmax(), w[0].shape) == (20, 8)  # (row = y, column = x)


def test_uniform_image_has_no_contrast_energy():
    flat = np.full((1, 32, 32, 3), 128, np.uint8)
    maps = contrast_energy_maps(flat)
    assert float(maps.max()) < 1e-3


def test_rf_energy_follows_the_stimulus_location():
    """A grating on the left drives a left RF more than a right RF; contrast raises energy."""
    img = np.full((2, 64, 64, 3), 128, np.uint8)
    x = np.arange(64)
    grating = (128 + 100 * np.sign(np.sin(2 * np.pi * x / 8)))[None, :].repeat(64, 0)
    img[0, :, :32] = grating[:, :32, None]
    img[1, :, :32] = (128 + 0.3 * (grating[:, :32] - 128))[..., None]
    e = rf_energy(img, np.array([0.25, 0.75]), np.array([0.5, 0.5]), np.array([0.08, 0.08]), np.array([0, 0]))
    assert e[0, 0] > 5 * e[0, 1]
    assert e[0, 0] > e[1, 0] > 0


def test_oracle_learns_the_world(tmp_path):
    """Even a tiny, briefly trained oracle separates the categories far above chance (1/6)."""
    settings = OracleSettings(categories=("face", "place", "word"), image_size=32, seed=5, n_train=600,
                              n_heldout=150, epochs=3, batch_size=32, learning_rate=0.003, width=8, temperature=1.0,
                              device="cpu")
    outputs = {"model": str(tmp_path / "o.pt"), "metrics": str(tmp_path / "m.tsv"),
               "provenance": str(tmp_path / "p.json")}
    acc = train_oracle(inputs={}, outputs=outputs, settings=settings)
    assert acc > 0.8
    metrics = pd.read_csv(tmp_path / "m.tsv", sep="\t")
    assert set(metrics["category"]) == {"all", "face", "place", "word"}
    model = load_oracle(tmp_path / "o.pt")
    ev = model.evidence(np.zeros((3, 32, 32, 3), np.uint8))
    assert ev.shape == (3, 3) and np.allclose(ev.sum(1), 1, atol=1e-5)


def test_preprocess_downsamples_large_images():
    x = OracleClassifier.preprocess(np.zeros((2, 128, 128, 3), np.uint8))
    assert x.shape == (2, 3, 32, 32)
    assert torch.allclose(x, torch.full_like(x, -2.0))

