"""Single-trial betas in the spirit of GLMsingle (Prince et al. 2022), vectorised across voxels.

Steps, each switchable, each kept so it can be compared with the next:

1. ``assumehrf`` — the canonical HRF, one regressor per trial (LSA, or LSS in closed form).
2. ``fithrf`` — every voxel takes the HRF of a library that fits it best (highest R² of the
   single-trial model over all runs).
3. ``…_glmdenoise`` — noise regressors: per run, the principal components of a noise pool
   (voxels with a reliable mean signal and no task response), their number chosen by
   leave-one-run-out cross-validation of the betas of repeated stimuli (GLMdenoise's rule:
   the fewest components within ``pcstop`` of the best gain).
4. ``…_rr`` — fractional ridge per voxel (Rokem & Kay 2020): the fraction of the OLS beta norm
   is chosen per voxel by the same cross-validation, then the betas are rescaled to the OLS
   ones (GLMsingle's autoscale).

Because trial regressors belong to one run and drift/confound/noise regressors are per run,
the all-runs model is block diagonal: each run is fitted on its own, and the one big product
per fit is ``X̃ᵀY`` (trials × voxels). Nuisance columns are projected out of the design, not
out of the data (the residual-forming matrix is idempotent). Data enter in percent signal
change of each run's mean, so betas are % signal change at the HRF peak.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cortexplorer.preprocess.hrf import canonical_hrf, hrf_library, hrf_time, trial_regressors
from cortexplorer.preprocess.noise_ceiling import zscore_per_session
from cortexplorer.preprocess.settings import RecipeSettings
from cortexplorer.preprocess.singletrial import lss_betas

log = logging.getLogger(__name__)


@dataclass
class RunData:
    """One run ready for fitting."""

    data: np.ndarray  # T × V float32, percent signal change about the run mean
    onsets: np.ndarray
    durations: np.ndarray
    conditions: np.ndarray  # stimulus id per trial
    nuisance: np.ndarray  # T × k, drift (with the constant) and confounds
    session: int
    run: int
    tr: float
    start_time: float
    label: str = ""  # the run's name in messages, e.g. sub-01_ses-01_task-nsd_run-01


@dataclass
class RecipeResult:
    steps: dict[str, np.ndarray]  # name -> trials × V float32 (% signal change), in order
    hrf_index: np.ndarray  # V
    r2: np.ndarray  # V, % of the nuisance-free variance explained by the unregularised single-trial model
    #                 with the voxel's HRF and the chosen noise components (GLMsingle's R²; ridge not included)
    onoff_r2: np.ndarray  # V, %
    noise_pool: np.ndarray  # V bool
    pc_voxels: np.ndarray  # V bool
    pcnum: int
    xval_pcs: np.ndarray  # −median badness per number of components
    frac: np.ndarray  # V (1 when ridge is off)
    scale_offset: np.ndarray  # V × 2
    hrfs: np.ndarray  # H × t
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def final(self) -> np.ndarray:
        return self.steps[list(self.steps)[-1]]


# ----------------------------------------------------------------------------------------------
# Linear algebra per run


def _orth(nuisance: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(nuisance)
    keep = np.abs(np.diag(r)) > 1e-10 * max(1.0, np.abs(np.diag(r)).max())
    return q[:, keep]


class _RunFit:
    """Per-run quantities reused across fits: the nuisance basis and the data's residual power."""

    def __init__(self, run: RunData, extra: np.ndarray | None = None):
        n = run.nuisance if extra is None or extra.shape[1] == 0 else np.column_stack([run.nuisance, extra])
        self.run = run
        self.q = _orth(n)
        self.qy = self.q.T.astype(np.float32) @ run.data  # k × V
        self.ssy = np.einsum("tv,tv->v", run.data, run.data, dtype=np.float64) - np.einsum(
            "kv,kv->v", self.qy, self.qy, dtype=np.float64)

    def residualize(self, x: np.ndarray) -> np.ndarray:
        return x - self.q @ (self.q.T @ x)


def _singular_message(g: np.ndarray, rf: _RunFit) -> str:
    """Why a run's trial design cannot be fitted: trials sharing an onset, or the first trial whose
    regressor the earlier trials and the nuisance columns explain."""
    run = rf.run
    name = run.label or f"session {run.session}, run {run.run}"
    head = f"The single-trial design of run {name} is singular"
    fix = ("Fix the run's events (one trial per onset) or lower its nuisance model (preprocess.confounds: "
           "polynomial_degree, motion, compcor, columns).")
    if g.shape[0] == len(run.onsets):
        onsets, counts = np.unique(np.round(run.onsets, 6), return_counts=True)
        shared = onsets[counts > 1]
        if len(shared):
            who = [f"{o:g} s ({', '.join(run.conditions[np.isclose(run.onsets, o)].astype(str))})" for o in shared[:5]]
            return f"{head}: trials share an onset at {'; '.join(who)}. {fix}"
        d = np.sqrt(np.clip(np.diag(g), 0.0, None))
        tiny = d <= 1e-6 * max(d.max(), 1e-300)
        for j in range(1, g.shape[0] + 1):
            if tiny[j - 1] or np.linalg.eigvalsh(g[:j, :j] / np.outer(d[:j], d[:j])).min() <= 1e-10:
                by = "" if tiny[j - 1] else "the earlier trials and "
                return (f"{head}: the regressor of trial {j} (onset {run.onsets[j - 1]:g} s, "
                        f"{run.conditions[j - 1]}) is explained by {by}the {rf.q.shape[1]} drift/confound/noise "
                        f"columns ({run.data.shape[0]} volumes). {fix}")
    return f"{head} ({run.data.shape[0]} volumes, {rf.q.shape[1]} drift/confound/noise columns). {fix}"


def _fit(x: np.ndarray, y: np.ndarray, rf: _RunFit, cols: np.ndarray | slice, estimator: str
         ) -> tuple[np.ndarray, np.ndarray]:
    """Betas (n × V_sel) and residual sum of squares of the LSA model for voxels ``cols``."""
    xt = rf.residualize(x)
    z = (xt.T.astype(np.float32) @ y[:, cols]).astype(np.float64)
    g = xt.T @ xt
    # Cholesky of the correlation form: its squared pivots are 1 − R² of each trial regressor on the
    # earlier ones, so an (exactly) collinear trial shows up as ~0 even where rounding keeps it positive
    d = np.sqrt(np.clip(np.diag(g), 0.0, None))
    try:
        if d.min() <= 1e-12 * max(d.max(), 1e-300):
            raise np.linalg.LinAlgError
        if np.diag(np.linalg.cholesky(g / np.outer(d, d))).min() ** 2 <= 1e-10:
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        raise ValueError(_singular_message(g, rf)) from None
    # numpy's own LAPACK + one GEMM: scipy's LAPACK here would alternate two OpenBLAS thread pools
    # with numpy's, which spin against each other on few cores (measured: 20× slower)
    beta_lsa = np.linalg.inv(g) @ z
    rss = rf.ssy[cols] - np.einsum("nv,nv->v", beta_lsa, z)
    if estimator == "lss":
        return lss_betas(xt, y[:, cols].astype(np.float64), None), rss
    return beta_lsa, rss


# ----------------------------------------------------------------------------------------------
# Cross-validation (GLMsingle's calcbadness, leave one run out)


class LeaveOneRunOut:
    """GLMsingle's cross-validation of single-trial betas (calcbadness), leave one run out.

    For each trial, the mean of the same stimulus's trials in the *other* runs is one sparse
    product ``P z`` (P holds 1/count for those trials), built once for the design.
    """

    def __init__(self, conditions: np.ndarray, runs: np.ndarray, sessions: np.ndarray):
        from scipy import sparse

        _, cond = np.unique(np.asarray(conditions).astype(str), return_inverse=True)
        runs = np.asarray(runs)
        self.sessions = np.asarray(sessions)
        rows, cols = [], []
        order = np.argsort(cond, kind="stable")
        bounds = np.flatnonzero(np.diff(cond[order])) + 1
        for group in np.split(order, bounds):
            if len(group) < 2:
                continue
            same_run = runs[group][:, None] == runs[group][None, :]
            i, j = np.nonzero(~same_run)
            rows.append(group[i])
            cols.append(group[j])
        n = len(cond)
        rows_a = np.concatenate(rows) if rows else np.zeros(0, int)
        cols_a = np.concatenate(cols) if cols else np.zeros(0, int)
        counts = np.bincount(rows_a, minlength=n).astype(float)
        self.valid = counts > 0
        weights = 1.0 / counts[rows_a] if len(rows_a) else np.zeros(0)
        self.p = sparse.csr_matrix((weights, (rows_a, cols_a)), shape=(n, n))
        if not self.valid.any():
            raise ValueError("No stimulus is shown in more than one run, so the recipe cannot cross-validate its "
                             "choices; switch off preprocess.recipe.noise_pcs and fracridge, or add repeats.")

    def badness(self, betas: np.ndarray) -> np.ndarray:
        """Σ over trials of (z − mean z of the same stimulus in other runs)², z-scored within session;
        trials of stimuli seen in one run only do not count.

        Each solution is z-scored with its own mean and SD, so the criterion judges the pattern
        across trials and not its scale: with the unregularised solution's statistics, ridge
        betas shrunk towards zero would score best however little signal they kept (measured:
        every voxel then picks the smallest fraction).
        """
        z = np.nan_to_num(zscore_per_session(betas, self.sessions), copy=False)  # a constant voxel scores 0
        err = (z - self.p @ z)[self.valid]
        return np.einsum("nv,nv->v", err, err)


def select_pcnum(xval: np.ndarray, pcstop: float) -> int:
    """GLMdenoise's rule: the fewest components whose gain over none, times ``pcstop``, reaches the best gain."""
    curve = xval - xval[0]
    best = curve.max()
    if best <= 0:
        return 0
    return int(np.flatnonzero(curve * pcstop >= best)[0])


def tail_threshold(values: np.ndarray, seed: int = 0) -> float:
    """Where a two-Gaussian mixture of ``values`` switches from the low to the high component
    (GLMsingle's findtailthreshold, used to split voxels by on-off R²)."""
    from sklearn.mixture import GaussianMixture

    v = values[np.isfinite(values)]
    rng = np.random.default_rng(seed)
    if len(v) > 50_000:
        v = rng.choice(v, 50_000, replace=False)
    gm = GaussianMixture(2, random_state=seed).fit(v[:, None])
    hi = int(np.argmax(gm.means_.ravel()))
    grid = np.linspace(np.percentile(v, 1), np.percentile(v, 99.9), 2000)
    post = gm.predict_proba(grid[:, None])[:, hi]
    lo_mean = float(gm.means_.ravel()[1 - hi])
    above = np.flatnonzero((post > 0.5) & (grid > lo_mean))
    return float(grid[above[0]]) if len(above) else float(np.percentile(v, 99))


# ----------------------------------------------------------------------------------------------
# The recipe


class _Progress:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.timings: dict[str, float] = {}

    def done(self, what: str, detail: str = "") -> None:
        now = time.perf_counter()
        self.timings[what] = now - self.last
        log.info("recipe: %s done in %.1f s (%.1f s so far)%s", what, now - self.last, now - self.t0,
                 f"; {detail}" if detail else "")
        self.last = now


class _Trials:
    """The trials of every run, their designs (one per library HRF) and each voxel's HRF group.

    The all-runs model is block diagonal, so every fit loops over runs and writes each run's
    rows ``bounds[i]:bounds[i + 1]`` of the trials × V betas.
    """

    def __init__(self, runs: Sequence[RunData], lib: np.ndarray, canon: np.ndarray, estimator: str) -> None:
        self.runs = runs
        self.estimator = estimator
        self.n_vox = runs[0].data.shape[1]
        self.nominal = float(np.median(np.concatenate([r.durations for r in runs])))
        self.conditions = np.concatenate([r.conditions for r in runs]).astype(str)
        self.sessions = np.concatenate([np.full(len(r.onsets), r.session) for r in runs])
        self.run_ids = np.concatenate([np.full(len(r.onsets), i) for i, r in enumerate(runs)])
        self.bounds = np.cumsum([0] + [len(r.onsets) for r in runs])
        self.n_trials = self.bounds[-1]
        self.canon_designs = [self.design(r, canon)[0] for r in runs]
        # one design per library HRF (or the canonical one alone)
        self.designs = [self.design(r, lib) for r in runs] if lib is not canon else [d[None] for d in self.canon_designs]
        self.groups: list[tuple[int, np.ndarray]] = []

    def design(self, r: RunData, hrfs: np.ndarray) -> np.ndarray:
        return trial_regressors(hrfs, r.onsets, r.durations, r.data.shape[0], r.tr, r.start_time, self.nominal)

    def cv(self) -> LeaveOneRunOut:
        return LeaveOneRunOut(self.conditions, self.run_ids, self.sessions)

    def set_hrf_index(self, hrf_index: np.ndarray, n_hrfs: int) -> None:
        groups = [(h, np.flatnonzero(hrf_index == h)) for h in range(n_hrfs)]
        self.groups = [(h, v) for h, v in groups if len(v)]

    def fit_hrf(self, fits: Sequence[_RunFit], designs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Betas (trials × V) and RSS of every voxel with one design per run."""
        b_all = np.zeros((self.n_trials, self.n_vox), dtype=np.float32)
        rss_all = np.zeros(self.n_vox)
        for i, (r, rf) in enumerate(zip(self.runs, fits, strict=True)):
            b, rss = _fit(designs[i], r.data, rf, slice(None), self.estimator)
            b_all[self.bounds[i]:self.bounds[i + 1]] = b
            rss_all += rss
        return b_all, rss_all

    def fit_all(self, fits: Sequence[_RunFit], voxels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Betas with each voxel's HRF (trials × V_sel) and their RSS, for voxels ``voxels`` (default all)."""
        n_vox = self.n_vox
        sel_mask = np.ones(n_vox, bool) if voxels is None else np.isin(np.arange(n_vox), voxels)
        idx_all = np.flatnonzero(sel_mask)
        pos = np.full(n_vox, -1)
        pos[idx_all] = np.arange(len(idx_all))
        out = np.zeros((self.n_trials, len(idx_all)), dtype=np.float32)
        rss_out = np.zeros(len(idx_all))
        for h, vox in self.groups:
            vox = vox[sel_mask[vox]]
            if not len(vox):
                continue
            for i, (r, rf) in enumerate(zip(self.runs, fits, strict=True)):
                b, rss = _fit(self.designs[i][h], r.data, rf, vox, self.estimator)
                out[self.bounds[i]:self.bounds[i + 1], pos[vox]] = b
                rss_out[pos[vox]] += rss
        return out, rss_out


def min_residual_dof(n_volumes: int) -> int:
    """Residual degrees of freedom a run's model must leave: 10% of its volumes, at least 5."""
    return max(5, int(np.ceil(0.1 * n_volumes)))


def _check_runs(runs: Sequence[RunData]) -> None:
    if not runs:
        raise ValueError("No runs with trials to fit.")
    n_vox = runs[0].data.shape[1]
    for r in runs:
        if r.data.shape[1] != n_vox:
            raise ValueError("Every run must hold the same voxels.")


def noise_component_caps(runs: Sequence[RunData], noise_pcs: int) -> list[int]:
    """Check every run's design before fitting; return how many noise components each run allows.

    A run of T volumes with n trials and k independent nuisance columns (drift and confounds) must keep
    ``min_residual_dof(T)`` residual degrees of freedom: a run that cannot is an error naming it and the
    counts; a run too short for ``noise_pcs`` components gets fewer (logged), as GLMdenoise would
    otherwise make its design singular.
    """
    caps = []
    for r in runs:
        t, n, cols = r.data.shape[0], len(r.onsets), r.nuisance.shape[1]
        k = _orth(r.nuisance).shape[1]
        dof = min_residual_dof(t)
        name = r.label or f"session {r.session}, run {r.run}"
        if n + k + dof > t:
            raise ValueError(
                f"Run {name} has {t} volumes, too few for its model: {n} trials + {k} independent nuisance columns "
                f"({cols} drift/confound columns) + {dof} residual degrees of freedom = {n + k + dof}. Lower the "
                "nuisance model (preprocess.confounds.polynomial_degree, motion, compcor or columns), or leave the "
                "run out.")
        cap = min(noise_pcs, t - n - k - dof)
        if cap < noise_pcs:
            log.info("%s: %d volumes − %d trials − %d nuisance columns − %d residual dof allow %d noise component(s) "
                     "(preprocess.recipe.noise_pcs asks for up to %d)", name, t, n, k, dof, cap, noise_pcs)
        caps.append(cap)
    return caps


def _onoff_r2(trials: _Trials, base_fits: Sequence[_RunFit], canon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """On-off model (all trials summed, canonical HRF): R² (%) of each voxel, and the total sum of squares."""
    ss_res = np.zeros(trials.n_vox)
    ss_tot = np.zeros(trials.n_vox)
    for r, rf in zip(trials.runs, base_fits, strict=True):
        x = trials.design(r, canon)[0].sum(1, keepdims=True)
        _, rss = _fit(x, r.data, rf, slice(None), "lsa")
        ss_res += rss
        ss_tot += rf.ssy
    return 100 * (1 - ss_res / np.maximum(ss_tot, 1e-12)), ss_tot


def _fit_library(trials: _Trials, base_fits: Sequence[_RunFit], n_hrfs: int, hrf_selection: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every voxel's best HRF of the library: its betas, the HRF index and the RSS with it."""
    n_vox, n_trials = trials.n_vox, trials.n_trials
    hrf_index = np.zeros(n_vox, dtype=np.int32)
    best_score = np.full(n_vox, np.inf)  # RSS of the model that picks the HRF
    final_rss = np.zeros(n_vox)  # RSS of the single-trial model with the picked HRF
    best = np.zeros((n_trials, n_vox), dtype=np.float32)
    for h in range(n_hrfs):
        b_h = np.zeros((n_trials, n_vox), dtype=np.float32)
        rss_h = np.zeros(n_vox)
        score_h = np.zeros(n_vox)
        for i, (r, rf) in enumerate(zip(trials.runs, base_fits, strict=True)):
            b, rss = _fit(trials.designs[i][h], r.data, rf, slice(None), trials.estimator)
            b_h[trials.bounds[i]:trials.bounds[i + 1]] = b
            rss_h += rss
            if hrf_selection == "onoff":
                score_h += _fit(trials.designs[i][h].sum(1, keepdims=True), r.data, rf, slice(None), "lsa")[1]
        if hrf_selection != "onoff":
            score_h = rss_h
        better = score_h < best_score
        best_score[better] = score_h[better]
        final_rss[better] = rss_h[better]
        hrf_index[better] = h
        best[:, better] = b_h[:, better]
        if (h + 1) % 5 == 0:
            log.info("recipe: HRF library %d/%d fitted", h + 1, n_hrfs)
    return best, hrf_index, final_rss


def _voxel_pools(onoff_r2: np.ndarray, mean_intensity: np.ndarray | None, settings: RecipeSettings
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The noise pool (bright voxels without a task response) and the responsive voxels that judge the CV."""
    n_vox = len(onoff_r2)
    r2_cut = settings.noise_pool_r2 if settings.noise_pool_r2 is not None else tail_threshold(onoff_r2, settings.seed)
    if mean_intensity is None:
        bright = np.ones(n_vox, bool)
    else:
        bright = mean_intensity > settings.brain_threshold * np.percentile(mean_intensity, 99)
    noise_pool = bright & (onoff_r2 < r2_cut)
    pc_voxels = onoff_r2 > r2_cut
    if pc_voxels.sum() < 100:
        pc_voxels = np.zeros(n_vox, bool)
        pc_voxels[np.argsort(onoff_r2)[-min(100, n_vox):]] = True
    log.info("recipe: on-off R² threshold %.2f%%: %d noise-pool voxels, %d responsive voxels judge the CV",
             r2_cut, int(noise_pool.sum()), int(pc_voxels.sum()))
    return noise_pool, pc_voxels


def _glmdenoise(trials: _Trials, base_fits: Sequence[_RunFit], noise_pool: np.ndarray, pc_voxels: np.ndarray,
                settings: RecipeSettings, caps: Sequence[int]) -> tuple[int, np.ndarray, list[_RunFit]]:
    """GLMdenoise: each run's noise-pool components, their number chosen by leave-one-run-out CV.
    Returns the number chosen, the CV curve and the per-run fits with those components (a run whose
    design allows fewer, ``caps``, keeps that many)."""
    if noise_pool.sum() < settings.noise_pcs + 1:
        raise ValueError(f"The noise pool has {int(noise_pool.sum())} voxels, too few for "
                         f"{settings.noise_pcs} components; lower preprocess.recipe.noise_pcs or set noise_pool_r2.")
    pcs = []
    for r, rf, cap in zip(trials.runs, base_fits, caps, strict=True):
        y = r.data[:, noise_pool].astype(np.float64)
        y = y - rf.q @ (rf.q.T @ y)
        y /= np.maximum(np.linalg.norm(y, axis=0), 1e-12)
        w, u = np.linalg.eigh(y @ y.T)
        u = u[:, np.argsort(w)[::-1][:cap]]
        pcs.append(u / u.std(0))
    pcv = np.flatnonzero(pc_voxels)
    cv = trials.cv()
    xval = np.zeros(settings.noise_pcs + 1)
    for p in range(settings.noise_pcs + 1):
        fits_p = base_fits if p == 0 else [_RunFit(r, pc[:, :p]) for r, pc in zip(trials.runs, pcs, strict=True)]
        b, _ = trials.fit_all(fits_p, pcv)
        xval[p] = -np.median(cv.badness(b))
    pcnum = select_pcnum(xval, settings.pcstop)
    pc_fits = base_fits if pcnum == 0 else [_RunFit(r, pc[:, :pcnum]) for r, pc in zip(trials.runs, pcs, strict=True)]
    return pcnum, xval, pc_fits


def fit_recipe(runs: Sequence[RunData], settings: RecipeSettings, mean_intensity: np.ndarray | None = None
               ) -> RecipeResult:
    """Run the enabled steps on ``runs`` (same voxels in each). ``mean_intensity`` (V, the raw
    BOLD mean) selects noise-pool candidates; without it every voxel is a candidate."""
    _check_runs(runs)
    caps = noise_component_caps(runs, settings.noise_pcs)
    prog = _Progress()
    t = hrf_time()
    canon = canonical_hrf(t)[None]
    lib = hrf_library(t, settings.n_hrfs) if settings.hrf == "library" else canon
    trials = _Trials(runs, lib, canon, settings.estimator)
    n_vox = trials.n_vox
    base_fits = [_RunFit(r) for r in runs]
    steps: dict[str, np.ndarray] = {}

    onoff_r2, ss_tot = _onoff_r2(trials, base_fits, canon)
    prog.done("on-off model")

    # step 1: canonical HRF
    steps["assumehrf"], final_rss = trials.fit_hrf(base_fits, trials.canon_designs)
    prog.done("assumehrf (canonical HRF)", f"{trials.n_trials} trials × {n_vox} voxels")

    # step 2: library HRF per voxel
    hrf_index = np.zeros(n_vox, dtype=np.int32)
    if settings.hrf == "library":
        steps["fithrf"], hrf_index, final_rss = _fit_library(trials, base_fits, len(lib), settings.hrf_selection)
        prog.done("fithrf (library HRF per voxel)",
                  f"HRF index histogram {np.bincount(hrf_index, minlength=len(lib)).tolist()}")
    trials.set_hrf_index(hrf_index, len(lib))

    # step 3: noise regressors
    noise_pool, pc_voxels = _voxel_pools(onoff_r2, mean_intensity, settings)
    pcnum, xval, pc_fits = 0, np.zeros(1), base_fits
    if settings.noise_pcs > 0:
        pcnum, xval, pc_fits = _glmdenoise(trials, base_fits, noise_pool, pc_voxels, settings, caps)
        b, final_rss = trials.fit_all(pc_fits)
        steps[settings.step_names()[len(steps)]] = b
        prog.done("glmdenoise", f"cross-validated gain per component count {np.round(xval - xval[0], 2).tolist()}, "
                  f"chose {pcnum}")

    # step 4: fractional ridge
    frac = np.ones(n_vox, dtype=np.float32)
    scale_offset = np.tile(np.array([1.0, 0.0], dtype=np.float32), (n_vox, 1))
    if settings.fracridge:
        ols = steps[list(steps)[-1]]
        ridge, frac, scale_offset = _fracridge(runs, pc_fits, trials.designs, trials.groups, trials.bounds, ols,
                                               trials.cv(), np.asarray(settings.fracs, dtype=float))
        steps[list(steps)[-1] + "_rr"] = ridge
        prog.done("fracridge", f"median fraction {np.median(frac):.2f}")

    r2 = 100 * (1 - final_rss / np.maximum(ss_tot, 1e-12))
    return RecipeResult(steps=steps, hrf_index=hrf_index, r2=r2.astype(np.float32), onoff_r2=onoff_r2.astype(np.float32),
                        noise_pool=noise_pool, pc_voxels=pc_voxels, pcnum=pcnum, xval_pcs=xval, frac=frac,
                        scale_offset=scale_offset, hrfs=lib, timings=prog.timings)


def _ridge_betas(svd: list, bounds: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Ridge betas of every run (trials × V) at per-voxel ``alpha``, from each run's SVD ``(s, Vᵀ, UᵀY)``."""
    b = np.zeros((bounds[-1], len(alpha)), dtype=np.float32)
    for i, (s, vt, yhat) in enumerate(svd):
        scale = s[:, None] / (s[:, None] ** 2 + alpha[None, :])
        b[bounds[i]:bounds[i + 1]] = vt.T @ (scale * yhat)
    return b


def _fracridge(runs, fits, designs, groups, bounds, ols, cv, fracs):
    """Per-voxel fractional ridge on the (block-diagonal) single-trial design, fraction chosen by CV."""
    n_vox = ols.shape[1]
    fracs = np.sort(fracs)[::-1]
    out = np.zeros_like(ols)
    chosen = np.ones(n_vox, dtype=np.float32)
    scale_offset = np.zeros((n_vox, 2), dtype=np.float32)
    for g, (h, vox) in enumerate(groups):
        if g and g % 5 == 0:
            log.info("recipe: fracridge %d/%d HRF groups done", g, len(groups))
        svd = []
        for i, (r, rf) in enumerate(zip(runs, fits, strict=True)):
            xt = rf.residualize(designs[i][h])
            u, s, vt = np.linalg.svd(xt, full_matrices=False)
            yhat = (u.T.astype(np.float32) @ r.data[:, vox]).astype(np.float64)  # uᵀY = uᵀỸ (u ⟂ nuisance)
            svd.append((s, vt, yhat))
        s2_all = np.concatenate([s**2 for s, _, _ in svd])
        alphas = np.concatenate([[0.0], np.median(s2_all) * np.logspace(-4, 5, 120)])
        # ‖β_α‖² per voxel on the α grid
        norms = np.zeros((len(alphas), len(vox)))
        for s, _, yhat in svd:
            shrink = (s[None, :] / (s[None, :] ** 2 + alphas[:, None])) ** 2  # A × k
            norms += shrink @ (yhat**2)
        ratio = np.sqrt(norms / np.maximum(norms[0], 1e-30))  # A × V, from 1 down
        # α for each target fraction, by linear interpolation of log α in the ratio
        alpha_f = np.zeros((len(fracs), len(vox)))
        log_a = np.log(np.maximum(alphas, alphas[1] * 1e-3))
        for fi, f in enumerate(fracs):
            if f >= 1.0:
                continue
            k = np.clip((ratio > f).sum(0), 1, len(alphas) - 1)  # first grid index with ratio ≤ f
            r_hi, r_lo = ratio[k - 1, np.arange(len(vox))], ratio[k, np.arange(len(vox))]
            w = np.clip((r_hi - f) / np.maximum(r_hi - r_lo, 1e-12), 0, 1)
            alpha_f[fi] = np.exp(log_a[k - 1] + w * (log_a[k] - log_a[k - 1]))
            alpha_f[fi, k - 1 == 0] = alphas[1] * w[k - 1 == 0]  # between α = 0 and the first grid point

        ref = ols[:, vox].astype(np.float64)
        bad = np.stack([cv.badness(_ridge_betas(svd, bounds, alpha_f[fi])) for fi in range(len(fracs))])
        best = np.argmin(bad, axis=0)
        alpha_v = alpha_f[best, np.arange(len(vox))]
        b = _ridge_betas(svd, bounds, alpha_v).astype(np.float64)
        # autoscale: regress the OLS betas on [ridge betas, 1] per voxel; a negative slope keeps [1, 0]
        bm, om = b.mean(0), ref.mean(0)
        var = ((b - bm) ** 2).sum(0)
        slope = np.where(var > 0, ((b - bm) * (ref - om)).sum(0) / np.maximum(var, 1e-30), 1.0)
        offset = om - slope * bm
        neg = slope <= 0
        slope[neg], offset[neg] = 1.0, 0.0
        out[:, vox] = b * slope + offset
        chosen[vox] = fracs[best]
        scale_offset[vox, 0], scale_offset[vox, 1] = slope, offset
    return out, chosen, scale_offset
