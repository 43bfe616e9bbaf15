"""The group stage's settings (a light module: the workflow imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GroupSettings:
    """Which participants and which stages' tables the group summary reads."""

    subjects: tuple[str, ...]
    encoder_backbones: tuple[str, ...]
    braindive: bool
    brainscuba: bool

    @classmethod
    def from_workflow(cls, *, subjects: Sequence[str], encoder_backbones: Sequence[str], brainscuba: bool,
                      braindive: bool = True) -> GroupSettings:
        return cls(subjects=tuple(subjects), encoder_backbones=tuple(encoder_backbones), braindive=braindive,
                   brainscuba=brainscuba)
