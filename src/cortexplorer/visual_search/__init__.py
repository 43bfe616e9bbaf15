"""Visual search asymmetry: eccNET (Gupta et al., NeurIPS 2021) and IVSN (Zhang et al., 2018) on the six asymmetry
experiments, scored against human reaction-time slopes.

- :mod:`.stimuli`: the six experiments' search displays (12 tasks), drawn procedurally.
- :mod:`.eccnet`: eccentricity-dependent pooling, the eccNET and IVSN attention maps, and the search loop
  (winner-take-all, object-level inhibition of return, oracle recognition).
- :mod:`.metrics`: fixations → RT, slopes, asymmetry index, ANOVA, scanpath scores.
- :mod:`.stage`: the functions the workflow's scripts call.

``human_rt.tsv`` holds the 12 human RT curves (digitised from the original publications).
"""
