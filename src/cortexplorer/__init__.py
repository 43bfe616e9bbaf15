"""cortexplorer: data-driven exploration of human visual cortex and visual behaviour."""

__version__ = "0.1.0"
