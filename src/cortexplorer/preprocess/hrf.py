"""HRFs and single-trial regressors.

The canonical HRF is SPM's double gamma (shape 6, undershoot 16 s, ratio 1/6; peak at 5.0 s). The
library is a one-parameter family of the same form with the response delay moved from earlier
to later than canonical (impulse responses peaking at 3.6–7.4 s) — the axis along which
GLMsingle's NSD-derived library varies. Each HRF is convolved with the trial's boxcar and scaled so that
a boxcar of the nominal trial duration peaks at 1: a beta is then the response amplitude at the
peak, in the data's units (GLMsingle's convention).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import gamma

DT = 0.05  # s, fine grid for convolution
HRF_LENGTH = 32.0


def double_gamma(t: np.ndarray, delay: float = 6.0, undershoot: float = 16.0, ratio: float = 1 / 6,
                 dispersion: float = 1.0) -> np.ndarray:
    """SPM-form HRF: Γ(delay/disp, disp) − ratio·Γ(undershoot/disp, disp), unit area."""
    h = gamma.pdf(t, delay / dispersion, scale=dispersion) - ratio * gamma.pdf(t, undershoot / dispersion, scale=dispersion)
    return h / h.sum()


def canonical_hrf(t: np.ndarray) -> np.ndarray:
    return double_gamma(t)


def hrf_library(t: np.ndarray, n: int = 20, delays: tuple[float, float] = (4.5, 8.5)) -> np.ndarray:
    """``n`` HRFs (n × len(t)) whose peak moves from 3.6 to 7.4 s; the undershoot follows 10 s later."""
    return np.stack([double_gamma(t, d, d + 10.0, 1 / 6, 0.9 + 0.2 * (d - delays[0]) / (delays[1] - delays[0]))
                     for d in np.linspace(*delays, n)])


def hrf_time() -> np.ndarray:
    return np.arange(0, HRF_LENGTH, DT)


def trial_kernels(hrfs: np.ndarray, duration: float, nominal_duration: float) -> np.ndarray:
    """Each HRF (H × t) convolved with a ``duration`` boxcar, scaled so a ``nominal_duration`` one peaks at 1."""
    def conv(d: float) -> np.ndarray:
        box = np.ones(max(1, round(d / DT)))
        return np.stack([np.convolve(h, box)[: hrfs.shape[1] + len(box) - 1] for h in hrfs])

    nominal = conv(nominal_duration).max(axis=1)
    k = conv(duration)
    return k / nominal[:, None]


def trial_regressors(hrfs: np.ndarray, onsets: np.ndarray, durations: np.ndarray, n_volumes: int, tr: float,
                     start_time: float, nominal_duration: float | None = None) -> np.ndarray:
    """Regressors of every trial for every HRF: H × T × n.

    Volume ``m`` samples time ``m·TR + start_time``; trial j's regressor there is its kernel
    (boxcar ⊗ HRF) at ``m·TR + start_time − onset_j``, linearly interpolated on the fine grid.
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    durations = np.asarray(durations, dtype=np.float64)
    if nominal_duration is None:
        nominal_duration = float(np.median(durations)) if len(durations) else 1.0
    times = np.arange(n_volumes) * tr + start_time
    out = np.zeros((hrfs.shape[0], n_volumes, len(onsets)))
    for d in np.unique(durations):
        kernels = trial_kernels(hrfs, float(d), nominal_duration)
        grid = np.arange(kernels.shape[1]) * DT
        cols = np.flatnonzero(durations == d)
        lag = times[:, None] - onsets[None, cols]  # T × n_d
        for h in range(hrfs.shape[0]):
            out[h][:, cols] = np.interp(lag, grid, kernels[h], left=0.0, right=0.0)
    return out
