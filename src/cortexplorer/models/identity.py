"""Whether a loaded backbone is the one a fitted model (an encoder) read its features from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortexplorer.features.extract import identity_differences


def check_same_backbone(loaded: Mapping[str, Any], fitted: Mapping[str, Any], *, encoder_path: str,
                        config_key: str) -> None:
    """Refuse a backbone whose identity (kind, arch, weights) differs from the one the encoder was fitted on.

    ``loaded`` is the identity of the backbone in use, ``fitted`` the encoder's record of its backbone,
    ``config_key`` the config key that chose the backbone (named in the error).
    """
    diff = identity_differences(loaded, fitted)
    if diff:
        raise ValueError(f"The encoder '{encoder_path}' reads features of another backbone than {config_key} "
                         f"({diff}: loaded vs fitted); set {config_key} to the backbone the encoder was fitted on.")
