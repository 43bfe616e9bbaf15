"""Entry points of the NSD rules (``fetch_nsd``, ``stimuli_nsd``, ``preprocess_nsd``, ``rois_nsd``).

Each rule builds its settings with ``from_config(CFG, ...)`` and its script calls
``run_stage(snakemake, entry)``; ``inputs``/``outputs`` are the rule's named files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortexplorer.nsd.betas import import_nsd_betas
from cortexplorer.nsd.manifest import fetch_file
from cortexplorer.nsd.rois import import_nsd_rois
from cortexplorer.nsd.settings import FetchSettings, NsdBetasSettings, NsdRoisSettings, NsdStimuliSettings
from cortexplorer.nsd.stimuli import import_nsd_stimuli


def fetch_nsd_file(inputs: Mapping[str, Any], outputs: Mapping[str, str], settings: FetchSettings) -> None:
    """Download one NSD file to ``outputs["file"]`` (its place under ``nsd.root``)."""
    fetch_file(settings.url, outputs["file"], expected_bytes=settings.expected_bytes)


def nsd_stimuli(inputs: Mapping[str, Any], outputs: Mapping[str, str], settings: NsdStimuliSettings) -> None:
    """``inputs``: ``hdf5`` (nsd_stimuli.hdf5), ``expdesign`` (nsd_expdesign.mat), ``stim_info`` (the csv)."""
    import_nsd_stimuli(stimuli_hdf5=inputs["hdf5"], expdesign_mat=inputs["expdesign"],
                       stim_info_csv=inputs["stim_info"], subjects=list(settings.subjects),
                       image_size=settings.image_size, out_h5=outputs["images"], out_tsv=outputs["table"],
                       out_provenance=outputs["provenance"])


def nsd_betas(inputs: Mapping[str, Any], outputs: Mapping[str, str], settings: NsdBetasSettings) -> None:
    """``inputs``: ``betas`` (one file per session), ``expdesign``, ``ncsnr`` and ``mask`` (one file each)."""
    import_nsd_betas(subject=settings.subject, sessions=list(settings.sessions), betas_files=list(inputs["betas"]),
                     expdesign_mat=inputs["expdesign"], ncsnr_nii=inputs["ncsnr"][0], mask_nii=inputs["mask"][0],
                     out_h5=outputs["betas"], out_ncsnr=outputs["ncsnr"], out_noiseceiling=outputs["noiseceiling"],
                     out_provenance=outputs["provenance"])


def nsd_rois(inputs: Mapping[str, Any], outputs: Mapping[str, str], settings: NsdRoisSettings) -> None:
    """``inputs``: the subject's floc ROI files keyed ``floc-faces``, ``floc-places``, ..."""
    import_nsd_rois(roi_files=dict(inputs), out_dir=outputs["rois"])
