"""BrainDiVE on the smoke run (moved from test_braindive.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cortexplorer.braindive.guidance import RegionScore
from cortexplorer.braindive.stage import region_voxels

from .conftest import SMOKE


def test_smoke_braindive_outputs_are_consistent(smoke_run):
    """Every seed is written, ranked and the top 20% kept; the PNGs re-scored by the encoder give the recorded
    predictions; guidance plus re-ranking raises the region's predicted activation above the unguided samples."""
    from PIL import Image

    from cortexplorer.braindive.stage import region_mask
    from cortexplorer.encoder import VoxelEncoder
    from cortexplorer.io.tables import read_tsv
    from cortexplorer.models import BackboneSpec, load_backbone

    faces = SMOKE.braindive("01", "faces")
    scores = read_tsv(smoke_run / faces.scores, required=["seed", "file", "predicted", "rank", "kept", "status"])
    unguided = read_tsv(smoke_run / SMOKE.braindive_unguided().table)
    assert scores["seed"].tolist() == unguided["seed"].tolist() == list(range(10))
    assert (scores["status"] == "ok").all() and sorted(scores["rank"]) == list(range(1, 11))
    assert scores["kept"].sum() == 2 and set(scores.loc[scores["kept"], "rank"]) == {1, 2}
    enc = VoxelEncoder.load(smoke_run / SMOKE.encoder("01", "democlip").model)
    net = load_backbone(BackboneSpec.from_config("democlip", {"kind": "demo_clip"}),
                        demo_weights=smoke_run / SMOKE.demo_clip().model)
    mask, category, path = region_mask("faces", smoke_run / SMOKE.rois("01").rois)
    assert category == "face"
    vox = region_voxels(enc, mask, region="faces", mask_path=path, encoder_path="encoder.pt")
    images = np.stack([np.asarray(Image.open(smoke_run / faces.images / f)) for f in scores["file"]])
    with torch.no_grad():
        rescored = RegionScore(net, enc, vox)(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).numpy()
    np.testing.assert_allclose(rescored, scores["predicted"], atol=0.02 * np.ptp(scores["predicted"]) + 1e-3)
    summary = read_tsv(smoke_run / SMOKE.braindive_evaluation("01").summary).set_index("region")
    assert list(summary.index) == ["faces", "places", "V1"]
    assert (summary["predicted_kept"] > summary["predicted_unguided"]).all(), summary
    assert pd.isna(summary.loc["V1", "category"]) and np.isnan(summary.loc["V1", "share_kept"])  # 'low-level': no share
    # the second judge's share of the kept images is the demo CNN's labels of those images
    from cortexplorer.models.prior_quality import demo_cnn_labeller

    kept = scores[scores["kept"]]
    kept_images = np.stack([np.asarray(Image.open(smoke_run / faces.images / f)) for f in kept["file"]])
    from cortexplorer.io.images import read_image_set

    world_size = read_image_set(smoke_run / SMOKE.stimuli().images, smoke_run / SMOKE.stimuli().table).images.shape[1]
    labels = demo_cnn_labeller(smoke_run / SMOKE.demo_cnn().model, world_size, "cpu")(kept_images)
    assert summary.loc["faces", "share_kept_cnn"] == pytest.approx(np.mean(labels == "face"))
    assert np.isnan(summary.loc["V1", "share_kept_cnn"])
    assert summary["true_unguided_sd"].gt(0).all()
