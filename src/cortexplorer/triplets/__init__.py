"""Stage `triplets`: stimuli that decouple low- from high-level similarity (``search``), choices and the
choice model (``choices``), SPoSE odd-one-out embeddings (``spose``), and the stage functions (``stage``)."""
