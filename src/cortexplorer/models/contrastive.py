"""CLIP's contrastive objective, shared by the demo CLIP and the decoders that align brain activity with it.

Pair i of a batch is (a_i, b_i); the logits are ``scale · cos(a_i, b_j)``. The symmetric InfoNCE loss is the mean of
the cross-entropy of each row (a_i picks its b among the batch) and of each column (b_j picks its a) — Radford et al.
2021, Fig. 3. The scale is learnt as a log, starts at 1/0.07 and is clamped at 100, as CLIP does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CLIP_INIT_SCALE = 1 / 0.07
CLIP_MAX_SCALE = 100.0


def symmetric_info_nce(logits: torch.Tensor) -> torch.Tensor:
    """The loss of a square ``logits`` table whose diagonal holds the matching pairs."""
    target = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class LogitScale(nn.Module):
    """A learnable temperature: ``forward()`` is ``exp(log_scale)``, at most ``max_scale``."""

    def __init__(self, init: float = CLIP_INIT_SCALE, max_scale: float = CLIP_MAX_SCALE):
        super().__init__()
        if not 0 < init <= max_scale:
            raise ValueError(f"The initial logit scale {init} must lie in (0, {max_scale}].")
        self.log_scale = nn.Parameter(torch.tensor(math.log(init)))
        self.max_log = math.log(max_scale)

    def forward(self) -> torch.Tensor:
        return self.log_scale.clamp(max=self.max_log).exp()


def clip_loss(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE between the rows of ``a`` and ``b`` (B × E each; normalised here)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"A contrastive batch needs as many rows on both sides, not {a.shape[0]} and {b.shape[0]}.")
    return symmetric_info_nce(scale * F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T)
