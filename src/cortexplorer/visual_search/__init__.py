"""Visual search asymmetry: eccNET (Gupta et al., NeurIPS 2021) and IVSN (Zhang et al., 2018) on the six asymmetry
experiments, scored against human reaction-time slopes.

- :mod:`.stimuli`: the six experiments' search displays (12 tasks), drawn procedurally.
- :mod:`.eccnet`: eccentricity-dependent pooling and the eccNET and IVSN attention maps (torch).
- :mod:`.baselines`: the paper's chance and pixelMatch baselines (no network).
- :mod:`.search`: the search loop all of them run (winner-take-all, object-level inhibition of return, oracle
  recognition) and the OpenCV-style blurs, without torch.
- :mod:`.metrics`: fixations → RT, slopes, asymmetry index, ANOVA, scanpath scores.
- :mod:`.stage`: the functions the workflow's scripts call.

``human_rt.tsv`` holds the 12 human RT curves (digitised from the original publications);
``paper_asymmetry.tsv`` the paper's asymmetry indices per model and experiment, with their source.
"""
