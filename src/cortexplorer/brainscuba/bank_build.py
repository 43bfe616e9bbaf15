"""BrainSCUBA's image bank built from a lab's own images (config ``brainscuba.bank_images``).

The source is a folder: either WebDataset-style ``.tar`` shards (each its own input shard; the image members
are read, ``.txt``/``.json`` and other members are left alone), or a tree of image files (sorted by relative
path and cut into input shards of ``shard_size`` images). Three steps, each a rule:

1. ``index``: every image's SHA-256 over its bytes; an image whose bytes an earlier one already had (in
   shard order, then member order) is a duplicate and dropped. The index (``index.tsv``) names each.
2. one job per input shard: the kept images decoded (a corrupt image is skipped with a WARNING naming it),
   centre-cropped to a square and resized to the backbone's input size as the stimulus import does
   (:func:`cortexplorer.stimuli.folder.fit_square`), embedded in batches (raw, not unit-normalised: the
   bank BrainSCUBA projects onto), and written as one HDF5 shard (``features``, ``key``, ``sha256``). A
   killed build keeps its finished shards; plain ``snakemake`` builds only the rest.
3. ``manifest``: the shards' paths (one per line, the format ``brainscuba.bank`` reads), written last, with
   the totals of kept, corrupt and duplicate images.

Memory per job is one batch of images plus the shard's embeddings; the index holds 32 bytes per image.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cortexplorer.stimuli.folder import STILL_IMAGE_SUFFIXES

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["shard", "key", "sha256", "duplicate_of"]


@dataclass(frozen=True)
class InputShard:
    """One input shard: a ``.tar`` file, or ``members`` (paths relative to the folder ``path``)."""

    name: str
    kind: str  # "tar" or "files"
    path: str
    members: tuple[str, ...] = ()

    @property
    def files(self) -> list[str]:
        """The files a job reading this shard depends on."""
        return [self.path] if self.kind == "tar" else [os.path.join(self.path, m) for m in self.members]


def _is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and Path(base).suffix.lower() in STILL_IMAGE_SUFFIXES


def input_shards(root: str | os.PathLike, shard_size: int) -> list[InputShard]:
    """The input shards of the image folder ``root`` (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"The bank's image folder '{root}' (brainscuba.bank_images) does not exist or is not "
                                "a folder; give a folder of images or of WebDataset .tar shards.")
    tars = sorted(p for p in root.iterdir() if p.suffix == ".tar" and not p.name.startswith(".") and p.is_file())
    if tars:
        loose = [p.name for p in root.iterdir() if p.is_file() and _is_image(p.name)]
        if loose:
            raise ValueError(f"The bank's image folder '{root}' holds both .tar shards and loose images "
                             f"({', '.join(sorted(loose)[:3])}…); put the images in a shard or in another folder.")
        names = [p.stem for p in tars]
        return [InputShard(name, "tar", str(p)) for name, p in zip(names, tars, strict=True)]
    from cortexplorer.io.check import folder_files

    files = sorted(str(Path(f).relative_to(root)) for f in folder_files(root, recursive=True) if _is_image(f))
    if not files:
        raise FileNotFoundError(f"No images ({' '.join(sorted(STILL_IMAGE_SUFFIXES))}) and no .tar shards in the "
                                f"bank's image folder '{root}' (brainscuba.bank_images).")
    return [InputShard(f"part-{i // shard_size:05d}", "files", str(root), tuple(files[i:i + shard_size]))
            for i in range(0, len(files), shard_size)]


def iter_members(shard: InputShard) -> Iterator[tuple[str, bytes]]:
    """``(key, bytes)`` of every image in the shard, in order (a tar's members as stored)."""
    if shard.kind == "files":
        for member in shard.members:
            yield member, Path(shard.path, member).read_bytes()
        return
    try:
        with tarfile.open(shard.path, "r:*") as tar:
            for info in tar:
                if info.isfile() and _is_image(info.name):
                    handle = tar.extractfile(info)
                    yield info.name, handle.read() if handle is not None else b""
    except tarfile.TarError as e:
        raise ValueError(f"Bank shard '{shard.path}' is not a readable tar archive ({e}); remove it from the bank's "
                         "image folder or rebuild it (e.g. `tar cf shard.tar *.jpg`).") from e


def build_index(shards: Sequence[InputShard]) -> pd.DataFrame:
    """One row per image: shard, key, SHA-256 of its bytes, and the ``shard/key`` of the first image with the
    same bytes (``n/a`` for a first occurrence)."""
    first: dict[str, str] = {}
    rows = []
    for n, shard in enumerate(shards):
        count = 0
        for key, data in iter_members(shard):
            digest = hashlib.sha256(data).hexdigest()
            rows.append((shard.name, key, digest, first.setdefault(digest, f"{shard.name}/{key}")))
            count += 1
        log.info("indexed shard %d/%d '%s': %d images", n + 1, len(shards), shard.name, count)
    table = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    own = table["shard"] + "/" + table["key"]
    table.loc[table["duplicate_of"] == own, "duplicate_of"] = pd.NA
    dupes = table[table["duplicate_of"].notna()]
    if len(dupes):
        log.info("%d duplicate image(s) dropped (the same bytes as an earlier image), e.g. %s", len(dupes),
                 "; ".join(f"{r.shard}/{r.key} = {r.duplicate_of}" for r in dupes.head(5).itertuples()))
    return table


def decode_square(data: bytes, size: int) -> np.ndarray:
    """An image's bytes as a ``size`` × ``size`` × 3 uint8 array: decoded in full, centre-cropped, resized as the
    stimulus import does."""
    from PIL import Image

    from cortexplorer.stimuli.folder import fit_square

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        rgb = im.convert("RGB")
    return np.asarray(fit_square(rgb, "crop").resize((size, size), Image.BICUBIC))


@dataclass
class ShardEmbeddings:
    features: np.ndarray  # N × D float32, raw
    keys: list[str]
    sha256: list[str]
    corrupt: list[str]
    duplicates: int


def embed_shard(shard: InputShard, index: pd.DataFrame, backbone, batch_size: int) -> ShardEmbeddings:
    """Embed the shard's images that the index keeps (raw embeddings), skipping corrupt ones with a WARNING."""
    rows = index[index["shard"] == shard.name]
    keep = dict(zip(rows.loc[rows["duplicate_of"].isna(), "key"], rows.loc[rows["duplicate_of"].isna(), "sha256"],
                    strict=True))
    feats, keys, corrupt, batch, batch_keys = [], [], [], [], []

    def flush():
        if batch:
            feats.append(backbone.embed(np.stack(batch), batch_size=batch_size, progress=False, normalize=False))
            keys.extend(batch_keys)
            batch.clear()
            batch_keys.clear()

    seen = 0
    for key, data in iter_members(shard):
        seen += 1
        if key not in keep:
            continue
        if hashlib.sha256(data).hexdigest() != keep[key]:
            raise ValueError(f"'{key}' in bank shard '{shard.path}' changed since the bank's index was built; rerun "
                             "the build (snakemake rebuilds the index when a shard changes).")
        try:
            batch.append(decode_square(data, backbone.image_size))
        except (OSError, SyntaxError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError
            log.warning("skipped corrupt image '%s' in bank shard '%s': %s", key, shard.path, e)
            corrupt.append(key)
            continue
        batch_keys.append(key)
        if len(batch) == batch_size:
            flush()
    flush()
    if seen != len(rows):
        raise ValueError(f"Bank shard '{shard.path}' holds {seen} images but the index lists {len(rows)}; rerun the "
                         "build (the shard changed since it was indexed).")
    dim = backbone.embed_dim
    features = np.concatenate(feats) if feats else np.zeros((0, dim), np.float32)
    log.info("shard '%s': %d images embedded, %d corrupt skipped, %d duplicates dropped", shard.name, len(keys),
             len(corrupt), len(rows) - len(keep))
    return ShardEmbeddings(features, keys, [keep[k] for k in keys], corrupt, len(rows) - len(keep))


def write_shard(path: str | os.PathLike, result: ShardEmbeddings, identity: dict) -> None:
    from cortexplorer.io.hdf5 import write_h5

    if not np.isfinite(result.features).all():
        raise ValueError(f"Embeddings for bank shard '{path}' hold NaN or infinite values; the backbone's weights "
                         "are broken.")
    write_h5(path, {"features": result.features.astype(np.float32), "key": np.asarray(result.keys, dtype=str),
                    "sha256": np.asarray(result.sha256, dtype=str)},
             attrs={"identity": json.dumps(identity, sort_keys=True), "norm": "raw (not normalised)",
                    "n_corrupt": len(result.corrupt), "corrupt": json.dumps(result.corrupt),
                    "n_duplicates": result.duplicates})


def write_manifest(path: str | os.PathLike, shard_files: Sequence[str], source: str) -> dict:
    """The manifest ``brainscuba.bank`` reads (shard paths relative to it), after summing the shards' counts."""
    import h5py

    from cortexplorer.io.atomic import atomic_path

    totals = {"images": 0, "corrupt": 0, "duplicates": 0}
    for p in shard_files:
        with h5py.File(p, "r") as f:
            totals["images"] += int(f["features"].shape[0])
            totals["corrupt"] += int(f.attrs["n_corrupt"])
            totals["duplicates"] += int(f.attrs["n_duplicates"])
    folder = Path(path).parent
    lines = [f"# BrainSCUBA image bank from '{source}': {totals['images']} images in {len(shard_files)} shards "
             f"({totals['corrupt']} corrupt skipped, {totals['duplicates']} duplicates dropped)"]
    lines += [os.path.relpath(p, folder) for p in shard_files]
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    log.info("bank manifest: %d images in %d shards, %d corrupt images skipped, %d duplicates dropped",
             totals["images"], len(shard_files), totals["corrupt"], totals["duplicates"])
    return totals


# ----------------------------------------------------------------------------------------------- rules


def index_rows(path: str | os.PathLike, shard: str, chunk_rows: int = 1_000_000) -> pd.DataFrame:
    """The index rows of one shard, read in chunks: a shard job's memory does not grow with the bank's size."""
    parts = []
    with pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, dtype=str, chunksize=chunk_rows,
                     encoding="utf-8") as chunks:
        for chunk in chunks:
            missing = [c for c in INDEX_COLUMNS if c not in chunk.columns]
            if missing:
                raise ValueError(f"The bank's index '{path}' lacks the column(s) {missing}; rerun the build.")
            parts.append(chunk[chunk["shard"] == shard])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=INDEX_COLUMNS)


def shard_named(source: str, name: str, index: pd.DataFrame) -> InputShard:
    """The input shard ``name`` of ``source``: its ``.tar``, or the image files the index lists for it."""
    tar = Path(source, f"{name}.tar")
    if tar.is_file():
        return InputShard(name, "tar", str(tar))
    members = tuple(index.loc[index["shard"] == name, "key"])
    if not members:
        raise ValueError(f"The bank's index lists no images for shard '{name}' of '{source}'; rerun the build "
                         "(the folder changed since it was indexed).")
    return InputShard(name, "files", source, members)


def run_bank_index(*, inputs: dict, outputs: dict, settings) -> pd.DataFrame:
    """Rule ``brainscuba_bank_index``: every image's SHA-256 and, for a duplicate, the image it repeats."""
    from cortexplorer.io.tables import write_tsv

    table = build_index(input_shards(settings.source, settings.shard_size))
    write_tsv(table, outputs["index"])
    return table


def run_bank_shard(*, inputs: dict, outputs: dict, settings) -> ShardEmbeddings:
    """Rule ``brainscuba_bank_shard``: one input shard's kept images embedded (raw) into one HDF5 shard (the
    output ``shard`` is named after its input shard)."""
    import torch

    from cortexplorer.device import resolve as resolve_device
    from cortexplorer.models import BackboneSpec, load_backbone

    shard = Path(outputs["shard"]).stem
    device = resolve_device(settings.device)
    torch.manual_seed(settings.seed)
    index = index_rows(inputs["index"], shard)
    backbone = load_backbone(BackboneSpec.from_config(settings.backbone, dict(settings.backbone_spec)), device=device)
    log.info("embedding bank shard '%s' with %s at %d px on %s, batch %d", shard, backbone.identity["arch"],
             backbone.image_size, device, settings.batch_size)
    result = embed_shard(shard_named(settings.source, shard, index), index, backbone, settings.batch_size)
    write_shard(outputs["shard"], result, backbone.identity)
    return result


def run_bank_manifest(*, inputs: dict, outputs: dict, settings) -> dict:
    """Rule ``brainscuba_bank_manifest``: the shards' manifest (written last) and the build's totals."""
    from cortexplorer.provenance import write_sidecar

    shards = list(inputs["shards"])
    totals = write_manifest(outputs["manifest"], shards, settings.source)
    write_sidecar(outputs["provenance"], stage="brainscuba_bank_manifest",
                  settings=dict(source=settings.source, shard_size=settings.shard_size, backbone=settings.backbone,
                                batch_size=settings.batch_size),
                  seed=settings.seed, n_shards=len(shards), **{f"n_{k}": v for k, v in totals.items()})
    return totals
