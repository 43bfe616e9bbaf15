"""The preprocess stage's settings: the GLMsingle-style recipe and the stage (a light module: the workflow
imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cortexplorer.io.bids import bare_label
from cortexplorer.layout import Layout


@dataclass(frozen=True)
class RecipeSettings:
    """``preprocess.recipe`` of the validated config (defaults in the config schema) and the seed."""

    estimator: str  # lsa | lss
    hrf: str  # canonical | library
    n_hrfs: int
    hrf_selection: str  # onoff (R² of the on-off model) | trials (GLMsingle: R² of the single-trial model)
    noise_pcs: int  # largest number of noise components tried; 0 switches GLMdenoise off
    pcstop: float
    fracridge: bool
    fracs: Sequence[float]
    noise_pool_r2: float | None  # on-off R² (%) below which a voxel may join the noise pool; None = automatic
    brain_threshold: float  # noise-pool voxels have a mean above this fraction of the 99th percentile
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> RecipeSettings:
        recipe = dict(cfg["preprocess"]["recipe"])
        return cls(**{**recipe, "fracs": tuple(recipe["fracs"])}, seed=cfg["seed"])

    def __post_init__(self) -> None:
        if self.estimator not in ("lsa", "lss"):
            raise ValueError(f"preprocess.recipe.estimator must be 'lsa' or 'lss', not {self.estimator!r}.")
        if self.hrf not in ("canonical", "library"):
            raise ValueError(f"preprocess.recipe.hrf must be 'canonical' or 'library', not {self.hrf!r}.")
        if self.fracridge and self.estimator == "lss":
            raise ValueError("preprocess.recipe.fracridge shrinks the all-trials (LSA) fit; set estimator: lsa, "
                             "or fracridge: false to keep LSS betas.")
        fr = np.asarray(self.fracs, dtype=float)
        if self.fracridge and (fr.max() != 1.0 or fr.min() <= 0 or fr.max() > 1):
            raise ValueError("preprocess.recipe.fracs must lie in (0, 1] and include 1 (the OLS solution).")

    def step_names(self) -> list[str]:
        base = "fithrf" if self.hrf == "library" else "assumehrf"
        names = ["assumehrf"] if base == "assumehrf" else ["assumehrf", "fithrf"]
        if self.noise_pcs > 0:
            names.append(f"{base}_glmdenoise")
        if self.fracridge:
            names.append(names[-1] + "_rr")
        return names


@dataclass(frozen=True)
class PreprocessSettings:
    """One subject's ``preprocess`` job: the validated config's ``preprocess`` section and the seed."""

    subject: str
    task: str
    space: str | None  # None: the runs' native space
    res: str | None  # None: any resolution, if fMRIPrep wrote only one
    confounds: Mapping[str, Any]
    recipe: RecipeSettings
    n_repeats: int
    seed: int
    sessions: tuple[str, ...] = ()  # bids.sessions: only these sessions' runs (empty: every session)
    bids_index: str | None = None  # where the dataset's pybids index is kept (None: index in memory)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, subject: str) -> PreprocessSettings:
        recipe, pre = RecipeSettings.from_config(cfg), cfg["preprocess"]
        return cls(subject=subject, task=pre["task"], space=pre["space"] or None, res=pre["res"] or None,
                   confounds=dict(pre["confounds"]), recipe=recipe, n_repeats=pre["n_repeats"], seed=cfg["seed"],
                   sessions=session_labels(cfg), bids_index=Layout(cfg["dataset"]["name"]).bids_index())


def session_labels(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    """``bids.sessions`` without ``ses-`` prefixes (bids mode; empty elsewhere: every session)."""
    if cfg["dataset"]["mode"] != "bids":
        return ()
    return tuple(bare_label(str(s)) for s in cfg["bids"]["sessions"])
