"""File formats, paths and atomic writing shared by every stage."""

from cortexplorer.io.atomic import atomic_dir, atomic_path
from cortexplorer.io.images import ImageSet, read_image_dir, read_image_set, write_image_set
from cortexplorer.io.tables import read_tsv, write_json, write_tsv

__all__ = [
    "ImageSet",
    "atomic_dir",
    "atomic_path",
    "read_image_dir",
    "read_image_set",
    "read_tsv",
    "write_image_set",
    "write_json",
    "write_tsv",
]
