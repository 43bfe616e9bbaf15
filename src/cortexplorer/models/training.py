"""What the demo's trainers share: their settings, one held-out split, one epoch loop.

The oracle, the demo CLIP, the demo CNN and the demo captioner all hold out a random share of
their images, then train for a number of epochs on shuffled mini-batches of the rest (AdamW and
a per-step learning-rate schedule), scoring the held-out share after each epoch. The split and
the loop are written once here; each trainer supplies its batch loss and its end-of-epoch score.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def heldout_split(n: int, fraction: float, rng: np.random.Generator, *, minimum: int, batch_size: int,
                  too_few: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (held-out, training) indices of ``n`` items: a random share ``fraction`` (at least ``minimum``) held out.

    ``too_few`` is the error when fewer than one batch would be left to train on; it may name
    ``{n}``, ``{n_held}`` and ``{batch_size}``.
    """
    n_held = max(minimum, round(fraction * n))
    if n - n_held < batch_size:
        raise ValueError(too_few.format(n=n, n_held=n_held, batch_size=batch_size))
    order = rng.permutation(n)
    return np.sort(order[:n_held]), np.sort(order[n_held:])


def state_dict_cpu(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights on the CPU (what the demo's weight files hold)."""
    return {k: v.cpu() for k, v in model.state_dict().items()}


@dataclasses.dataclass
class EpochLoop:
    """Shuffled mini-batches of ``train`` for ``epochs`` epochs of ``steps_per_epoch`` steps.

    Each epoch draws one permutation from ``batches`` (the trainer's batch stream, which its
    ``batch_loss`` may also draw augmentations from); each step takes the next ``batch_size``
    indices, calls ``batch_loss(idx)`` (a torch index tensor) and steps the optimiser and the
    schedule; ``after_step`` runs after every step (e.g. to clamp a parameter). After an epoch,
    ``end_epoch(epoch, losses)`` returns that epoch's row of the training curve.
    """

    model: torch.nn.Module
    optimiser: torch.optim.Optimizer
    schedule: Any
    batches: np.random.Generator
    batch_size: int
    steps_per_epoch: int

    def run(self, train: np.ndarray, epochs: int, batch_loss: Callable[[torch.Tensor], torch.Tensor],
            end_epoch: Callable[[int, list[float]], dict], after_step: Callable[[], None] | None = None) -> list[dict]:
        curve = []
        size = self.batch_size
        for epoch in range(epochs):
            self.model.train()
            perm = train[self.batches.permutation(len(train))]
            losses = []
            for b in range(self.steps_per_epoch):
                loss = batch_loss(torch.from_numpy(perm[b * size:(b + 1) * size]))
                self.optimiser.zero_grad()
                loss.backward()
                self.optimiser.step()
                self.schedule.step()
                if after_step is not None:
                    after_step()
                losses.append(loss.item())
            curve.append(end_epoch(epoch, losses))
        return curve
