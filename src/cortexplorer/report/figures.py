"""Figures of the dashboard: stimulus montages, regions on the template brain."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from cortexplorer.io.images import ImageSet

REGION_COLOURS = {
    "FFA": "#e6194b", "OFA": "#f58231", "PPA": "#3cb44b", "OPA": "#2e8b57", "RSC": "#9acd32",
    "EBA": "#4363d8", "VWFA": "#911eb4", "FOOD": "#c8a000", "V1": "#808080", "V2": "#a9a9a9", "V3": "#cfcfcf",
}


def category_montage(image_set: ImageSet, per_category: int, scale: int = 2, seed: int = 0) -> Image.Image:
    """One row per category, ``per_category`` images each, with the category name at the left."""
    table = image_set.table
    labels = table["category"].astype(object).fillna("n/a").astype(str).to_numpy()  # NSD: no categories, one row
    rng = np.random.default_rng(seed)
    rows = []
    for cat in dict.fromkeys(labels):
        idx = np.flatnonzero(labels == cat)
        rows.append((str(cat), image_set.images[np.sort(rng.choice(idx, size=min(per_category, len(idx)),
                                                                   replace=False))]))
    return labelled_rows(rows, scale=scale, pad=4, max_per_row=per_category, label_width=90, font_size=14)


def labelled_rows(rows: list[tuple[str, np.ndarray]], scale: int = 2, pad: int = 2, max_per_row: int = 12,
                  label_width: int = 150, font_size: int = 13) -> Image.Image:
    """One row of tiles (uint8 images, enlarged ``scale``×) per (label, images) pair, the label at the left."""
    side = max(r[1].shape[1] for r in rows if len(r[1])) * scale
    n = min(max_per_row, max(len(r[1]) for r in rows))
    canvas = Image.new("RGB", (label_width + n * (side + pad), len(rows) * (side + pad)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=font_size)
    for r, (label, images) in enumerate(rows):
        y = r * (side + pad)
        draw.text((6, y + side // 2 - 8), label, fill=(30, 30, 30), font=font)
        for c, img in enumerate(images[:n]):
            canvas.paste(Image.fromarray(img).resize((side, side), Image.NEAREST), (label_width + c * (side + pad), y))
    return canvas


def example_captions(image_set: ImageSet, n_per_category: int = 2) -> pd.DataFrame:
    rows = []
    for cat, grp in image_set.table.groupby("category", sort=False):
        for _, row in grp.head(n_per_category).iterrows():
            rows.append({"category": cat, "stim_id": row["stim_id"], "caption": row["caption"]})
    return pd.DataFrame(rows)


CUT_Z = (-18, -10, -2, 6, 14, 28)  # axial slices through the ventral and lateral visual regions
DOMAIN_COLOURS = {"faces": "#e6194b", "places": "#3cb44b", "bodies": "#4363d8", "words": "#911eb4", "food": "#c8a000"}


def labels_on_template(label_img: nib.Nifti1Image, colours: list[str], legend: list[str], *, on_template: bool = True,
                        outline: nib.Nifti1Image | None = None, outline_label: str = ""):
    """Label image (1..n) in ``colours`` on axial slices of nilearn's MNI152 template (or on no
    background for subject-space data), with an optional black outline and a legend."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    from nilearn import datasets, plotting

    fig = plt.figure(figsize=(12, 3.6))
    bg = datasets.load_mni152_template(resolution=2) if on_template else None
    display = plotting.plot_roi(label_img, bg_img=bg, display_mode="z", cut_coords=list(CUT_Z) if on_template else 6,
                                cmap=ListedColormap(["#000000", *colours]), vmin=0, vmax=len(colours), alpha=0.85,
                                figure=fig, resampling_interpolation="nearest", draw_cross=False, colorbar=False)
    handles = [Patch(color=c, label=name) for c, name in zip(colours, legend, strict=True)]
    if outline is not None:
        display.add_contours(outline, levels=[0.5], colors="black", linewidths=0.8)
        handles.append(Patch(facecolor="none", edgecolor="black", label=outline_label))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.12))
    return fig


def regions_on_template(atlas_path: str | os.PathLike, regions: pd.DataFrame):
    """Planted regions as coloured overlays on axial slices of nilearn's MNI152 template."""
    labels = regions.sort_values("label")  # the simulator numbers them 1..n
    return labels_on_template(nib.load(atlas_path),
                               [REGION_COLOURS.get(r, "#ff00ff") for r in labels["roi"]],
                               [f"{r} ({c})" for r, c in zip(labels["roi"], labels["category"], strict=True)])


def rois_on_template(rois_dir: str | os.PathLike, table: pd.DataFrame, planted_atlas: str | os.PathLike | None = None,
                     planted_labels: list[int] | None = None, on_template: bool = True):
    """Recovered regions filled in colour on the MNI152 template (``on_template``; otherwise on no
    background, for subject-space data such as NSD's func1pt8mm); planted regions (demo: the atlas
    labels ``planted_labels``, default all) as black outlines."""
    rows = [r for r in table.itertuples() if r.n_voxels > 0]
    if not rows:
        return plt.figure(figsize=(12, 3.6))
    first = nib.load(os.path.join(rois_dir, f"{rows[0].roi}.nii.gz"))
    labels = np.zeros(first.shape, np.int16)
    for i, r in enumerate(rows, start=1):
        labels[np.asanyarray(nib.load(os.path.join(rois_dir, f"{r.roi}.nii.gz")).dataobj) > 0] = i
    outline = None
    if planted_atlas is not None:
        planted = nib.load(planted_atlas)
        lab = np.asanyarray(planted.dataobj)
        inside = np.isin(lab, planted_labels) if planted_labels is not None else lab > 0
        outline = nib.Nifti1Image(inside.astype(np.uint8), planted.affine)
    return labels_on_template(nib.Nifti1Image(labels, first.affine),
                               [DOMAIN_COLOURS.get(r.roi, REGION_COLOURS.get(r.roi, "#ff00ff")) for r in rows],
                               [f"{r.roi} ({r.n_voxels} voxels)" for r in rows], on_template=on_template,
                               outline=outline, outline_label="planted regions (outline)")


def region_selectivity(responses: np.ndarray, categories: np.ndarray, voxel_region: np.ndarray,
                       regions: list[str]) -> pd.DataFrame:
    """Mean true response per region (rows) and stimulus category (columns)."""
    cats = list(dict.fromkeys(categories))
    out = {}
    for roi in regions:
        sel = voxel_region == roi
        if not sel.any():
            continue
        mean_by_stim = responses[:, sel].mean(1)
        out[roi] = {c: float(mean_by_stim[categories == c].mean()) for c in cats}
    return pd.DataFrame(out).T


def selectivity_heatmap(table: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * table.shape[1], 0.45 * table.shape[0] + 1.0))
    im = ax.imshow(table.to_numpy(), cmap="magma", aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    for (i, j), v in np.ndenumerate(table.to_numpy()):
        ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=8,
                color="white" if v < table.to_numpy().max() * 0.6 else "black")
    fig.colorbar(im, ax=ax, label="mean true response (% signal change)")
    ax.set_title("True response by region and stimulus category")
    fig.tight_layout()
    return fig


def map_on_template(img: nib.Nifti1Image, label: str, *, on_template: bool = True, vmax: float = 1.0,
                    threshold: float | None = None):
    """A voxel map (e.g. noise-normalised R²) on axial slices of the MNI152 template (or on no
    background for subject-space data)."""
    from nilearn import datasets, plotting

    fig = plt.figure(figsize=(12, 3.2))
    bg = datasets.load_mni152_template(resolution=2) if on_template else None
    plotting.plot_stat_map(img, bg_img=bg, display_mode="z", cut_coords=list(CUT_Z) if on_template else 6,
                           cmap="inferno", vmin=0, vmax=vmax, threshold=threshold, figure=fig, draw_cross=False,
                           colorbar=True, symmetric_cbar=False, resampling_interpolation="nearest", title=label)
    return fig


def map_on_fsaverage5(img: nib.Nifti1Image, label: str, *, vmax: float = 1.0, threshold: float = 0.05):
    """A volume map in MNI space sampled onto nilearn's fsaverage5 surface: lateral and ventral views
    of both hemispheres (inflated, sulcal depth underneath)."""
    from nilearn import datasets, plotting
    from nilearn.surface import SurfaceImage

    fsaverage = datasets.load_fsaverage("fsaverage5")
    sulcal = datasets.load_fsaverage_data("fsaverage5", data_type="sulcal")
    texture = SurfaceImage.from_volume(mesh=fsaverage["pial"], volume_img=img, radius=3.0, interpolation="linear")
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.0), subplot_kw={"projection": "3d"})
    fig.subplots_adjust(left=0.0, right=0.95, bottom=0.0, top=0.88, wspace=0.0)
    for ax, (hemi, view) in zip(axes, [("left", "lateral"), ("left", "ventral"), ("right", "ventral"),
                                       ("right", "lateral")], strict=True):
        plotting.plot_surf_stat_map(surf_mesh=fsaverage["inflated"], stat_map=texture, hemi=hemi, view=view,
                                    bg_map=sulcal, cmap="inferno", vmin=0, vmax=vmax, threshold=threshold,
                                    colorbar=view == "lateral" and hemi == "right", figure=fig, axes=ax,
                                    title=f"{hemi} {view}")
    fig.suptitle(label, fontsize=10)
    return fig


def labels_on_fsaverage5(label_img: nib.Nifti1Image, colours: list[str], legend: list[str], label: str):
    """A label volume in MNI space (0 = none, 1..n) sampled onto nilearn's fsaverage5 (nearest voxel, so labels
    stay labels): lateral and ventral views of both hemispheres, with a legend."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    from nilearn import datasets, plotting
    from nilearn.surface import SurfaceImage

    fsaverage = datasets.load_fsaverage("fsaverage5")
    sulcal = datasets.load_fsaverage_data("fsaverage5", data_type="sulcal")
    # each label's indicator sampled linearly; a vertex takes the label with the largest weight (none below 0.1),
    # which never mixes label numbers and tolerates volumes that cover only part of the surface
    data = np.asanyarray(label_img.dataobj)
    weights = {"left": [], "right": []}
    for value in range(1, len(colours) + 1):
        texture = SurfaceImage.from_volume(mesh=fsaverage["pial"], volume_img=nib.Nifti1Image(
            (data == value).astype(np.float32), label_img.affine), radius=3.0, interpolation="linear")
        for hemi in weights:
            weights[hemi].append(np.nan_to_num(np.asarray(texture.data.parts[hemi], dtype=float)))
    parts = {}
    for hemi, stack in weights.items():
        w = np.stack(stack)
        parts[hemi] = np.where(w.max(0) >= 0.1, w.argmax(0) + 1, 0).astype(float)
    texture = SurfaceImage(mesh=fsaverage["pial"], data=parts)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), subplot_kw={"projection": "3d"})
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.12, top=0.88, wspace=0.0)
    cmap = ListedColormap(colours)
    for ax, (hemi, view) in zip(axes, [("left", "lateral"), ("left", "ventral"), ("right", "ventral"),
                                       ("right", "lateral")], strict=True):
        plotting.plot_surf_roi(surf_mesh=fsaverage["inflated"], roi_map=texture, hemi=hemi, view=view,
                               bg_map=sulcal, cmap=cmap, vmin=1, vmax=len(colours), colorbar=False, figure=fig,
                               axes=ax, title=f"{hemi} {view}")
    handles = [Patch(color=c, label=name) for c, name in zip(colours, legend, strict=True)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)
    fig.suptitle(label, fontsize=10)
    return fig


def loss_curve(curve: pd.DataFrame, x: str = "epoch", y: str = "train_loss", log_y: bool = False):
    """Training (and held-out) loss per epoch or step."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(curve[x], curve[y], "o-" if len(curve) < 40 else "-", label="training")
    if "heldout_loss" in curve:
        ax.plot(curve[x], curve["heldout_loss"], "s-", label="held out")
    ax.set(xlabel=x, ylabel="loss")
    if log_y:
        ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    return fig


def image_grid(images: np.ndarray, columns: int, scale: int = 2, labels: list[str] | None = None,
               pad: int = 2) -> Image.Image:
    """uint8 images (N × H × W × 3) tiled ``columns`` per row, enlarged ``scale``× (nearest), with an optional
    label under each tile."""
    n = len(images)
    if n == 0:
        return Image.new("RGB", (8, 8), (255, 255, 255))
    h, w = images.shape[1] * scale, images.shape[2] * scale
    label_h = 14 if labels else 0
    rows = (n + columns - 1) // columns
    canvas = Image.new("RGB", (columns * (w + pad), rows * (h + pad + label_h)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=10)
    for i, img in enumerate(images):
        x, y = (i % columns) * (w + pad), (i // columns) * (h + pad + label_h)
        canvas.paste(Image.fromarray(img).resize((w, h), Image.NEAREST), (x, y))
        if labels:
            draw.text((x + 1, y + h), str(labels[i])[: max(3, w // 6)], fill=(30, 30, 30), font=font)
    return canvas
