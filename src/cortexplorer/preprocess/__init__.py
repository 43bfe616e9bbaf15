"""Stage ``preprocess``: single-trial responses and noise ceilings.

The single-trial estimators (LSA, closed-form LSS) and NSD's ncsnr / noise-ceiling formulas are
here; ``bids_input`` reads BIDS/fMRIPrep runs, ``recipe`` is the GLMsingle-style recipe, ``stage``
the entry point of the ``preprocess`` rule, ``contract`` the betas file every later stage reads.
NSD's released betas are imported by ``cortexplorer.nsd`` (rule ``preprocess_nsd``).
"""

from cortexplorer.preprocess.noise_ceiling import ncsnr, noise_ceiling, zscore_per_session
from cortexplorer.preprocess.singletrial import lsa_betas, lss_betas, residualize

__all__ = ["lsa_betas", "lss_betas", "ncsnr", "noise_ceiling", "residualize", "zscore_per_session"]
