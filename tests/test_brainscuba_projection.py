"""BrainSCUBA's soft convex projection: the streamed computation against the dense one, analytic
cases, bounded memory, and the errors at the door."""

from __future__ import annotations

import logging
import tracemalloc

import numpy as np
import pytest
import torch

from cortexplorer.brainscuba.projection import (
    BRAINSCUBA_TEMPERATURE,
    dense_projection,
    disjoint_bank_samples,
    iter_bank_chunks,
    project_voxels,
)
from cortexplorer.io.hdf5 import write_h5

torch.set_num_threads(1)


def chunks(bank: np.ndarray, rows: int):
    return (bank[i:i + rows] for i in range(0, len(bank), rows))


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    # raw embeddings with varied norms (CLIP ViT-B/32 image embeddings have norms around 10)
    bank = (rng.standard_normal((3000, 64)) * rng.uniform(5, 15, (3000, 1))).astype(np.float32)
    weights = rng.standard_normal((50, 64)).astype(np.float32)
    return weights, bank


@pytest.mark.parametrize("temperature", [150.0, 1.0])
def test_streamed_equals_dense(problem, temperature):
    weights, bank = problem
    dense = dense_projection(weights, bank, temperature=temperature)
    streamed = project_voxels(weights, chunks(bank, 97), temperature=temperature, chunk_voxels=16)
    diff = np.abs(streamed.projected - dense.projected).max()
    size = np.linalg.norm(dense.projected, axis=1).mean()
    print(f"\nτ = {temperature}: max |streamed − dense| = {diff:.2e} (mean |p| {size:.1f}), "
          f"median effective images {np.median(dense.effective_images):.1f}")
    assert diff < 1e-5
    np.testing.assert_allclose(streamed.effective_images, dense.effective_images, rtol=1e-9)
    assert streamed.n_bank_rows == 3000 and streamed.n_dropped_bank_rows == 0 and len(streamed.skipped_voxels) == 0
    assert streamed.projected.dtype == np.float32 and streamed.projected.shape == (50, 64)


def test_independent_of_chunking_and_row_order(problem):
    weights, bank = problem
    ref = project_voxels(weights, [bank], chunk_voxels=50, temperature=BRAINSCUBA_TEMPERATURE).projected
    for rows, vox in [(97, 7), (1000, 50), (2999, 3)]:
        np.testing.assert_allclose(project_voxels(weights, chunks(bank, rows), chunk_voxels=vox, temperature=BRAINSCUBA_TEMPERATURE).projected, ref,
                                   atol=1e-6, rtol=0)
    perm = np.random.default_rng(1).permutation(len(bank))
    np.testing.assert_allclose(project_voxels(weights, chunks(bank[perm], 97), temperature=BRAINSCUBA_TEMPERATURE).projected, ref, atol=1e-6, rtol=0)


def test_single_direction_bank_returns_it_at_the_mean_norm():
    rng = np.random.default_rng(2)
    direction = rng.standard_normal(32)
    direction /= np.linalg.norm(direction)
    norms = rng.uniform(2, 20, 500)
    bank = norms[:, None] * direction
    out = project_voxels(rng.standard_normal((10, 32)), chunks(bank, 64), temperature=BRAINSCUBA_TEMPERATURE)
    # every row has the same cosine with a voxel, so the softmax is uniform: the norm is the bank's mean norm
    np.testing.assert_allclose(out.projected, np.tile(norms.mean() * direction, (10, 1)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.effective_images, 500, rtol=1e-9)


def test_very_large_temperature_picks_the_nearest_bank_image(problem):
    weights, bank = problem
    out = project_voxels(weights, chunks(bank, 97), temperature=1e6)
    w_hat = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    nearest = bank[np.argmax(w_hat @ (bank / np.linalg.norm(bank, axis=1, keepdims=True)).T, axis=1)]
    np.testing.assert_allclose(out.projected, nearest, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.effective_images, 1, atol=1e-6)


def synthetic_bank(n_rows: int, dim: int = 64, rows: int = 1000):
    """Chunks made on the fly: the bank never exists in memory as a whole."""
    for i in range(0, n_rows, rows):
        yield np.random.default_rng(i).standard_normal((min(rows, n_rows - i), dim), dtype=np.float32)


def test_peak_memory_does_not_grow_with_the_bank():
    weights = np.random.default_rng(3).standard_normal((50, 64))
    peaks = {}
    tracemalloc.start()
    try:
        for n_rows in (20_000, 200_000):
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            out = project_voxels(weights, synthetic_bank(n_rows), chunk_voxels=25, temperature=BRAINSCUBA_TEMPERATURE)
            peaks[n_rows] = tracemalloc.get_traced_memory()[1] - base
            assert out.n_bank_rows == n_rows
    finally:
        tracemalloc.stop()
    print(f"\ntraced peak: 20k rows {peaks[20_000] / 1e6:.3f} MB, 200k rows {peaks[200_000] / 1e6:.3f} MB "
          f"(the 200k bank alone would be {200_000 * 64 * 4 / 1e6:.0f} MB in float32)")
    assert peaks[200_000] < 1.5 * peaks[20_000]


def test_zero_bank_rows_are_dropped_and_counted(problem):
    weights, bank = problem
    dirty = bank.copy()
    dirty[[0, 5, 2000]] = 0
    dirty[7, 3] = np.nan
    out = project_voxels(weights, chunks(dirty, 97), temperature=BRAINSCUBA_TEMPERATURE)
    clean = np.delete(bank, [0, 5, 7, 2000], axis=0)
    assert out.n_bank_rows == 3000 and out.n_dropped_bank_rows == 4
    np.testing.assert_allclose(out.projected, dense_projection(weights, clean, temperature=BRAINSCUBA_TEMPERATURE).projected, atol=1e-5, rtol=0)


def test_zero_voxel_row_is_skipped_with_a_warning(problem, caplog):
    weights, bank = problem
    w = weights.copy()
    w[[3, 40]] = 0
    w[10, 0] = np.inf
    with caplog.at_level(logging.WARNING, logger="cortexplorer.brainscuba.projection"):
        out = project_voxels(w, chunks(bank, 500), temperature=BRAINSCUBA_TEMPERATURE)
    assert out.skipped_voxels.tolist() == [3, 10, 40]
    assert np.isnan(out.projected[[3, 10, 40]]).all() and np.isnan(out.effective_images[[3, 10, 40]]).all()
    assert np.isfinite(np.delete(out.projected, [3, 10, 40], axis=0)).all()
    assert "3 of 50 voxels" in caplog.text and "[3, 10, 40]" in caplog.text


def test_errors(problem):
    weights, bank = problem
    with pytest.raises(ValueError, match=r"D = 32 but the encoder weights have D = 64"):
        project_voxels(weights, [bank[:, :32]], temperature=BRAINSCUBA_TEMPERATURE)
    with pytest.raises(ValueError, match="transposed"):
        project_voxels(weights.T, [bank], temperature=BRAINSCUBA_TEMPERATURE)
    with pytest.raises(ValueError, match="empty"):
        project_voxels(weights, [], temperature=BRAINSCUBA_TEMPERATURE)
    with pytest.raises(ValueError, match="All 10 bank rows have zero"):
        project_voxels(weights, [np.zeros((10, 64))], temperature=BRAINSCUBA_TEMPERATURE)
    with pytest.raises(ValueError, match="must be 2-D"):
        project_voxels(weights[0], [bank], temperature=BRAINSCUBA_TEMPERATURE)


def test_iter_bank_chunks_reads_npy_and_hdf5_shards(tmp_path, problem):
    _, bank = problem
    np.save(tmp_path / "a.npy", bank[:1000])
    np.save(tmp_path / "b.npy", bank[1000:1700].astype(np.float16))
    write_h5(tmp_path / "c.h5", {"features": bank[1700:]})
    paths = [tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "c.h5"]
    expected = np.concatenate([bank[:1000], bank[1000:1700].astype(np.float16), bank[1700:]])
    got = list(iter_bank_chunks(paths, chunk_rows=300, dataset="features"))
    assert max(len(c) for c in got) == 300
    np.testing.assert_array_equal(np.concatenate(got), expected)
    rows = disjoint_bank_samples(3000, 2, 400, rng=0)[1]
    np.testing.assert_array_equal(np.concatenate(list(iter_bank_chunks(paths, 128, rows=rows, dataset="features"))), expected[rows])
    with pytest.raises(FileNotFoundError, match=r"missing\.npy"):
        iter_bank_chunks([*paths, tmp_path / "missing.npy"], 300, dataset="features")
    with pytest.raises(ValueError, match="no dataset 'emb'"):
        iter_bank_chunks(paths, 300, dataset="emb")


def test_disjoint_bank_samples():
    samples = disjoint_bank_samples(1000, 5, 200, rng=42)
    assert [len(s) for s in samples] == [200] * 5
    assert len(np.unique(np.concatenate(samples))) == 1000
    assert all((np.diff(s) > 0).all() for s in samples)
    with pytest.raises(ValueError, match="need 1200 bank rows but the bank has 1000"):
        disjoint_bank_samples(1000, 6, 200, rng=0)
