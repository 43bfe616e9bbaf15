"""The rois stage's thresholding on synthetic t maps.

The preprocess and rois stages on the smoke run, scored against the simulated subject's truth:
``tests/e2e/test_preprocess_outputs.py``.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np


def test_exclusive_regions_keep_the_cluster_rule():
    from cortexplorer.rois.localizer import threshold_regions

    affine = np.eye(4)
    t1 = np.zeros((20, 20, 20))
    t2 = np.zeros((20, 20, 20))
    t1[2:8, 2:8, 2:8] = 5.0  # a 216-voxel cube
    t2[6:8, 2:8, 2:8] = 6.0  # overlaps t1's last two slabs with a higher t: 72 voxels, all won by t2
    t2[12:13, 12:14, 12:13] = 9.0  # a 2-voxel blob: below the cluster size
    masks = threshold_regions({"a": nib.Nifti1Image(t1, affine), "b": nib.Nifti1Image(t2, affine)}, 3.0, 10)
    assert masks["a"].sum() == 216 - 72 and masks["b"].sum() == 72
    # what exclusivity leaves of a region must still form clusters of at least the minimum size
    t1[8:10, 3, 3] = 5.0  # a 2-voxel tail of the cube...
    t2[7:9, 3, 3] = 6.0  # ...cut off from it by a b voxel: the tail alone is below 10 voxels
    masks = threshold_regions({"a": nib.Nifti1Image(t1, affine), "b": nib.Nifti1Image(t2, affine)}, 3.0, 10)
    assert not masks["a"][9, 3, 3] and masks["a"].sum() == 216 - 72


def test_settings_from_config_read_the_job_and_the_native_space():
    from cortexplorer.config import check_config
    from cortexplorer.preprocess.stage import PreprocessSettings
    from cortexplorer.rois.localizer import RoisSettings

    cfg = check_config({"dataset": {"name": "t", "mode": "demo"}, "seed": 3,
                        "preprocess": {"space": ""}, "rois": {"categories": ["face", "place"]}})
    pre = PreprocessSettings.from_config(cfg, subject="02")
    assert (pre.subject, pre.space, pre.seed, pre.recipe.seed) == ("02", None, 3, 3)
    assert pre.recipe.fracs == tuple(cfg["preprocess"]["recipe"]["fracs"])
    rois = RoisSettings.from_config(cfg, subject="02")
    assert (rois.space, rois.categories, rois.task) == (None, ("face", "place"), cfg["rois"]["task"])
    assert rois.confounds == cfg["preprocess"]["confounds"]
    assert pre.res is None and rois.res is None  # the default "": any resolution, if there is only one
    cfg["preprocess"]["res"] = "2"
    assert PreprocessSettings.from_config(cfg, subject="02").res == RoisSettings.from_config(cfg, subject="02").res == "2"
