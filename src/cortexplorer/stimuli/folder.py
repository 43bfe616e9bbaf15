"""Import a folder of stimulus images (BIDS ``stimuli/``) into the image-set contract.

What happens to each entry of the folder:

- a still image in a format this Pillow decodes (:data:`STILL_IMAGE_SUFFIXES`: PNG, JPEG, BMP, TIFF,
  GIF, WebP, …) becomes a stimulus whose ``stim_id`` is its file stem, or, in a sub-folder, its path
  without the suffix (``animals/cat01``); ``stim_file`` is its path relative to the folder with the
  suffix (``animals/cat01.jpg``: what a BIDS events file's ``stim_file`` column names). Both are Unicode,
  NFC-normalised so that a macOS file name matches the same text typed into a table; two files with one
  ``stim_id`` are an error. An animated GIF or WebP gives its first frame (named in a WARNING line). A
  truncated or corrupt image is an error naming it: every image is decoded in full, not only its header.
- a non-square image becomes square as ``fit`` says (config ``stimuli.fit``): ``crop`` (centre crop to
  the short side, as NSD cropped COCO), ``pad`` (borders of the image's mean colour up to the long
  side) or ``stretch``; then it is resized to ``image_size``. One log line counts them.
- hidden entries (names starting with '.': ``.DS_Store``, macOS ``._img0001.png`` AppleDouble files)
  are skipped, as BIDS tools skip them; one INFO line counts them.
- ``stimuli.tsv`` annotates the images; ``stimuli.json`` and README-like notes are left alone.
- sub-folders are searched the same way (hidden ones skipped); ``stimuli.tsv`` and notes count only at the top.
- anything else (another format) is not imported, and named in one WARNING line.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, features

from cortexplorer.io.check import visible_tree
from cortexplorer.io.images import ImageSet, write_image_set
from cortexplorer.io.tables import read_tsv
from cortexplorer.provenance import write_sidecar

log = logging.getLogger(__name__)

FITS = ("crop", "pad", "stretch")
# Still-image formats Pillow always decodes; WebP and AVIF need Pillow built with them.
STILL_IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pbm", ".pnm",
     ".tga", ".qoi"}
    | ({".webp"} if features.check("webp") else set())
    | ({".avif"} if features.check("avif") else set())
)
ANNOTATIONS = "stimuli.tsv"
# Files a stimulus folder may hold beside its images without a warning.
NOTE_NAMES = {"stimuli.json", "readme", "license", "licence", "changes", "citation"}
NOTE_SUFFIXES = {".md", ".txt", ".rst"}


def _named(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _sort_folder(folder: Path) -> list[Path]:
    """The stimulus images of ``folder`` and its sub-folders (sorted by relative path), logging what else they
    hold (see the module docstring)."""
    others, images = [], []
    files, hidden = visible_tree(folder)  # the same walk that lists the import's inputs (io.check.folder_files)
    for p in map(Path, files):
        if p.suffix.lower() in STILL_IMAGE_SUFFIXES:
            images.append(p)
        elif p.parent == folder and (p.name == ANNOTATIONS or p.name.lower() in NOTE_NAMES
                                     or p.stem.lower() in NOTE_NAMES or p.suffix.lower() in NOTE_SUFFIXES):
            continue
        else:
            others.append(p.relative_to(folder).as_posix())
    images.sort(key=lambda p: p.relative_to(folder).as_posix())
    if hidden:
        log.info("stimulus folder '%s': skipped %d hidden file(s) (names starting with '.', such as macOS '._' "
                 "AppleDouble files), as BIDS tools do", folder, hidden)
    if others:
        log.warning("stimulus folder '%s': %d entr%s not imported, not a still image this Pillow decodes (%s): %s. "
                    "Convert them to PNG, or move them out of the folder to silence this warning.", folder,
                    len(others), "y" if len(others) == 1 else "ies", " ".join(sorted(STILL_IMAGE_SUFFIXES)),
                    _named(sorted(others)))
    return images


def stim_file_key(path: str) -> str:
    """A stimulus file's path relative to the stimulus folder as the tables compare it: '/'-separated,
    NFC-normalised, without a leading './'."""
    key = unicodedata.normalize("NFC", str(path).replace("\\", "/"))
    while key.startswith("./"):
        key = key[2:]
    return key


def stim_id_of_file(stim_file: str) -> str:
    """The ``stim_id`` of a stimulus file's path relative to the stimulus folder (a BIDS ``stim_file`` value):
    the path as :func:`stim_file_key` writes it, without its suffix (``animals/cat01.jpg`` → ``animals/cat01``)."""
    key = stim_file_key(stim_file)
    return key[: len(key) - len(Path(key).suffix)]


def _stim_ids(files: list[Path], folder: Path) -> tuple[list[str], list[str]]:
    """Each file's ``stim_id`` (its stem, or its relative path without the suffix in a sub-folder) and
    ``stim_file`` (its relative path), NFC-normalised; two files with one stim_id are an error naming them."""
    rel = [stim_file_key(p.relative_to(folder).as_posix()) for p in files]
    ids = [stim_id_of_file(r) for r in rel]
    by_id: dict[str, list[str]] = defaultdict(list)
    for sid, r in zip(ids, rel, strict=True):
        by_id[sid].append(r)
    clashes = [f"'{sid}' ({', '.join(names)})" for sid, names in by_id.items() if len(names) > 1]
    if clashes:
        raise ValueError(f"Stimulus folder '{folder}' has several images with the same name stem: "
                         f"{_named(clashes)}. The stem is the stim_id and must be unique: remove or rename all but "
                         "one of each.")
    return ids, rel


def fit_square(image: Image.Image, fit: str) -> Image.Image:
    """Make an RGB ``image`` square: centre ``crop`` to its short side, ``pad`` to its long side with its mean
    colour, or leave it for the resize to ``stretch``."""
    w, h = image.size
    if w == h or fit == "stretch":
        return image
    if fit == "crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        return image.crop((left, top, left + side, top + side))
    side = max(w, h)
    mean = tuple(int(c) for c in np.asarray(image).reshape(-1, 3).mean(0).round())
    square = Image.new("RGB", (side, side), mean)
    square.paste(image, ((side - w) // 2, (side - h) // 2))
    return square


def _decode(path: Path) -> tuple[Image.Image, bool]:
    """The image at ``path`` fully decoded as RGB (first frame) and whether it is animated."""
    with Image.open(path) as im:
        im.load()  # decode every byte now: a truncated file fails here, not in a later stage
        return im.convert("RGB"), getattr(im, "n_frames", 1) > 1


def import_image_folder(*, folder: str | os.PathLike, image_size: int, out_h5: str | os.PathLike,
                        out_tsv: str | os.PathLike, out_provenance: str | os.PathLike, fit: str = "crop") -> None:
    """Every still image in ``folder`` (and its sub-folders) becomes a stimulus (``stim_id``: the file stem, or
    the relative path without the suffix in a sub-folder; ``stim_file``: the relative path), made square
    as ``fit`` says (``crop``, ``pad`` or ``stretch``) and resized to ``image_size``.

    An optional ``stimuli.tsv`` in the folder (``stim_id`` plus any of ``category``, ``caption``,
    ``split``) annotates them; a row naming a missing image is an error. The module docstring lists
    how every other kind of entry is handled.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be one of {list(FITS)}, not {fit!r} (config key stimuli.fit).")
    folder = Path(folder)
    files = _sort_folder(folder)
    if not files:
        raise FileNotFoundError(f"No images ({' '.join(sorted(STILL_IMAGE_SUFFIXES))}) in stimulus folder "
                                f"'{folder}'. Point bids.stimuli_dir at the folder holding your stimulus images.")
    ids, rel = _stim_ids(files, folder)
    table = pd.DataFrame({"stim_id": ids, "category": pd.NA, "caption": pd.NA, "split": "train"})
    table["stim_file"] = rel
    annotations = folder / ANNOTATIONS
    if annotations.exists():
        ann = read_tsv(annotations, required=["stim_id"])
        ann["stim_id"] = [unicodedata.normalize("NFC", s) for s in ann["stim_id"].astype(str)]
        ann = ann.set_index("stim_id")
        unknown = sorted(set(ann.index) - set(table["stim_id"]))
        if unknown:
            raise ValueError(f"'{annotations}' lists stim_id(s) with no image file: {unknown[:5]}"
                             f"{' …' if len(unknown) > 5 else ''}. Add the images or remove those rows.")
        for col in ("category", "caption", "split"):
            if col in ann.columns:
                table[col] = table["stim_id"].map(ann[col]).fillna(table[col])

    images, broken, animated, non_square = [], [], [], []
    for p in files:
        try:
            image, is_animated = _decode(p)
        except (OSError, SyntaxError, ValueError) as e:  # UnidentifiedImageError is an OSError
            broken.append(f"'{p}' ({e})")
            continue
        if is_animated:
            animated.append(p.relative_to(folder).as_posix())
        if image.width != image.height:
            non_square.append(f"{p.relative_to(folder).as_posix()} ({image.width}×{image.height})")
        images.append(np.asarray(fit_square(image, fit).resize((image_size, image_size), Image.BICUBIC)))
    if broken:
        raise ValueError(f"{len(broken)} stimulus image(s) cannot be decoded, truncated or corrupt: {_named(broken)}. "
                         "Re-export each from its source, or replace it with an intact copy.")
    if animated:
        log.warning("stimulus folder '%s': %d animated image(s), of which only the first frame is used: %s",
                    folder, len(animated), _named(animated))
    if non_square:
        how = {"crop": "centre-cropped to the short side", "pad": "padded to the long side with their mean colour",
               "stretch": "stretched (aspect ratio not kept)"}[fit]
        log.log(logging.WARNING if fit == "stretch" else logging.INFO,
                "stimulus folder '%s': %d non-square image(s) %s before resizing to %d×%d (stimuli.fit: %s): %s",
                folder, len(non_square), how, image_size, image_size, fit, _named(non_square))
    write_image_set(ImageSet(np.stack(images).astype(np.uint8), table), out_h5, out_tsv)
    log.info("imported %d images from %s", len(files), folder)
    write_sidecar(out_provenance, stage="stimuli/folder",
                  settings={"folder": str(folder), "image_size": image_size, "fit": fit},
                  seed=None, n_images=len(files))
