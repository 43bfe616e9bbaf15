"""One place that decides which torch device a stage uses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_CURRENT: list[str] = []


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


@contextlib.contextmanager
def use(device: str = "auto") -> Iterator[str]:
    """Context in which :func:`current` returns ``device``; the previous one is restored on exit."""
    _CURRENT.append(resolve(device))
    try:
        yield _CURRENT[-1]
    finally:
        _CURRENT.pop()


def current() -> str:
    """The device chosen by the innermost :func:`use` block (``auto`` resolution outside any)."""
    return _CURRENT[-1] if _CURRENT else resolve("auto")
