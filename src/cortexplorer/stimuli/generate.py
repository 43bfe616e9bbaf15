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
from cortexplorer.stimuli.world import CATEGORIES, caption, render, sample_scene

log = logging.getLogger(__name__)


def balanced_categories(n: int, categories: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """``n`` category labels as equal as possible across ``categories``, in random order."""
    labels = np.array([categories[i % len(categories)] for i in range(n)])
    return rng.permutation(labels)


def generate_image_set(
    n: int,
    *,
    categories: Sequence[str] = CATEGORIES,
    image_size: int = 64,
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
            n_test = int(round(test_fraction * len(idx)))
            table.loc[rng.choice(idx, size=n_test, replace=False), "split"] = "test"
    return ImageSet(images, table)


def make_demo_stimuli(
    *,
    out_dirs: dict[str, str | os.PathLike],
    image_size: int,
    n_images: int,
    n_pool: int,
    n_localizer_per_category: int,
    test_fraction: float,
    categories: Sequence[str],
    localizer_categories: Sequence[str],
    seed: int,
) -> None:
    """Write the three demo image sets: fMRI ``stimuli``, the disjoint ``pool`` and the ``localizer``.

    Each goes to ``out_dirs[name]/images.h5`` + ``stimuli.tsv`` + ``provenance.json``.
    """
    specs = {
        "stimuli": dict(n=n_images, categories=categories, id_prefix="stim", split="train", test_fraction=test_fraction),
        "pool": dict(n=n_pool, categories=categories, id_prefix="pool", split="pool"),
        "localizer": dict(n=n_localizer_per_category * len(localizer_categories), categories=localizer_categories,
                          id_prefix="floc", split="localizer"),
    }
    for name, spec in specs.items():
        image_set = generate_image_set(image_size=image_size, seed=seed, stream=name, **spec)
        out = os.fspath(out_dirs[name])
        write_image_set(image_set, os.path.join(out, "images.h5"), os.path.join(out, "stimuli.tsv"))
        counts = image_set.table["category"].value_counts().to_dict()
        log.info("%s: %d images of %d×%d, per category %s", name, len(image_set), image_size, image_size, counts)
        write_sidecar(os.path.join(out, "provenance.json"), stage=f"stimuli/{name}",
                      settings={"image_size": image_size, **{k: v for k, v in spec.items()}}, seed=seed,
                      counts=counts)
