"""What voxel captions say: nouns, their categories, and per-region shares.

Nouns are read from each caption with a category lexicon (``lexicon.tsv`` beside this module, or
``brainscuba.lexicon``): a table of surface words (plural forms included, multi-word nouns allowed),
their lemma and a category. A caption *names* a category when any of its nouns belongs to it; its
*category* (for maps) is the category of its first noun, the caption's subject in "a man riding a
horse" and in the demo's template captions. BrainSCUBA's paper reports, per region, the share of
voxels whose caption names the region's preferred category and the most frequent nouns
(the released code has no such step; reference §5.3).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

NO_NOUN = "none"  # category of a caption without a lexicon noun
_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")


@dataclass(frozen=True)
class Lexicon:
    """``word → (noun, category)``; ``max_words`` is the longest multi-word entry."""

    entries: Mapping[str, tuple[str, str]]
    source: str

    @property
    def categories(self) -> list[str]:
        return sorted({c for _, c in self.entries.values()})

    @property
    def max_words(self) -> int:
        return max(len(w.split()) for w in self.entries)


def default_lexicon_path() -> str:
    return str(resources.files("cortexplorer.brainscuba") / "lexicon.tsv")


def read_lexicon(path: str | os.PathLike | None = None) -> Lexicon:
    """The lexicon TSV (columns word, noun, category; ``#`` comment lines); a clear error for a malformed file."""
    path = str(path or default_lexicon_path())
    if not Path(path).is_file():
        raise FileNotFoundError(f"Lexicon '{path}' (brainscuba.lexicon) does not exist; point the key at a TSV with "
                                "columns word, noun, category, or leave it empty for the shipped lexicon.")
    table = pd.read_csv(path, sep="\t", comment="#", dtype=str, keep_default_na=False)
    missing = [c for c in ("word", "noun", "category") if c not in table.columns]
    if missing:
        raise ValueError(f"Lexicon '{path}' lacks the column(s) {missing}; it has {list(table.columns)}. Use columns "
                         "word (as written in captions), noun (its lemma) and category.")
    if table.empty:
        raise ValueError(f"Lexicon '{path}' has no rows; add one row per word.")
    words = table["word"].str.strip().str.lower()
    blank = table.index[(words == "") | (table["category"].str.strip() == "")]
    if len(blank):
        raise ValueError(f"Lexicon '{path}': row(s) {[int(i) + 2 for i in blank[:5]]} have an empty word or category.")
    dup = words[words.duplicated()]
    if len(dup):
        raise ValueError(f"Lexicon '{path}' lists the word(s) {sorted(set(dup))[:5]} twice; keep one row per word.")
    nouns = table["noun"].str.strip().str.lower().where(table["noun"].str.strip() != "", words)
    cats = table["category"].str.strip()
    return Lexicon({w: (n, c) for w, n, c in zip(words, nouns, cats, strict=True)}, path)


def nouns_in(caption: str, lexicon: Lexicon) -> list[tuple[str, str]]:
    """``(noun, category)`` of every lexicon word in the caption, in order (longest match first)."""
    if not isinstance(caption, str):
        return []
    tokens = _WORD.findall(caption.lower())
    found, i = [], 0
    while i < len(tokens):
        for n in range(min(lexicon.max_words, len(tokens) - i), 0, -1):
            hit = lexicon.entries.get(" ".join(tokens[i:i + n]))
            if hit is not None:
                found.append(hit)
                i += n
                break
        else:
            i += 1
    return found


def caption_category(caption: str, lexicon: Lexicon) -> str:
    """The category of the caption's first noun (``none`` without one)."""
    found = nouns_in(caption, lexicon)
    return found[0][1] if found else NO_NOUN


def annotate(captions: pd.DataFrame, lexicon: Lexicon) -> pd.DataFrame:
    """Add ``nouns`` (``;``-joined lemmas), ``category`` (first noun's) and one ``names_<category>`` flag per
    lexicon category to a table with a ``caption`` column."""
    out = captions.copy()
    found = [nouns_in(c, lexicon) for c in out["caption"]]
    out["nouns"] = [";".join(n for n, _ in f) for f in found]
    out["category"] = [f[0][1] if f else NO_NOUN for f in found]
    for cat in lexicon.categories:
        out[f"names_{cat}"] = [any(c == cat for _, c in f) for f in found]
    return out


def region_shares(annotated: pd.DataFrame, region_voxels: Mapping[str, np.ndarray],
                  region_category: Mapping[str, str], categories: Sequence[str]) -> pd.DataFrame:
    """Per region: voxels captioned (``n_voxels``; of its ``n_voxels_region``, only those fitted well enough are),
    the share of them whose caption names each category, and for the region's preferred category the same share
    among all other captioned voxels and the ratio.

    ``annotated`` has one row per captioned voxel (``voxel`` column; with several repeats a voxel's share
    is the mean over its repeats). ``region_voxels`` maps a region to its voxel indices.
    """
    flags = annotated.groupby("voxel")[[f"names_{c}" for c in categories]].mean()
    first = annotated.groupby("voxel")["category"].agg(lambda s: Counter(s).most_common(1)[0][0])
    rows = []
    for region, vox in region_voxels.items():
        inside = flags.index.isin(np.asarray(vox))
        cat = region_category.get(region, "")
        row: dict = {"region": region, "category": cat or "n/a", "n_voxels": int(inside.sum()),
                     "n_voxels_region": len(vox)}
        if cat in categories and inside.any():
            row["share_named"] = float(flags.loc[inside, f"names_{cat}"].mean())
            other = float(flags.loc[~inside, f"names_{cat}"].mean()) if (~inside).any() else np.nan
            row["share_named_other_voxels"] = other
            row["ratio"] = row["share_named"] / other if other > 0 else np.inf
        else:
            row.update(share_named=np.nan, share_named_other_voxels=np.nan, ratio=np.nan)
        for c in categories:  # the distribution of the captions' (first-noun) categories in the region
            row[f"first_{c}"] = float((first[inside] == c).mean()) if inside.any() else np.nan
        row[f"first_{NO_NOUN}"] = float((first[inside] == NO_NOUN).mean()) if inside.any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def top_nouns(annotated: pd.DataFrame, region_voxels: Mapping[str, np.ndarray], k: int) -> pd.DataFrame:
    """The ``k`` most frequent nouns of each region's captions: region, rank, noun, count, share of captions."""
    rows = []
    for region, vox in region_voxels.items():
        sub = annotated[annotated["voxel"].isin(np.asarray(vox))]
        counts = Counter(n for ns in sub["nouns"] for n in set(filter(None, str(ns).split(";"))))
        for rank, (noun, count) in enumerate(counts.most_common(k), start=1):
            rows.append({"region": region, "rank": rank, "noun": noun, "count": count,
                         "share_of_captions": count / max(1, len(sub))})
    return pd.DataFrame(rows, columns=["region", "rank", "noun", "count", "share_of_captions"])


def example_captions(annotated: pd.DataFrame, region_voxels: Mapping[str, np.ndarray], n: int, *,
                     seed: int) -> pd.DataFrame:
    """``n`` captions per region: its most frequent caption first, then voxels drawn at random (seeded)."""
    rng = np.random.default_rng(seed)
    rows = []
    for region, vox in region_voxels.items():
        sub = annotated[annotated["voxel"].isin(np.asarray(vox))]
        if sub.empty:
            continue
        common = sub["caption"].value_counts()
        picks = [sub.index[sub["caption"] == common.index[0]][0]]
        rest = sub.index.difference(picks).to_numpy()
        picks += list(rng.choice(rest, size=min(n - 1, len(rest)), replace=False))
        for i in picks:
            rows.append({"region": region, "voxel": int(sub.at[i, "voxel"]), "caption": sub.at[i, "caption"],
                         "category": sub.at[i, "category"]})
    return pd.DataFrame(rows, columns=["region", "voxel", "caption", "category"])
