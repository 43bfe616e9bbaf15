"""Whole-brain networks of the simulated subject: parcels beyond visual cortex, some of which carry the meaning of what
was seen (the planted answer of the decoding stage's network ablation).

- **Parcellation.** The visual network's parcels are the planted regions (each category region and V1, V2, V3 one
  parcel). Every other network is a list of spheres (MNI centres, radius ``region_radius_mm``) of grey matter outside
  the planted regions; each sphere is one parcel. A voxel in two spheres joins the nearer centre; a sphere with no
  grey matter (a coarse grid) takes the nearest free grey-matter voxel.
- **Meaning.** A stimulus' meaning is its category (one-hot) beside the embedding of its caption
  (:func:`caption_embedding`: the mean of a fixed random unit vector per content word, so captions sharing words
  are near each other), each part of unit norm.
- **Responses.** A network with ``strength`` s > 0 carries the meaning: parcel p responds ``s · z(c(m_i · w_p))``
  to stimulus i (``w_p`` random; ``c`` = centred within each category; ``z`` = standardised across the fMRI
  stimuli: s is the SD in % signal change), every voxel of the parcel times its own gain in [0.5, 1.5], through its
  own HRF, ``lag_s`` seconds after the visual response. A network with strength 0 is a control: it carries nothing.
  Centring within category keeps every network beyond the planted regions free of category *main effects*: such a
  network carries which object, colour, size and place within a category (the caption's content), not which
  category, so the localizer and the food-versus-other contrast still find only the planted regions (without it,
  default-mode parcels joined the food region and its Dice fell from 0.95 to 0.79).
- Only the main experiment's runs carry network responses, so the localizer's category contrasts still find only the
  planted category regions.

Everything here draws from its own stream (``stream("networks")``): adding networks leaves the visual voxels' draws
as they were.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cortexplorer.seeding import rng as make_rng
from cortexplorer.simulate.anatomy import Anatomy

VISUAL_NETWORK = "Visual"
CAPTION_DIM = 32
_STOP = frozenset("a an the of on in at with and to by its is are".split())


def caption_embedding(captions: Sequence[str], dim: int = CAPTION_DIM, seed: int = 0) -> np.ndarray:
    """Unit-norm bag-of-words embeddings (len × dim): each content word a fixed random unit vector (seeded by the word
    itself), a caption the normalised mean of its words' vectors. A caption with no content word embeds to 0."""
    out = np.zeros((len(captions), dim))
    cache: dict[str, np.ndarray] = {}
    for i, text in enumerate(captions):
        words = [w for w in re.findall(r"[a-z]+", str(text).lower()) if w not in _STOP]
        for w in words:
            if w not in cache:
                v = make_rng(seed, "caption-word", w).normal(size=dim)
                cache[w] = v / np.linalg.norm(v)
            out[i] += cache[w]
        norm = np.linalg.norm(out[i])
        if norm > 0:
            out[i] /= norm
    return out


def stimulus_meaning(categories: Sequence[str], captions: Sequence[str], known: Sequence[str]) -> np.ndarray:
    """The meaning of each stimulus: [one-hot of its category among ``known``, its caption embedding]."""
    index = {c: k for k, c in enumerate(known)}
    onehot = np.zeros((len(categories), len(known)))
    for i, c in enumerate(categories):
        if c in index:
            onehot[i, index[c]] = 1.0
    return np.column_stack([onehot, caption_embedding(captions)])


@dataclass
class Networks:
    """The parcellation (parcel per voxel, 0 = none), each parcel's network, and the planted responses."""

    parcel: np.ndarray  # V int, 0 outside every parcel
    table: list[dict]  # per parcel: label, parcel, network, strength, lag_s, n_voxels
    responses: np.ndarray  # stimuli × V, % signal change (0 outside carrying networks)
    lags: np.ndarray  # V seconds

    def lagged_groups(self) -> list[tuple[float, np.ndarray]]:
        """(lag, voxel columns) for every lag at which some voxel responds."""
        active = np.flatnonzero(np.abs(self.responses).sum(0) > 0)
        return [(float(lag), active[self.lags[active] == lag]) for lag in np.unique(self.lags[active])]


def plant_networks(anat: Anatomy, specs: Sequence[dict], radius_mm: float, meaning: np.ndarray,
                   rng: np.random.Generator, categories: Sequence[str] | None = None) -> Networks:
    """Parcels and responses of the networks ``specs`` (name, strength, lag_s, centers_mm) for stimuli of ``meaning``
    (stimuli × dims); with ``categories`` (one per stimulus), each parcel's response is centred within each category
    before it is standardised (see the module docstring)."""
    parcel = np.zeros(anat.n_voxels, np.int32)
    table: list[dict] = []
    for name in anat.region_category:  # the visual network: the planted regions, in regions.tsv's order
        if (anat.region == name).any():
            table.append({"label": len(table) + 1, "parcel": name, "network": VISUAL_NETWORK, "strength": 0.0,
                          "lag_s": 0.0})
            parcel[anat.region == name] = len(table)
    outside = anat.grey_matter & (anat.region == "")
    best = np.full(anat.n_voxels, np.inf)
    for spec in specs:
        for k, centre in enumerate(spec["centers_mm"], start=1):
            d = np.linalg.norm(anat.xyz - np.asarray(centre, float), axis=1)
            take = outside & (d <= radius_mm) & (d < best)
            if not take.any():  # a coarse grid: the nearest free grey-matter voxel, so that every parcel exists
                free = np.flatnonzero(outside & (parcel == 0))
                take = np.zeros_like(outside)
                take[free[np.argmin(d[free])]] = True
            table.append({"label": len(table) + 1, "parcel": f"{spec['name']}{k}", "network": spec["name"],
                          "strength": float(spec["strength"]), "lag_s": float(spec.get("lag_s", 0.0))})
            parcel[take] = len(table)
            best[take] = d[take]
    responses = np.zeros((len(meaning), anat.n_voxels))
    lags = np.zeros(anat.n_voxels)
    gains = rng.uniform(0.5, 1.5, anat.n_voxels)
    for row in table:
        sel = parcel == row["label"]
        row["n_voxels"] = int(sel.sum())
        if row["network"] == VISUAL_NETWORK:
            continue
        r = meaning @ rng.normal(size=meaning.shape[1])  # drawn for every parcel, so a strength edit moves no other
        if categories is not None:
            r = r - pd.Series(r).groupby(np.asarray(categories)).transform("mean").to_numpy()
        if row["strength"] > 0 and sel.any():
            r = (r - r.mean()) / max(r.std(), 1e-12)
            responses[:, sel] = row["strength"] * np.outer(r, gains[sel])
            lags[sel] = row["lag_s"]
    return Networks(parcel, table, responses, lags)
