"""The Natural Scenes Dataset: what it consists of, fetching it, importing its stimuli, betas and ROIs."""

from cortexplorer.lazy import lazy_exports

__all__ = ["NsdManifest", "fetch_file", "import_nsd_betas", "import_nsd_rois", "import_nsd_stimuli", "load_manifest"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "betas": ["import_nsd_betas"],
    "manifest": ["NsdManifest", "fetch_file", "load_manifest"],
    "rois": ["import_nsd_rois"],
    "stimuli": ["import_nsd_stimuli"],
})
