"""The simulated subject's settings (a light module: the workflow imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SimulationSettings:
    """The config's ``simulate`` section (defaults in the config schema) for one participant, and the seed."""

    subject: str  # the participant this job simulates (one of simulate.subjects)
    reference: bool  # the first of simulate.subjects: the configured region centres and the run's own streams
    anatomy_jitter_mm: float
    voxel_size_mm: int
    tr: float
    n_sessions: int
    runs_per_session: int
    repeats: int
    trial_duration: float
    trial_interval: float
    blank_fraction: float
    rest_start: float
    rest_end: float
    region_radius_mm: float
    regions: Sequence[dict]
    early_visual: dict
    signal_sd_percent: Sequence[float]
    noise_sd_percent: Sequence[float]
    ar1: Sequence[float]
    drift_sd_percent: float
    motion_coupling_percent_per_mm: float
    physio_sd_percent: float
    physio_sources: int
    session_gain_sd: float
    localizer: dict
    networks: Sequence[dict]
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, subject: str) -> SimulationSettings:
        """One participant's settings (the participant list is not among them, so that adding a participant
        leaves the others' jobs as they are; only whether it is the first, the reference)."""
        section = {k: v for k, v in cfg["simulate"].items() if k != "subjects"}
        reference = subject == cfg["simulate"]["subjects"][0]
        if reference:  # the configured centres, and a sidecar that says so
            section["anatomy_jitter_mm"] = 0.0
        return cls(**section, subject=subject, reference=reference, seed=cfg["seed"])


@dataclass(frozen=True)
class SimulatedDatasetSettings:
    """What the simulated BIDS dataset's own files say: its participants and the repetition time."""

    subjects: Sequence[str]
    tr: float

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SimulatedDatasetSettings:
        return cls(subjects=tuple(cfg["simulate"]["subjects"]), tr=cfg["simulate"]["tr"])
