"""Seeding: every random stream derives from the config seed and a stage-specific key."""

from __future__ import annotations

import hashlib

import numpy as np


def _key_to_int(key: str | int) -> int:
    if isinstance(key, int):
        return key
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A numpy Generator for ``seed`` and a path of keys, e.g. ``rng(seed, "simulate", "noise")``.

    Streams with different keys are independent, and adding a new stream never changes
    the numbers drawn by an existing one.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, *(_key_to_int(k) for k in keys)]))

