"""The triplets stage's settings, read once from the validated, default-filled config (defaults: the schema
and ``cortexplorer.config``'s mode tables; none are repeated here). One frozen dataclass per rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TripletGrid:
    """The target grid: differences ``b · bin_size · σ`` for b = 1..n_bins, matched within ``tolerance · σ``."""

    n_bins: int
    bin_size: float
    tolerance: float
    n_loops: int



@dataclass(frozen=True)
class SposeHyperparameters:
    """What shapes a SPoSE fit (the ``triplets.odd_one_out`` keys; see :func:`fit_spose`).

    Attributes
    ----------
    n_dims
        Initial dimensionality; the L1 penalty drives unneeded dimensions to 0.
    l1
        λ (the penalty is λ/n_objects · ||W||₁).
    epochs, batch_size, lr
        Passes over the shuffled triplets, triplets per Adam step, Adam learning rate.
    seed
        Seeds the initial ``W`` and the minibatch order.
    l1_burnin, l1_warmup
        Epochs without the penalty, then epochs over which it ramps up to λ (fixed by the method, not
        configured: see :func:`fit_spose`).
    """

    n_dims: int
    l1: float
    epochs: int
    batch_size: int
    lr: float
    seed: int
    l1_burnin: int = 10
    l1_warmup: int = 5

    def l1_ramp(self, epoch: int, batch: int, n_batches: int) -> float:
        """The penalty's share of λ at minibatch ``batch`` (0-based) of ``epoch`` (1-based)."""
        since_burnin = epoch - 1 + (batch + 1) / n_batches - self.l1_burnin
        if since_burnin <= 0:
            return 0.0
        return min(1.0, since_burnin / self.l1_warmup) if self.l1_warmup > 0 else 1.0


@dataclass(frozen=True)
class NetworkSettings:
    """The ``networks`` entry whose layers define similarity, where it runs and its two named layers."""

    name: str
    low_layer: str
    high_layer: str
    max_images: int  # the seeded image selection over which each layer's σ is taken
    spec: Mapping[str, Any]
    max_activation_gb: float
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> NetworkSettings:
        tr = cfg["triplets"]
        return cls(name=tr["network"], spec=dict(cfg["networks"][tr["network"]]), low_layer=tr["low_layer"],
                   high_layer=tr["high_layer"], max_images=tr["max_images"], max_activation_gb=tr["max_activation_gb"],
                   device=cfg["device"], seed=cfg["seed"])


@dataclass(frozen=True)
class TripletSearchSettings:
    """Rule ``triplet_search``: the grid of target differences and how many triplets to find."""

    network: NetworkSettings
    grid: TripletGrid
    max_triplets: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TripletSearchSettings:
        grid = TripletGrid(**{key: cfg["triplets"][key] for key in ("n_bins", "bin_size", "tolerance", "n_loops")})
        return cls(network=NetworkSettings.from_config(cfg), grid=grid, max_triplets=cfg["triplets"]["max_triplets"])


@dataclass(frozen=True)
class ObserverSettings:
    """Simulated observers: weights per σ of each layer's similarity difference."""

    n: int
    trials: int
    beta_high: float
    beta_low: float
    jitter: float
    lapse: float


@dataclass(frozen=True)
class TripletChoicesSettings:
    """Rule ``triplet_choices``: the simulated observers (used when no human choices are given)."""

    observers: ObserverSettings
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TripletChoicesSettings:
        return cls(observers=ObserverSettings(**cfg["triplets"]["observers"]), seed=cfg["seed"])


@dataclass(frozen=True)
class TripletFitSettings:
    """Rule ``triplet_fit``: the layers whose predictivity is compared and the cross-validation."""

    network: NetworkSettings
    predictivity_layers: tuple[str, ...]  # empty: the network's default layers
    cv_folds: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TripletFitSettings:
        tr = cfg["triplets"]
        return cls(network=NetworkSettings.from_config(cfg), predictivity_layers=tuple(tr["predictivity_layers"]),
                   cv_folds=tr["cv_folds"])


@dataclass(frozen=True)
class PlantedWorldSettings:
    """Odd-one-out triplets simulated from a planted sparse embedding of the stimuli (the demo)."""

    n_objects: int
    n_random_dims: int
    n_triplets: int
    planted_scale: float
    repeats: tuple[int, int] | None  # (triplets, times each) shown repeatedly; None: none

    @classmethod
    def from_config(cls, ooo: Mapping[str, Any]) -> PlantedWorldSettings:
        repeats = tuple(ooo["repeats"]) if ooo["repeats"][0] > 0 else None
        return cls(n_objects=ooo["n_objects"], n_random_dims=ooo["n_random_dims"], n_triplets=ooo["n_triplets"],
                   planted_scale=ooo["planted_scale"], repeats=repeats)


@dataclass(frozen=True)
class OddOneOutSettings:
    """Rule ``odd_one_out``: the SPoSE fit, its read-outs and (no triplet file) the planted world."""

    planted: PlantedWorldSettings
    spose: SposeHyperparameters
    temperature: float
    heldout_fraction: float
    prune_threshold: float
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> OddOneOutSettings:
        ooo = cfg["triplets"]["odd_one_out"]
        spose = SposeHyperparameters(n_dims=ooo["n_dims"], l1=ooo["l1"], epochs=ooo["epochs"],
                                     batch_size=ooo["batch_size"], lr=ooo["learning_rate"], seed=cfg["seed"])
        return cls(planted=PlantedWorldSettings.from_config(ooo), spose=spose, temperature=ooo["temperature"],
                   heldout_fraction=ooo["heldout_fraction"], prune_threshold=ooo["prune_threshold"],
                   device=cfg["device"], seed=cfg["seed"])
