"""``features/{backbone}.h5``: one unit-normalised embedding per stimulus and the model that made it.

Datasets ``features`` (N × D float32, unit L2 norm per row) and ``stim_id`` (N); file attribute
``identity`` (JSON: backbone name, kind, architecture, pretrained tag, SHA-256 of the weight file,
embedding size, input size). Readers pass the identity they expect, so features made with other
weights are never used with this model.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cortexplorer.device import resolve as resolve_device
from cortexplorer.features.settings import FeaturesSettings
from cortexplorer.io.hdf5 import open_h5, read_strings, write_h5
from cortexplorer.io.tables import read_tsv
from cortexplorer.models import BackboneSpec, load_backbone
from cortexplorer.provenance import write_sidecar

log = logging.getLogger(__name__)

IDENTITY_KEYS = ("kind", "arch", "pretrained", "weights_sha256", "embed_dim", "image_size")


@dataclass
class Features:
    features: np.ndarray  # N × D float32, unit norm
    stim_id: np.ndarray  # N
    identity: dict[str, Any]


def write_features(path: str | os.PathLike, features: np.ndarray, stim_id: np.ndarray,
                   identity: Mapping[str, Any], *, normalized: bool = True) -> None:
    features = np.asarray(features, dtype=np.float32)
    bad = ~np.isfinite(features).all(1)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} embeddings hold NaN or infinite values (first: stimulus "
                         f"{np.asarray(stim_id)[bad][0]!r}); the backbone's weights or inputs are broken.")
    write_h5(path, {"features": features, "stim_id": np.asarray(stim_id).astype(str)},
             attrs={"identity": json.dumps(dict(identity), sort_keys=True),
                   "norm": "unit L2 per row" if normalized else "raw (not normalised)"})


def identity_differences(found: Mapping[str, Any], expect: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{key: (found, expected)}`` for the identity keys ``expect`` names and ``found`` disagrees on."""
    return {k: (found.get(k), expect[k]) for k in IDENTITY_KEYS if k in expect and str(found.get(k)) != str(expect[k])}


def read_features(path: str | os.PathLike, expect: Mapping[str, Any] | None = None,
                  expected_from: str = "the model in use") -> Features:
    """Read a feature file; with ``expect`` (a backbone identity, or some of its keys), refuse features
    made by another model. ``expected_from`` names where ``expect`` comes from, for the error."""
    path = os.fspath(path)
    with open_h5(path, made_by="features") as f:
        if "features" not in f or "identity" not in f.attrs:
            raise ValueError(f"'{path}' is not a cortexplorer feature file (no 'features' or model identity); "
                             "rerun the features stage.")
        feats = Features(features=f["features"][()], stim_id=read_strings(f["stim_id"]),
                         identity=json.loads(f.attrs["identity"]))
    if expect is not None:
        diff = identity_differences(feats.identity, expect)
        if diff:
            raise ValueError(f"'{path}' was made by another model ({diff}: file vs expected), but {expected_from} is "
                             f"now {dict(expect)}; delete it and rerun the features stage.")
    if not np.isfinite(feats.features).all():
        raise ValueError(f"'{path}' holds NaN or infinite features; delete it and rerun the features stage.")
    return feats


def extract_features(*, images_h5: str, stimuli_tsv: str, name: str, spec: Mapping[str, Any], out_h5: str,
                     out_provenance: str, batch_size: int, demo_weights: str | None, device: str, seed: int,
                     normalize: bool = True) -> Features:
    """Embed every stimulus of an image set with the backbone ``name`` (config ``features.backbones``);
    unit-normalised, or raw with ``normalize=False``."""
    device = resolve_device(device)
    torch.manual_seed(seed)
    backbone = load_backbone(BackboneSpec.from_config(name, spec), demo_weights=demo_weights, device=device)
    table = read_tsv(stimuli_tsv, required=["stim_id"])
    with open_h5(images_h5, made_by="stimuli") as f:
        ids = read_strings(f["stim_id"])
        if not np.array_equal(ids, table["stim_id"].astype(str).to_numpy()):
            raise ValueError(f"'{images_h5}' and '{stimuli_tsv}' list different stimuli; rerun the stimuli stage.")
        images = f["images"]
        log.info("embedding %d stimuli (%s) with %s on %s, batch %d", len(ids), "×".join(map(str, images.shape[1:])),
                 backbone.identity["arch"], device, batch_size)
        feats = np.empty((len(ids), backbone.embed_dim), dtype=np.float32)
        chunk = batch_size * 16  # read the image file in slices: NSD's stimuli do not fit in memory at once
        for i in range(0, len(ids), chunk):
            feats[i:i + chunk] = backbone.embed(images[i:i + chunk], batch_size=batch_size, progress=False,
                                                normalize=normalize)
            log.info("embedded %d/%d stimuli", min(i + chunk, len(ids)), len(ids))
    write_features(out_h5, feats, ids, backbone.identity, normalized=normalize)
    write_sidecar(out_provenance, stage="features", settings={"backbone": name, **dict(spec), "batch_size": batch_size,
                                                              "device": device, "normalize": normalize},
                  seed=seed, identity=backbone.identity)
    return Features(feats, ids, backbone.identity)


def embed_stimuli(inputs: dict, outputs: dict, settings: FeaturesSettings) -> Features:
    """Stage ``features``: embed the stimuli (``images``, ``table``; ``demo_clip`` weights in the demo) into
    ``features`` and ``provenance``."""
    s = settings
    return extract_features(images_h5=inputs["images"], stimuli_tsv=inputs["table"], name=s.backbone, spec=s.spec,
                            out_h5=outputs["features"], out_provenance=outputs["provenance"], batch_size=s.batch_size,
                            demo_weights=inputs.get("demo_clip"), device=s.device, seed=s.seed,
                            normalize=s.normalize)
