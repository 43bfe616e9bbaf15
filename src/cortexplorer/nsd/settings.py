"""The NSD stages' settings (a light module: the workflow imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FetchSettings:
    url: str
    expected_bytes: int | None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, nsd_path: str, expected_bytes: int | None) -> FetchSettings:
        return cls(url=f"{cfg['nsd']['base_url'].rstrip('/')}/{nsd_path}", expected_bytes=expected_bytes)



@dataclass(frozen=True)
class NsdStimuliSettings:
    subjects: tuple[int, ...]
    image_size: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> NsdStimuliSettings:
        return cls(subjects=tuple(cfg["nsd"]["subjects"]), image_size=cfg["nsd"]["image_size"])



@dataclass(frozen=True)
class NsdBetasSettings:
    subject: int
    sessions: tuple[int, ...]  # sorted: the order of the betas files

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, subject: str) -> NsdBetasSettings:
        return cls(subject=int(subject), sessions=tuple(sorted(cfg["nsd"]["sessions"])))



@dataclass(frozen=True)
class NsdRoisSettings:
    subject: str

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, subject: str) -> NsdRoisSettings:
        return cls(subject=subject)
