"""File formats, paths and atomic writing shared by every stage."""

from cortexplorer.lazy import lazy_exports

__all__ = ["ImageSet", "atomic_dir", "atomic_path", "read_image_dir", "read_image_set", "read_tsv", "write_image_set", "write_json", "write_tsv"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "atomic": ["atomic_dir", "atomic_path"],
    "images": ["ImageSet", "read_image_dir", "read_image_set", "write_image_set"],
    "tables": ["read_tsv", "write_json", "write_tsv"],
})
