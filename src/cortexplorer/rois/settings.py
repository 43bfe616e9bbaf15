"""The rois stage's settings (a light module: the workflow imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cortexplorer.layout import Layout
from cortexplorer.preprocess.settings import session_labels


@dataclass(frozen=True)
class RoisSettings:
    """One subject's ``rois`` job: the config's ``rois`` section, with ``preprocess``'s space, res and confounds."""

    subject: str
    task: str
    space: str | None  # None: the runs' native space
    res: str | None  # None: any resolution, if fMRIPrep wrote only one
    categories: tuple[str, ...] | None  # None: every trial type left after ``ignore``
    confounds: Mapping[str, Any]
    t_threshold: float
    min_cluster_mm3: float
    category_map: Mapping[str, str]
    ignore: tuple[str, ...]
    sessions: tuple[str, ...] = ()  # bids.sessions: only these sessions' runs (empty: every session)
    bids_index: str | None = None  # where the dataset's pybids index is kept (None: index in memory)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, subject: str) -> RoisSettings:
        rois, pre = cfg["rois"], cfg["preprocess"]
        return cls(subject=subject, task=rois["task"], space=pre["space"] or None, res=pre["res"] or None,
                   categories=None if rois["categories"] is None else tuple(rois["categories"]),
                   confounds=dict(pre["confounds"]), t_threshold=rois["t_threshold"],
                   min_cluster_mm3=rois["min_cluster_mm3"], category_map=dict(rois["category_map"]),
                   ignore=tuple(rois["ignore"]), sessions=session_labels(cfg),
                   bids_index=Layout(cfg["dataset"]["name"]).bids_index())
