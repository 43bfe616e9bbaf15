"""Experimental designs: an NSD-like event-related experiment and fLoc-style block localizer runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class RunDesign:
    """One run: its BIDS entities and its events (``onset``, ``duration``, ``trial_type``, ``stim_id``)."""

    task: str
    session: int
    run: int
    events: pd.DataFrame
    duration: float  # seconds of acquisition

    def n_volumes(self, tr: float) -> int:
        return int(np.ceil(self.duration / tr))


def _no_adjacent_repeats(seq: np.ndarray, rng: np.random.Generator, max_passes: int = 100) -> np.ndarray:
    """Swap elements until no two neighbours are equal (the same image never shown twice in a row)."""
    seq = seq.copy()
    for _ in range(max_passes):
        bad = np.flatnonzero(seq[1:] == seq[:-1]) + 1
        if len(bad) == 0:
            return seq
        for i in bad:
            j = int(rng.integers(len(seq)))
            seq[i], seq[j] = seq[j], seq[i]
    raise RuntimeError("Could not order the trials without adjacent repeats; add more stimuli or runs.")


def nsd_like_design(
    stim_ids: Sequence[str],
    *,
    n_sessions: int,
    runs_per_session: int,
    repeats: int,
    trial_duration: float,
    trial_interval: float,
    rest_start: float,
    rest_end: float,
    rng: np.random.Generator,
    blank_fraction: float = 0.0,
) -> list[RunDesign]:
    """Each stimulus shown ``repeats`` times in random order spread over all sessions and runs.

    As in NSD, an image is on for ``trial_duration`` seconds every ``trial_interval`` seconds, and
    about ``blank_fraction`` of the trial slots of each run are blank (no image), at random places.
    """
    if not 0 <= blank_fraction < 1:
        raise ValueError(f"blank_fraction must be in [0, 1), not {blank_fraction}.")
    if trial_duration > trial_interval:
        raise ValueError(f"trial_duration ({trial_duration} s) exceeds trial_interval ({trial_interval} s).")
    trials = _no_adjacent_repeats(rng.permutation(np.repeat(np.asarray(stim_ids), repeats)), rng)
    n_runs = n_sessions * runs_per_session
    if len(trials) < n_runs:
        raise ValueError(f"{len(trials)} trials cannot fill {n_runs} runs; use more stimuli or fewer runs.")
    designs = []
    for r, chunk in enumerate(np.array_split(trials, n_runs)):
        n_blank = round(len(chunk) * blank_fraction / (1 - blank_fraction))
        n_slots = len(chunk) + n_blank
        slots = np.sort(rng.choice(n_slots, size=len(chunk), replace=False))
        onsets = rest_start + trial_interval * slots
        events = pd.DataFrame({"onset": onsets, "duration": trial_duration, "trial_type": "image", "stim_id": chunk})
        designs.append(RunDesign(task="nsd", session=r // runs_per_session + 1, run=r % runs_per_session + 1,
                                 events=events, duration=float(rest_start + trial_interval * n_slots + rest_end)))
    return designs


def floc_design(
    localizer: pd.DataFrame,
    *,
    n_runs: int,
    categories: Sequence[str],
    blocks_per_category: int,
    images_per_block: int,
    image_duration: float,
    rest_start: float,
    rest_end: float,
    rng: np.random.Generator,
) -> list[RunDesign]:
    """fLoc-style runs: mini-blocks of one category (``images_per_block`` images back to back),
    interleaved with as many blank blocks, in random order without a category twice in a row.

    ``localizer`` is the localizer image table (``stim_id``, ``category``). Events are one row per
    image with ``trial_type`` = category, so nilearn contrasts read them directly.
    """
    pools = {c: list(rng.permutation(localizer.loc[localizer["category"] == c, "stim_id"].to_numpy())) for c in categories}
    for c, pool in pools.items():
        if not pool:
            raise ValueError(f"No localizer images of category {c!r}.")
    block = images_per_block * image_duration
    designs = []
    for r in range(n_runs):
        order = _no_adjacent_repeats(rng.permutation(np.repeat(np.array([*categories, "blank"]), blocks_per_category)), rng)
        rows = []
        for b, cat in enumerate(order):
            if cat == "blank":
                continue
            t0 = rest_start + b * block
            for i in range(images_per_block):
                pool = pools[cat]
                rows.append({"onset": t0 + i * image_duration, "duration": image_duration, "trial_type": cat,
                             "stim_id": pool[(b * images_per_block + i) % len(pool)]})
        designs.append(RunDesign(task="floc", session=1, run=r + 1, events=pd.DataFrame(rows),
                                 duration=float(rest_start + len(order) * block + rest_end)))
    return designs
