"""BrainSCUBA's soft convex projection of voxel weights onto natural-image embeddings.

Raw encoder weights are not distributed like image embeddings (the modality gap), so before a
captioner reads them each voxel's weight vector is replaced by a softmax-weighted mix of a large
bank of natural-image embeddings (Luo et al. 2024; aluo-x/BrainSCUBA ``projection.py``). For voxel
``i`` with weight row ``w_i`` (bias ignored) and bank embeddings ``m_j`` (raw, not unit-normalised)
with directions ``u_j = m_j/‖m_j‖`` and norms ``n_j = ‖m_j‖``::

    s_ij = softmax_j(τ · ŵ_i · u_j)        ŵ_i = w_i/‖w_i‖,  τ = 150 in BrainSCUBA
    d_i  = Σ_j s_ij u_j                     direction
    n̄_i  = Σ_j s_ij n_j                     norm: softmax-weighted mean norm of the bank
    p_i  = n̄_i · d_i/‖d_i‖

Direction and norm are decoupled so ``p_i`` has the scale of natural embeddings, which the
CLIPCap captioner was trained on (un-normalised ViT-B/32 embeddings).

The bank (millions of rows) is streamed once, in chunks, with a running log-sum-exp per voxel, so
memory is bounded by one chunk × one voxel block, never by the bank. Bank rows with zero or
non-finite norm (BrainSCUBA's extractor stores unreadable images as zero vectors) are dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from scipy.special import softmax

from cortexplorer.device import resolve as resolve_device

log = logging.getLogger(__name__)

BRAINSCUBA_TEMPERATURE = 150.0  # projection.py runs softmax_convex(..., temp=150.0); the function default is 100


@dataclass
class ProjectionResult:
    """Projected voxel embeddings and what the bank contributed.

    ``projected``: n_voxels × D float32, NaN rows for skipped voxels. ``n_bank_rows``: bank rows
    read; ``n_dropped_bank_rows``: of those, rows left out for a zero or non-finite norm.
    ``skipped_voxels``: indices of voxels with an all-zero or non-finite weight row.
    ``effective_images``: per voxel 1/Σ_j s_ij², the number of bank images the softmax
    effectively averages (1 = a single image; NaN for skipped voxels).
    """

    projected: np.ndarray
    n_bank_rows: int
    n_dropped_bank_rows: int
    skipped_voxels: np.ndarray
    effective_images: np.ndarray
    temperature: float


def _voxel_rows(weights: np.ndarray | torch.Tensor) -> torch.Tensor:
    w = torch.as_tensor(weights)
    if w.ndim != 2:
        raise ValueError(f"Voxel weights must be 2-D (n_voxels × D, one row per voxel), got shape {tuple(w.shape)}; "
                         "for a VoxelEncoder pass `encoder.weight.T` (its weight is D × n_voxels).")
    return w


def project_voxels(weights: np.ndarray | torch.Tensor, bank_chunks: Iterable[np.ndarray], *, temperature: float,
                   chunk_voxels: int = 1024, device: str = "cpu") -> ProjectionResult:
    """Soft convex projection of each voxel's weight row onto a streamed bank of image embeddings.

    Parameters
    ----------
    weights
        n_voxels × D encoder weights, one row per voxel (``VoxelEncoder.weight.T``).
    bank_chunks
        Iterable of n_k × D arrays of raw (not unit-normalised) natural-image embeddings, read
        once; e.g. :func:`iter_bank_chunks`. Any float dtype (fp16 banks are fine).
    temperature
        τ, the softmax inverse temperature on cosine similarities (BrainSCUBA: 150,
        :data:`BRAINSCUBA_TEMPERATURE`; config ``brainscuba.temperature``).
    chunk_voxels
        Voxels per block; the working memory is about chunk rows × chunk_voxels × 8 bytes.
    device
        Torch device (``cpu``, ``cuda``, ``auto``).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    if chunk_voxels < 1:
        raise ValueError(f"chunk_voxels must be at least 1, got {chunk_voxels}.")
    device = resolve_device(device)
    w = _voxel_rows(weights).to(device=device, dtype=torch.float64)
    n_voxels, dim = w.shape
    w_hat, valid, skipped = _unit_voxel_rows(w)
    state = _RunningSoftmax.empty(w_hat.shape[0], dim, device)
    n_rows = n_dropped = 0
    for chunk in bank_chunks:
        u, u_norm, rows, dropped = _bank_directions(chunk, dim, n_voxels, device)
        n_rows += rows
        n_dropped += dropped
        if u is not None and w_hat.shape[0]:
            state.add(w_hat, u, u_norm, temperature, chunk_voxels)
    _check_bank_rows(n_rows, n_dropped)
    projected, effective = state.finish(valid.cpu().numpy(), n_voxels, dim)
    return ProjectionResult(projected=projected, n_bank_rows=n_rows, n_dropped_bank_rows=n_dropped,
                            skipped_voxels=skipped, effective_images=effective, temperature=float(temperature))


def _unit_voxel_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Unit weight rows of the usable voxels, which voxels are usable, and the indices of the others."""
    w_norm = torch.linalg.vector_norm(w, dim=1)
    valid = torch.isfinite(w_norm) & (w_norm > 0)
    skipped = np.flatnonzero(~valid.cpu().numpy())
    if len(skipped):
        log.warning("%d of %d voxels have an all-zero or non-finite weight row (first: %s); their projection is NaN.",
                    len(skipped), w.shape[0], skipped[:10].tolist())
    return w[valid] / w_norm[valid, None], valid, skipped


def _bank_directions(chunk: np.ndarray, dim: int, n_voxels: int, device: str
                     ) -> tuple[torch.Tensor | None, torch.Tensor | None, int, int]:
    """A bank chunk's unit directions and norms (rows of zero or non-finite norm dropped; None when no row is
    left), with its number of rows and of dropped rows."""
    # a copy per chunk: the source may be a read-only memory map, and fp16/fp32 are widened anyway
    bank = np.array(chunk, dtype=np.float64)
    if bank.ndim != 2:
        raise ValueError(f"Bank chunks must be 2-D (rows × D), got shape {bank.shape}.")
    if bank.shape[1] != dim:
        hint = (" The weights look transposed: pass one row per voxel (`encoder.weight.T`)."
                if bank.shape[1] == n_voxels else "")
        raise ValueError(f"Bank embeddings have size D = {bank.shape[1]} but the encoder weights have D = {dim}; "
                         f"embed the bank with the encoder's backbone.{hint}")
    if bank.shape[0] == 0:
        return None, None, 0, 0
    u = torch.from_numpy(bank).to(device)
    u_norm = torch.linalg.vector_norm(u, dim=1)
    keep = torch.isfinite(u_norm) & (u_norm > 0)
    dropped = int((~keep).sum())
    if not keep.all():
        u, u_norm = u[keep], u_norm[keep]
    if u.shape[0] == 0:
        return None, None, bank.shape[0], dropped
    return u / u_norm[:, None], u_norm, bank.shape[0], dropped


def _check_bank_rows(n_rows: int, n_dropped: int) -> None:
    if n_rows == 0:
        raise ValueError("The image bank is empty (no rows); check the bank shard paths or the sample indices.")
    if n_rows == n_dropped:
        raise ValueError(f"All {n_rows} bank rows have zero or non-finite norm; the bank holds no usable embeddings "
                         "(unreadable images are stored as zero vectors), re-extract it.")
    if n_dropped:
        log.warning("Dropped %d of %d bank rows with zero or non-finite norm (unreadable images).", n_dropped, n_rows)


@dataclass
class _RunningSoftmax:
    """Running log-sum-exp state per voxel, relative to the running max logit ``m``:
    ``z = Σ e_j``, ``z2 = Σ e_j²``, ``d = Σ e_j u_j``, ``n = Σ e_j n_j`` with ``e_j = exp(x_j − m)``.
    float64 throughout: at τ = 150 logits span ±150 and the softmax is sharply peaked."""

    m: torch.Tensor
    z: torch.Tensor
    z2: torch.Tensor
    n: torch.Tensor
    d: torch.Tensor

    @classmethod
    def empty(cls, n_valid: int, dim: int, device: str) -> _RunningSoftmax:
        z = torch.zeros(n_valid, dtype=torch.float64, device=device)
        return cls(m=torch.full((n_valid,), -torch.inf, dtype=torch.float64, device=device), z=z,
                   z2=torch.zeros_like(z), n=torch.zeros_like(z),
                   d=torch.zeros((n_valid, dim), dtype=torch.float64, device=device))

    def add(self, w_hat: torch.Tensor, u: torch.Tensor, u_norm: torch.Tensor, temperature: float,
            chunk_voxels: int) -> None:
        """Fold one chunk of unit bank directions ``u`` (norms ``u_norm``) into every voxel's sums."""
        m, z, z2, n, d = self.m, self.z, self.z2, self.n, self.d
        for v0 in range(0, w_hat.shape[0], chunk_voxels):
            v = slice(v0, v0 + chunk_voxels)
            x = temperature * (w_hat[v] @ u.T)
            m_new = torch.maximum(m[v], x.max(dim=1).values)
            rescale = torch.exp(m[v] - m_new)  # 0 on the first chunk (m = −inf)
            e = x.sub_(m_new[:, None]).exp_()
            z[v] = z[v] * rescale + e.sum(dim=1)
            d[v] = d[v] * rescale[:, None] + e @ u
            n[v] = n[v] * rescale + e @ u_norm
            z2[v] = z2[v] * rescale**2 + e.square_().sum(dim=1)
            m[v] = m_new

    def finish(self, valid: np.ndarray, n_voxels: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """``p_i = n̄_i · d_i/‖d_i‖`` (NaN rows for skipped voxels) and the effective number of images."""
        d_norm = torch.linalg.vector_norm(self.d, dim=1)
        p = (self.n / self.z)[:, None] * self.d / d_norm[:, None]
        cancelled = int((d_norm == 0).sum())
        if cancelled:  # only when the weighted bank directions sum to exactly zero, e.g. a bank of ±u
            log.warning("%d voxels have a softmax-weighted bank direction of zero; their projection is NaN.",
                        cancelled)
        projected = np.full((n_voxels, dim), np.nan, dtype=np.float32)
        effective = np.full(n_voxels, np.nan)
        projected[valid] = p.cpu().numpy()
        effective[valid] = (self.z**2 / self.z2).cpu().numpy()
        return projected, effective


def dense_projection(weights: np.ndarray, bank: np.ndarray, *, temperature: float) -> ProjectionResult:
    """The same projection computed in memory in one go (float64, scipy softmax), as a reference.

    No filtering: ``weights`` and ``bank`` must have no zero or non-finite rows.
    """
    w = np.asarray(weights, dtype=np.float64)
    m = np.asarray(bank, dtype=np.float64)
    w_hat = w / np.linalg.norm(w, axis=1, keepdims=True)
    norms = np.linalg.norm(m, axis=1)
    u = m / norms[:, None]
    s = softmax(temperature * (w_hat @ u.T), axis=1)
    d = s @ u
    p = (s @ norms)[:, None] * d / np.linalg.norm(d, axis=1, keepdims=True)
    return ProjectionResult(projected=p.astype(np.float32), n_bank_rows=len(m), n_dropped_bank_rows=0,
                            skipped_voxels=np.array([], dtype=np.int64), effective_images=1 / (s**2).sum(axis=1),
                            temperature=float(temperature))


def shard_shape(path: str | os.PathLike, dataset: str) -> tuple[int, ...]:
    """Shape of a bank shard (rows × D) without reading it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Bank shard '{path}' does not exist; check the bank paths in the config.")
    if path.suffix == ".npy":
        return tuple(np.load(path, mmap_mode="r").shape)
    with h5py.File(path, "r") as f:
        if dataset not in f:
            raise ValueError(f"Bank shard '{path}' has no dataset '{dataset}' (it has {sorted(f)}); pass dataset=.")
        return tuple(f[dataset].shape)


def _shard_rows(path: Path, dataset: str) -> int:
    return int(shard_shape(path, dataset)[0])


def iter_bank_chunks(paths: Sequence[str | os.PathLike], chunk_rows: int, *, dataset: str,
                     rows: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Read a bank of embeddings stored as ``.npy`` and/or HDF5 shards piecewise, ``chunk_rows`` at a time.

    ``.npy`` shards are memory-mapped; HDF5 shards (``.h5``/``.hdf5``) are sliced from ``dataset``.
    With ``rows`` (indices into the concatenation of all shards, e.g. one set of
    :func:`disjoint_bank_samples`) only those rows are read, in increasing order. Every shard is
    checked when this is called, so a missing one fails before any work starts.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}.")
    shards = [Path(p) for p in paths]
    for p in shards:
        if not p.is_file():
            raise FileNotFoundError(f"Bank shard '{p}' does not exist; check the bank paths in the config.")
        if p.suffix not in (".npy", ".h5", ".hdf5"):
            raise ValueError(f"Bank shard '{p}' is neither .npy nor HDF5 (.h5/.hdf5).")
    sizes = [_shard_rows(p, dataset) for p in shards]
    if rows is not None:
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if len(rows) and (rows[0] < 0 or rows[-1] >= sum(sizes)):
            raise ValueError(f"Bank row indices must lie in [0, {sum(sizes)}), got {rows[0]}…{rows[-1]}.")
    return _read_chunks(shards, sizes, chunk_rows, dataset, rows)


def _read_chunks(shards: list[Path], sizes: list[int], chunk_rows: int, dataset: str,
                 rows: np.ndarray | None) -> Iterator[np.ndarray]:
    offset = 0
    for path, size in zip(shards, sizes, strict=True):
        local = None if rows is None else rows[(rows >= offset) & (rows < offset + size)] - offset
        offset += size
        total = size if local is None else len(local)
        if total == 0:
            continue
        is_npy = path.suffix == ".npy"
        with contextlib.nullcontext(np.load(path, mmap_mode="r")) if is_npy else h5py.File(path, "r") as src:
            data = src if is_npy else src[dataset]
            for i in range(0, total, chunk_rows):
                # h5py needs increasing indices: `local` is sorted and unique
                yield np.asarray(data[i:i + chunk_rows] if local is None else data[local[i:i + chunk_rows]])


def disjoint_bank_samples(n_rows: int, n_repeats: int, sample_size: int,
                          rng: np.random.Generator | int | None = None) -> list[np.ndarray]:
    """``n_repeats`` disjoint random sets of ``sample_size`` bank row indices (each sorted).

    BrainSCUBA projects every subject 5 times, each repeat against its own disjoint 2M-image
    sample of the bank, and captions each repeat.
    """
    if n_repeats < 1 or sample_size < 1:
        raise ValueError(f"n_repeats and sample_size must be at least 1, got {n_repeats} and {sample_size}.")
    if n_repeats * sample_size > n_rows:
        raise ValueError(f"{n_repeats} disjoint samples of {sample_size} rows need {n_repeats * sample_size} bank rows "
                         f"but the bank has {n_rows}; lower the sample size or the number of repeats.")
    rng = np.random.default_rng(rng)
    picked = rng.choice(n_rows, size=n_repeats * sample_size, replace=False)
    return [np.sort(s) for s in picked.reshape(n_repeats, sample_size)]
