"""Stage ``scanpaths``: object-level search on shelf displays (OAT, ECCV 2024), a planted observer with known
ceilings, and pixel-level baselines mapped to objects."""
