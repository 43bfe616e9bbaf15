"""Shared model loading: open_clip backbones (real weights from the local cache, or the demo's own)."""

from cortexplorer.lazy import lazy_exports

__all__ = ["DEMO_ARCH", "Backbone", "BackboneSpec", "create_clip", "file_sha256", "load_backbone", "open_clip_module", "resolve_open_clip_weights"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "backbone": ["Backbone", "BackboneSpec", "DEMO_ARCH", "create_clip", "file_sha256", "load_backbone", "open_clip_module", "resolve_open_clip_weights"],
})
