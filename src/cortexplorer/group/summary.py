"""Stage ``group``: every participant's numbers in one table, and their mean and spread across participants.

Per participant (``participants.tsv``, long format: participant, stage, measure, backbone, region, value):

- ``rois``: ``n_voxels`` of each category region, and ``dice_to_others``: the Dice coefficient of the
  participant's region with the group region of the *other* participants (voxels in at least half of
  their masks), so a participant is not compared with itself; only where every mask is on one grid
  (demo, or bids data in a template space); NSD's subject spaces give none. In the demo also
  ``dice_to_planted``: the Dice coefficient with the participant's own planted regions (``rois.tsv``).
- ``encoder`` (each backbone): the per-region medians of noise-normalised test R², noise ceiling and r.
- ``braindive``: the category share of the kept images by the judge (``share_kept``) and by the CNN judge
  (``share_kept_cnn``) where the region has a category.
- ``brainscuba``: the share of captioned voxels whose caption names the region's category
  (``share_named``).

``summary.tsv``: per (stage, measure, backbone, region) the participants counted (n), mean, SD
(n - 1 in the denominator), minimum and maximum. ``group.png`` draws each participant as a dot.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cortexplorer.group.settings import GroupSettings
from cortexplorer.io.figures import write_figure
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.provenance import write_sidecar
from cortexplorer.stats import dice

log = logging.getLogger(__name__)

COLUMNS = ["participant", "stage", "measure", "backbone", "region", "value"]
ROIS_MEASURES = {"n_voxels": "n_voxels", "dice_vs_truth": "dice_to_planted"}  # dice_vs_truth: demo only
ENCODER_MEASURES = {"median_r2_noise_normalised": "r2_noise_normalised", "median_noise_ceiling": "noise_ceiling",
                    "median_r": "r"}
BRAINDIVE_MEASURES = ("share_kept", "share_kept_cnn")
BRAINSCUBA_MEASURES = ("share_named",)


def _rows(subject: str, stage: str, table: pd.DataFrame, measures: Mapping[str, str], backbone: str = "",
          region: str = "region") -> pd.DataFrame:
    """``table``'s ``measures`` columns (renamed) as long rows of :data:`COLUMNS`; values that are not numbers
    (n/a) become NaN."""
    columns = [c for c in measures if c in table.columns]
    long = table.melt(id_vars=[region], value_vars=columns, var_name="measure", value_name="value")
    long["measure"] = long["measure"].map(measures)
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(float)
    long["region"] = long[region].astype(str)
    return long.assign(participant=subject, stage=stage, backbone=backbone)[COLUMNS]


def participant_table(subject: str, inputs: Mapping[str, Any], settings: GroupSettings) -> pd.DataFrame:
    """One participant's rows (see the module docstring) from its stages' tables."""
    parts = [_rows(subject, "rois", read_tsv(Path(inputs[f"rois_{subject}"]) / "rois.tsv",
                                             required=["roi", "n_voxels"]), ROIS_MEASURES, region="roi")]
    for backbone in settings.encoder_backbones:
        table = read_tsv(inputs[f"encoder_{subject}_{backbone}"], required=["region"])
        parts.append(_rows(subject, "encoder", table, ENCODER_MEASURES, backbone=backbone))
    parts.append(_rows(subject, "braindive", read_tsv(inputs[f"braindive_{subject}"], required=["region"]),
                       {m: m for m in BRAINDIVE_MEASURES}))
    if settings.brainscuba:
        table = read_tsv(inputs[f"brainscuba_{subject}"], required=["region"])
        parts.append(_rows(subject, "brainscuba", table, {m: m for m in BRAINSCUBA_MEASURES}))
    return pd.concat(parts, ignore_index=True)


def dice_to_others(masks: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """``dice_to_others`` rows: each participant's region against the voxels in at least half of the other
    participants' masks of that region. ``masks``: participant -> region -> nibabel image. Empty when fewer
    than two participants, or when the masks are not all on one grid (named in a log line)."""
    subjects = list(masks)
    images = [img for s in subjects for img in masks[s].values()]
    if len(subjects) < 2 or not images:
        return pd.DataFrame(columns=COLUMNS)
    ref = images[0]
    if any(img.shape != ref.shape or not np.allclose(img.affine, ref.affine, atol=1e-4) for img in images):
        log.info("dice_to_others: the participants' regions are not on one grid (each in its own space); "
                 "no Dice between participants")
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for region in sorted({r for s in subjects for r in masks[s]}):
        have = [s for s in subjects if region in masks[s]]
        data = {s: np.asarray(masks[s][region].dataobj) > 0 for s in have}
        for s in have:
            others = [data[o] for o in have if o != s]
            if not others:
                continue
            group = np.sum(others, axis=0) >= math.ceil(len(others) / 2)
            rows.append({"participant": s, "stage": "rois", "measure": "dice_to_others", "backbone": "",
                         "region": region, "value": dice(data[s], group)})
    return pd.DataFrame(rows, columns=COLUMNS)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per (stage, measure, backbone, region): participants counted (non-missing values), mean, SD, min, max."""
    keys = ["stage", "measure", "backbone", "region"]
    values = table.dropna(subset=["value"])
    values = values[np.isfinite(values["value"].to_numpy(dtype=float))]
    out = values.groupby(keys, sort=False)["value"].agg(["count", "mean", "std", "min", "max"]).reset_index()
    return out.rename(columns={"count": "n", "std": "sd"})


PANELS = [("rois", "n_voxels", "region size (voxels)"), ("rois", "dice_to_others", "Dice to the other participants"),
          ("rois", "dice_to_planted", "Dice to the planted regions (demo)"),
          ("encoder", "r2_noise_normalised", "encoder: median R² / noise ceiling"),
          ("braindive", "share_kept", "BrainDiVE: category share of kept images"),
          ("brainscuba", "share_named", "BrainSCUBA: share of captions naming the category")]


def group_figure(table: pd.DataFrame):
    """One panel per measure: a dot per participant per region (and backbone), a bar at the group mean."""
    import matplotlib.pyplot as plt

    panels = [(s, m, t) for s, m, t in PANELS if len(table[(table.stage == s) & (table.measure == m)].dropna())]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.3 * max(len(panels), 1)), squeeze=False)
    participants = sorted(table["participant"].unique())
    colours = plt.get_cmap("tab10")
    for ax, (stage, measure, title) in zip(axes[:, 0], panels, strict=False):
        part = table[(table.stage == stage) & (table.measure == measure)].dropna(subset=["value"])
        labels = sorted({(b, r) for b, r in zip(part["backbone"], part["region"], strict=True)})
        for x, (backbone, region) in enumerate(labels):
            cell = part[(part.backbone == backbone) & (part.region == region)]
            ax.hlines(cell["value"].mean(), x - 0.3, x + 0.3, colors="k", linewidth=1.5)
            for _, row in cell.iterrows():
                k = participants.index(row["participant"])
                jitter = (k - (len(participants) - 1) / 2) * 0.12
                ax.scatter(x + jitter, row["value"], s=22, color=colours(k % 10),
                           label=f"sub-{row['participant']}" if x == 0 else None, zorder=3)
        backbones = sorted({b for b, _ in labels} - {""})
        one = len(backbones) <= 1  # one backbone: named in the title, not under every region
        names = [r if one else f"{r} ({b})" for b, r in labels]
        ax.set_xticks(range(len(labels)), names, fontsize=8, rotation=40 if len(labels) > 8 or not one else 0,
                      ha="right" if len(labels) > 8 or not one else "center")
        ax.set_title(title + (f" · {backbones[0]}" if one and backbones else ""), fontsize=9)
        if measure.startswith(("share", "dice")):  # proportions: on their whole range
            ax.set_ylim(-0.05, 1.05)
        ax.grid(axis="y", alpha=0.3)
    if panels:
        axes[0, 0].legend(fontsize=7, ncol=min(len(participants), 6), loc="best")
    fig.suptitle(f"{len(participants)} participant(s); bar: group mean", fontsize=10)
    fig.tight_layout()
    return fig


def group_summary(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: GroupSettings) -> pd.DataFrame:
    """Write ``participants.tsv``, ``summary.tsv``, ``group.png`` and the provenance (see the module docstring)."""
    from cortexplorer.rois.contract import read_roi_set

    tables, masks = [], {}
    for subject in settings.subjects:
        tables.append(participant_table(subject, inputs, settings))
        _, images = read_roi_set(inputs[f"rois_{subject}"])
        masks[subject] = images
    table = pd.concat([*tables, dice_to_others(masks)], ignore_index=True)
    table = table.sort_values(["stage", "measure", "backbone", "region", "participant"], kind="stable")
    summary = summarise(table)
    for row in summary.itertuples():
        if row.measure in ("dice_to_others", "r2_noise_normalised", "share_kept", "share_named"):
            log.info("%-10s %-19s %-10s %-8s n=%d mean %.3f sd %.3f", row.stage, row.measure, row.backbone or "-",
                     row.region, row.n, row.mean, row.sd if not math.isnan(row.sd) else float("nan"))
    write_tsv(table, outputs["participants"])
    write_tsv(summary, outputs["summary"])
    write_figure(group_figure(table), outputs["figure"], dpi=110)
    write_sidecar(outputs["provenance"], stage="group",
                  settings={"subjects": list(settings.subjects), "encoder_backbones": list(settings.encoder_backbones),
                            "brainscuba": settings.brainscuba},
                  seed=None, n_participants=len(settings.subjects))
    return summary



