"""Shared model loading: open_clip backbones (real weights from the local cache, or the demo's own)."""

from cortexplorer.models.backbone import (
    DEMO_ARCH,
    Backbone,
    BackboneSpec,
    create_clip,
    file_sha256,
    load_backbone,
    open_clip_module,
    resolve_open_clip_weights,
)

__all__ = ["DEMO_ARCH", "Backbone", "BackboneSpec", "create_clip", "file_sha256", "load_backbone",
           "open_clip_module", "resolve_open_clip_weights"]
