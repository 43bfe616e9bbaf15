"""Stage ``preprocess``: single-trial responses and noise ceilings.

So far: the estimators (LSA, closed-form LSS) and NSD's ncsnr / noise-ceiling formulas.
The BIDS/NSD readers, the GLMsingle-style recipe and the workflow rule are still to come.
"""

from cortexplorer.preprocess.noise_ceiling import ncsnr, noise_ceiling, zscore_per_session
from cortexplorer.preprocess.singletrial import lsa_betas, lss_betas, residualize

__all__ = ["lsa_betas", "lss_betas", "ncsnr", "noise_ceiling", "residualize", "zscore_per_session"]
