"""Generate image sets of the procedural world and write them in the image-set contract."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from cortexplorer.io.images import ImageSet, write_image_set
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng
from cortexplorer.stimuli.world import caption, render, sample_scene

log = logging.getLogger(__name__)


def balanced_categories(n: int, categories: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """``n`` category labels as equal as possible across ``categories``, in random order."""
    labels = np.array([categories[i % len(categories)] for i in range(n)])
    return rng.permutation(labels)


def generate_image_set(
    n: int,
    *,
    categories: Sequence[str],
    image_size: int,
    seed: int,
    stream: str,
    id_prefix: str,
    split: str = "train",
    test_fraction: float = 0.0,
    progress: bool = True,
) -> ImageSet:
    """Draw ``n`` scenes (balanced over ``categories``), render and caption them.

    ``stream`` names the random stream (see :func:`cortexplorer.seeding.rng`), so sets made
    with different streams are independent draws of the same world. With ``test_fraction``
    > 0, that fraction of each category is marked ``split == "test"``.
    """
    rng = make_rng(seed, "stimuli", stream)
    labels = balanced_categories(n, categories, rng)
    scenes = [sample_scene(rng, str(c)) for c in labels]
    images = np.empty((n, image_size, image_size, 3), dtype=np.uint8)
    for i, scene in enumerate(tqdm(scenes, desc=f"render {stream}", disable=not progress, mininterval=5)):
        images[i] = render(scene, image_size)
    rows = []
    for i, scene in enumerate(scenes):
        rows.append({"stim_id": f"{id_prefix}{i:05d}", "category": scene.category, "caption": caption(scene),
                     "split": split, **{k: v for k, v in scene.as_row().items() if k != "category"}})
    table = pd.DataFrame(rows)
    if test_fraction > 0:
        for cat in categories:
            idx = np.flatnonzero(table["category"].to_numpy() == cat)
            n_test = round(test_fraction * len(idx))
            table.loc[rng.choice(idx, size=n_test, replace=False), "split"] = "test"
    return ImageSet(images, table)


DEMO_SETS = ("stimuli", "pool", "localizer")
ID_PREFIX = {"stimuli": "stim", "pool": "pool", "localizer": "floc"}


def make_demo_image_set(
    name: str,
    *,
    out_h5: str | os.PathLike,
    out_tsv: str | os.PathLike,
    out_provenance: str | os.PathLike,
    n: int,
    categories: Sequence[str],
    image_size: int,
    test_fraction: float,
    seed: int,
) -> None:
    """Write one demo image set in the image-set contract, with its provenance sidecar.

    ``stimuli`` are the fMRI stimuli (``test_fraction`` of them in the test split), ``pool`` a
    disjoint set for later stages (embedding bank, model training), ``localizer`` the fLoc-style
    localizer images. Each set is its own random stream, so resizing one never changes another.
    """
    if name not in DEMO_SETS:
        raise ValueError(f"Unknown demo image set {name!r}; choose one of {DEMO_SETS}.")
    split = {"stimuli": "train", "pool": "pool", "localizer": "localizer"}[name]
    image_set = generate_image_set(n, categories=categories, image_size=image_size, seed=seed, stream=name,
                                   id_prefix=ID_PREFIX[name], split=split, test_fraction=test_fraction)
    write_image_set(image_set, out_h5, out_tsv)
    counts = {str(k): int(v) for k, v in image_set.table["category"].value_counts().sort_index().items()}
    log.info("%s: %d images of %d×%d, per category %s", name, len(image_set), image_size, image_size, counts)
    write_sidecar(out_provenance, stage=f"stimuli/{name}",
                  settings={"n": n, "categories": list(categories), "image_size": image_size,
                            "test_fraction": test_fraction},
                  seed=seed, counts=counts)
