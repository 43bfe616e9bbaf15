"""The group stage's settings (a light module: the workflow imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GroupSettings:
    """Which participants and which stages' tables the group summary reads (BrainDiVE's always; BrainSCUBA's
    when it runs)."""

    subjects: tuple[str, ...]
    encoder_backbones: tuple[str, ...]
    brainscuba: bool

    @classmethod
    def from_workflow(cls, *, subjects: Sequence[str], encoder_backbones: Sequence[str],
                      brainscuba: bool) -> GroupSettings:
        return cls(subjects=tuple(subjects), encoder_backbones=tuple(encoder_backbones), brainscuba=brainscuba)
