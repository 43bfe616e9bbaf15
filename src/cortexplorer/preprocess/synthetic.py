"""A planted NSD-session-shaped problem for benchmarks and tests of the single-trial recipe.

12 runs × 226 volumes at TR 4/3 s (NSD's preprocessed timing), 250 images × 3 repeats (3-s images
on a 4-s grid with blank slots), 30 % responsive voxels each with an HRF from the library, five
shared physiological sources, AR(1) noise and a linear drift; data in % signal change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cortexplorer.preprocess.hrf import hrf_library, hrf_time, trial_regressors
from cortexplorer.preprocess.recipe import RunData

N_RUNS, N_VOL, TR, N_IMAGES, N_PHYSIO = 12, 226, 4 / 3, 250, 5


@dataclass
class PlantedSession:
    runs: list[RunData]
    truth: np.ndarray  # trials × V, true betas
    responsive: np.ndarray  # V bool
    hrf_of_voxel: np.ndarray  # V, library index


def nsd_like_session(n_vox: int, seed: int) -> PlantedSession:
    rng = np.random.default_rng(seed)
    lib = hrf_library(hrf_time())
    hrf_of_voxel = rng.integers(0, len(lib), n_vox)
    responsive = rng.random(n_vox) < 0.3
    image_resp = rng.normal(1.0, 1.0, (N_IMAGES, n_vox)) * (rng.uniform(0.5, 2.0, n_vox) * responsive)
    order = rng.permutation(np.repeat(np.arange(N_IMAGES), 3))
    physio_load = rng.normal(0, 0.7, (N_PHYSIO, n_vox))
    drift_basis = np.polynomial.legendre.legvander(np.linspace(-1, 1, N_VOL), 2)
    runs, truth = [], []
    for r, chunk in enumerate(np.array_split(order, N_RUNS)):
        slots = np.sort(rng.choice(int(N_VOL * TR // 4) - 4, len(chunk), replace=False))
        onsets = 4.0 + 4.0 * slots
        x = trial_regressors(lib, onsets, np.full(len(chunk), 3.0), N_VOL, TR, TR / 2)
        amp = image_resp[chunk]
        data = np.zeros((N_VOL, n_vox), np.float32)
        for h in range(len(lib)):
            sel = hrf_of_voxel == h
            data[:, sel] = x[h] @ amp[:, sel]
        eps = rng.standard_normal((N_VOL, n_vox), dtype=np.float32) * 2.0
        ar = np.zeros_like(eps)
        for t in range(N_VOL):
            ar[t] = 0.4 * ar[t - 1] + eps[t] if t else eps[t]
        physio = rng.standard_normal((N_VOL, N_PHYSIO)) @ physio_load
        drift = np.linspace(-1, 1, N_VOL)[:, None] * rng.normal(0, 1, n_vox)
        runs.append(RunData(data=(data + ar + physio + drift).astype(np.float32), onsets=onsets,
                            durations=np.full(len(chunk), 3.0), conditions=np.array([f"img{i}" for i in chunk]),
                            nuisance=drift_basis, session=1, run=r + 1, tr=TR, start_time=TR / 2))
        truth.append(amp)
    return PlantedSession(runs=runs, truth=np.vstack(truth), responsive=responsive, hrf_of_voxel=hrf_of_voxel)
