"""One place that decides which torch device a stage uses."""

from __future__ import annotations


def resolve(device: str = "auto") -> str:
    """Turn a config value (``auto``, ``cpu``, ``cuda``, ``cuda:N``) into a torch device string.

    ``auto`` picks CUDA when present and the CPU otherwise; asking for ``cuda`` on a machine
    without it is an error rather than a silent CPU run.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"Config asks for device '{device}' but CUDA is not available on this machine. "
                "Set device: auto (or cpu) in the config."
            )
        return device
    raise ValueError(f"Unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'.")

