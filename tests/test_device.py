"""Device choice: config values resolve in one place; `auto` never fails without a GPU."""

from __future__ import annotations

import pytest
import torch

from cortexplorer import device


def test_auto_follows_cuda_availability():
    assert device.resolve("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert device.resolve("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"CUDA is not available on this machine\. Set device: auto"):
        device.resolve("cuda")


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        device.resolve("gpu")

