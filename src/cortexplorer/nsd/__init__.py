"""The Natural Scenes Dataset: what it consists of, fetching it, importing its stimuli."""

from cortexplorer.nsd.manifest import NsdManifest, fetch_file, load_manifest
from cortexplorer.nsd.stimuli import import_nsd_stimuli

__all__ = ["NsdManifest", "fetch_file", "import_nsd_stimuli", "load_manifest"]
