"""The one figure writer: a matplotlib figure saved atomically as PNG, then closed."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from cortexplorer.io.atomic import atomic_path


def write_figure(fig: plt.Figure, path: str | os.PathLike, *, dpi: int, bbox_inches: str | None = None) -> None:
    """Save ``fig`` to ``path`` (PNG) under a temporary name, rename it when complete, close the figure."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches=bbox_inches)
    plt.close(fig)
