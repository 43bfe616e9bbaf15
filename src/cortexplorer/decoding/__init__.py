"""Stage ``decoding``: what was seen, read from brain activity (brain → CLIP embedding → retrieval).

``parcels`` turns BOLD into per-trial windows of parcel time series; ``baseline`` is ridge from single-trial betas to
the CLIP image embedding; ``wave`` is a WAVE-style transformer over the windows, aligned contrastively with frozen CLIP
image and caption embeddings; ``evaluate`` scores retrieval and semantic accuracy against chance with permutation
tests.
"""
