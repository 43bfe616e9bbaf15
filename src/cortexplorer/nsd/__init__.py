"""The Natural Scenes Dataset: what it consists of, fetching it, importing its stimuli, betas and ROIs."""

from cortexplorer.nsd.betas import import_nsd_betas
from cortexplorer.nsd.manifest import NsdManifest, fetch_file, load_manifest
from cortexplorer.nsd.rois import import_nsd_rois
from cortexplorer.nsd.stimuli import import_nsd_stimuli

__all__ = ["NsdManifest", "fetch_file", "import_nsd_betas", "import_nsd_rois", "import_nsd_stimuli", "load_manifest"]
