"""OAT, the Object-Level Attention Transformer (ECCV 2024; HKUST-NISL/oat_eccv24 ``src/model/models.py``,
``positionalEncodingLearned.py``, ``transformerLightning.py``), at sizes from config.

- **Tokens.** One encoder token per shelf object and one for the target (a copy of its crop): a small CNN on the
  crop (Conv 5×5 → ReLU → MaxPool → Conv 3×3 → ReLU → spatial pyramid pooling → Linear) concatenated with a 2-D
  positional encoding ``[P[row], P[col], P[flag]]`` cut to ``d_pe`` (flag 1 marks the target; the target token
  carries its own row and column). Decoder tokens are the fixated objects' tokens (flag 1 on the target) after
  a begin token (a blank crop at the shelf's centre), plus a sinusoidal order encoding.
- **Positional table P.** ``"distance"``: optimised once, before training, so that the cosine similarity of
  rows ``i`` and ``j`` is ``exp(−(i − j)² / 2σ²)`` (the paper's distance-aware encoding; Adam, lr 0.01, MSE on
  every pair plus a penalty on unequal norms), then fixed. ``"learned"``: a free table trained with the model.
- **Read-out.** ``ca_heads`` cross-attention heads score every encoder token against the decoder state,
  ``(W_e m_j) · (W_d h_t) / √d_k``; ``Linear(ca_heads, 1)`` combines them into one logit per object and one
  for the target token, which is the end token (pointing at the target means "stop"). The first step cannot
  end.
- **Training.** Teacher forcing, cross-entropy, Adam, gradient clipping at 1, early stopping on the validation
  behaviour Δ of greedy scanpaths.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

PE_KINDS = ("distance", "learned")


@dataclass(frozen=True)
class OATConfig:
    rows: int
    cols: int
    crop: int = 32
    cnn_pool: int = 2  # the paper's 5 for its 150 × 93 crops
    spp_levels: tuple[int, ...] = (1, 2, 4)
    d_cnn: int = 256
    d_pe: int = 256
    heads: int = 4
    encoder_layers: int = 4
    decoder_layers: int = 4
    feedforward: int = 512
    dropout: float = 0.1
    ca_heads: int = 2
    ca_dk: int = 512
    pe: str = "distance"
    pe_sigma: float = 2.0
    pe_steps: int = 10000

    def __post_init__(self) -> None:
        if self.pe not in PE_KINDS:
            raise ValueError(f"OAT positional encoding must be one of {PE_KINDS}; got {self.pe!r}.")
        if (self.d_cnn + self.d_pe) % self.heads:
            raise ValueError(f"d_cnn + d_pe ({self.d_cnn + self.d_pe}) must be divisible by heads ({self.heads}).")

    @property
    def n_objects(self) -> int:
        return self.rows * self.cols

    @property
    def d_model(self) -> int:
        return self.d_cnn + self.d_pe

    @property
    def pe_rows(self) -> int:
        return max(self.rows, self.cols, 2)  # row and column indices, and the 0/1 flag

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, rows: int, cols: int) -> OATConfig:
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items() if k in cls.__dataclass_fields__}
        return cls(rows=rows, cols=cols, **kw)


def distance_aware_table(n: int, dim: int, sigma: float, steps: int, seed: int = 0) -> tuple[torch.Tensor, float]:
    """The paper's positional table: ``n`` rows of ``dim`` values whose cosine similarities approach
    ``exp(−(i − j)² / 2σ²)``, with equal norms. Returns the table and the final loss."""
    gen = torch.Generator().manual_seed(seed)
    w = nn.Parameter(torch.randn(n, dim, generator=gen))
    i = torch.arange(n, dtype=torch.float32)
    target = torch.exp(-((i[:, None] - i[None, :]) ** 2) / (2 * sigma**2))
    opt = torch.optim.Adam([w], lr=0.01)
    loss = torch.zeros(())
    for _ in range(steps):
        opt.zero_grad()
        unit = F.normalize(w, dim=1)
        norms = w.norm(dim=1)
        loss = (((unit @ unit.T - target) ** 2).sum() + ((norms - norms.mean()) ** 2).mean()) / (n * (n - 1))
        loss.backward()
        opt.step()
    return w.detach(), float(loss.detach())


def slot_similarity(table: torch.Tensor, rows: int, cols: int, d_pe: int) -> np.ndarray:
    """Cosine similarity of the positional encodings of every pair of shelf slots (flag 0), n_slots²."""
    k = torch.arange(rows * cols)
    pe = encode_positions(table, k // cols, k % cols, torch.zeros_like(k), d_pe)
    unit = F.normalize(pe, dim=1)
    return (unit @ unit.T).numpy()


def encode_positions(table: torch.Tensor, row: torch.Tensor, col: torch.Tensor, flag: torch.Tensor,
                     d_pe: int) -> torch.Tensor:
    return torch.cat([table[row], table[col], table[flag]], dim=-1)[..., :d_pe]


class TokenCNN(nn.Module):
    def __init__(self, cfg: OATConfig) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 16, 5), nn.Conv2d(16, 32, 3)
        self.pool, self.levels = cfg.cnn_pool, cfg.spp_levels
        self.fc = nn.Linear(32 * sum(level * level for level in self.levels), cfg.d_cnn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: ... × 3 × crop × crop in [0, 1]
        lead = x.shape[:-3]
        h = F.max_pool2d(F.relu(self.conv1(x.reshape(-1, *x.shape[-3:]))), self.pool)
        h = F.relu(self.conv2(h))
        h = torch.cat([F.adaptive_max_pool2d(h, level).flatten(1) for level in self.levels], dim=1)
        return self.fc(h).reshape(*lead, -1)


def order_encoding(length: int, dim: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    out = torch.zeros(length, dim)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return out


class ObjectAttention(nn.Module):
    """Per-object logits from ``ca_heads`` unnormalised cross-attention scores, combined by ``Linear(heads, 1)``."""

    def __init__(self, d_model: int, heads: int, dk: int) -> None:
        super().__init__()
        self.enc = nn.ModuleList(nn.Linear(d_model, dk) for _ in range(heads))
        self.dec = nn.ModuleList(nn.Linear(d_model, dk) for _ in range(heads))
        self.readout = nn.Linear(heads, 1)
        self.scale = dk**-0.5

    def forward(self, memory: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """memory: B × S × d (objects, then the target token); state: B × T × d → logits B × T × S."""
        scores = [torch.einsum("btk,bsk->bts", dec(state), enc(memory)) * self.scale
                  for enc, dec in zip(self.enc, self.dec, strict=True)]
        return self.readout(torch.stack(scores, dim=-1)).squeeze(-1)


class OAT(nn.Module):
    def __init__(self, cfg: OATConfig, pe_table: torch.Tensor | None = None, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        k = -(-cfg.d_pe // 3)
        if cfg.pe == "distance":
            if pe_table is None:
                pe_table, _ = distance_aware_table(cfg.pe_rows, k, cfg.pe_sigma, cfg.pe_steps, seed)
            self.register_buffer("pe_table", pe_table.clone())
        else:
            gen = torch.Generator().manual_seed(seed)
            self.pe_table = nn.Parameter(torch.randn(cfg.pe_rows, k, generator=gen))
        self.cnn = TokenCNN(cfg)
        d = cfg.d_model
        self.transformer = nn.Transformer(d, cfg.heads, cfg.encoder_layers, cfg.decoder_layers, cfg.feedforward,
                                          cfg.dropout, batch_first=True)
        self.attention = ObjectAttention(d, cfg.ca_heads, cfg.ca_dk)
        k_slot = torch.arange(cfg.n_objects)
        self.register_buffer("slot_row", k_slot // cfg.cols)
        self.register_buffer("slot_col", k_slot % cfg.cols)
        self.register_buffer("begin_crop", torch.ones(3, cfg.crop, cfg.crop))
        for p in self.transformer.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    @property
    def end(self) -> int:
        return self.cfg.n_objects  # the target token's index is the end token

    def encode(self, crops: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """crops: B × N × 3 × s × s in [0, 1]; target: B (slot). Returns (memory B × (N+1) × d, object features
        B × (N+1) × d_cnn, the target's last)."""
        b = len(crops)
        feats = self.cnn(torch.cat([crops, crops[torch.arange(b), target][:, None]], dim=1))
        row = torch.cat([self.slot_row.expand(b, -1), self.slot_row[target][:, None]], dim=1)
        col = torch.cat([self.slot_col.expand(b, -1), self.slot_col[target][:, None]], dim=1)
        flag = torch.zeros_like(row)
        flag[:, -1] = 1
        tokens = torch.cat([feats, encode_positions(self.pe_table, row, col, flag, self.cfg.d_pe)], dim=-1)
        return self.transformer.encoder(tokens), feats

    def decoder_tokens(self, feats: torch.Tensor, target: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """history: B × T slots fixated (−1 pads). Begin token first, then the fixated objects."""
        b, t = history.shape
        cfg = self.cfg
        slot = history.clamp(min=0)
        obj = feats[torch.arange(b)[:, None], slot]
        begin = self.cnn(self.begin_crop[None])[0]
        row = torch.cat([torch.full((b, 1), cfg.rows // 2, device=slot.device), self.slot_row[slot]], dim=1)
        col = torch.cat([torch.full((b, 1), cfg.cols // 2, device=slot.device), self.slot_col[slot]], dim=1)
        flag = torch.cat([torch.zeros(b, 1, dtype=torch.long, device=slot.device),
                          (slot == target[:, None]).long()], dim=1)
        content = torch.cat([begin.expand(b, 1, -1), obj], dim=1)
        tokens = torch.cat([content, encode_positions(self.pe_table, row, col, flag, cfg.d_pe)], dim=-1)
        return tokens + order_encoding(t + 1, cfg.d_model).to(tokens)

    def forward(self, crops: torch.Tensor, target: torch.Tensor, history: torch.Tensor,
                owner: torch.Tensor | None = None) -> torch.Tensor:
        """Logits P × (T+1) × (N+1) for the step after the begin token and after each fixation in ``history``
        (P × T, −1 pads at the end of shorter scanpaths); the first step cannot end. ``owner`` (P): the trial of
        each scanpath when several scanpaths share a trial's crops and target (the encoder runs once per trial);
        None: one scanpath per trial."""
        memory, feats = self.encode(crops, target)
        if owner is not None:
            memory, feats, target = memory[owner], feats[owner], target[owner]
        return self.step_logits(memory, feats, target, history)

    def step_logits(self, memory: torch.Tensor, feats: torch.Tensor, target: torch.Tensor,
                    history: torch.Tensor) -> torch.Tensor:
        tokens = self.decoder_tokens(feats, target, history)
        n = tokens.shape[1]
        causal = torch.triu(torch.full((n, n), float("-inf"), device=tokens.device), diagonal=1)
        # pads (−1) sit after a path's last fixation: the causal mask keeps them out of every real step
        state = self.transformer.decoder(tokens, memory, tgt_mask=causal, tgt_is_causal=True)
        logits = self.attention(memory, state)
        first = torch.zeros_like(logits, dtype=torch.bool)
        first[:, 0, self.end] = True
        return logits.masked_fill(first, float("-inf"))


def step_labels(paths: Sequence[Sequence[int]], ended: Sequence[bool], end: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(history B × T with −1 pads, labels B × (T+1) with −100 pads): each path's fixations, then the end token
    when the path ended (a truncated path has no end label)."""
    t = max(len(p) for p in paths)
    history = torch.full((len(paths), t), -1, dtype=torch.long)
    labels = torch.full((len(paths), t + 1), -100, dtype=torch.long)
    for i, (p, e) in enumerate(zip(paths, ended, strict=True)):
        history[i, : len(p)] = torch.as_tensor(list(p), dtype=torch.long)
        labels[i, : len(p)] = history[i, : len(p)]
        if e:
            labels[i, len(p)] = end
    return history, labels


@torch.no_grad()
def decode(model: OAT, crops: torch.Tensor, target: torch.Tensor, max_len: int, *,
           generator: torch.Generator | None = None) -> list[list[int]]:
    """Greedy scanpaths (``generator`` None) or one sampled scanpath per row; each stops at the end token or
    after ``max_len`` fixations."""
    model.eval()
    memory, feats = model.encode(crops, target)
    b = len(crops)
    history = torch.full((b, 0), -1, dtype=torch.long)
    done = torch.zeros(b, dtype=torch.bool)
    for _ in range(max_len):
        logits = model.step_logits(memory, feats, target, history.clamp(min=0))[:, -1]
        if generator is None:
            nxt = logits.argmax(dim=1)
        else:
            nxt = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator)[:, 0]
        done |= nxt == model.end
        history = torch.cat([history, torch.where(done, -1, nxt)[:, None]], dim=1)
        if done.all():
            break
    return [[int(s) for s in row if s >= 0] for row in history]


@dataclass(frozen=True)
class TrainResult:
    epochs: int
    best_epoch: int
    history: list[dict[str, float]]


def train(model: OAT, batches: Callable[[np.random.Generator], list[tuple[torch.Tensor, ...]]],
          validate: Callable[[OAT], float], *, epochs: int, patience: int, lr: float, seed: int,
          progress: Callable[[str], None] = print) -> TrainResult:
    """Teacher-forced cross-entropy with Adam and gradient clipping at 1. ``batches(rng)`` gives one epoch's
    (crops, target, history, labels, owner) batches (see :meth:`OAT.forward`); ``validate(model)`` the validation metric (lower is better, e.g. the
    per-step NLL of the validation scanpaths); the model keeps the weights of the epoch with the lowest value;
    training stops after ``patience`` epochs without improvement."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best, best_epoch, best_state, log = math.inf, 0, None, []
    for epoch in range(1, epochs + 1):
        model.train()
        total, count = 0.0, 0
        for crops, target, history, labels, owner in batches(rng):
            logits = model(crops, target, history, owner)
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            n = int((labels >= 0).sum())
            total, count = total + float(loss.detach()) * n, count + n
        value = validate(model)
        log.append({"epoch": epoch, "train_nll": total / count, "validation": value})
        progress(f"epoch {epoch}: train NLL/step {total / count:.3f}, validation {value:.4f}")
        if value < best:
            best, best_epoch = value, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - best_epoch >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(epochs=len(log), best_epoch=best_epoch, history=log)


def step_nll(model: OAT, crops: torch.Tensor, target: torch.Tensor, history: torch.Tensor,
             labels: torch.Tensor, owner: torch.Tensor | None = None) -> np.ndarray:
    """−log P of each labelled step (fixations and end tokens) under the model, flattened over the batch."""
    model.eval()
    with torch.no_grad():
        logp = torch.log_softmax(model(crops, target, history, owner), dim=-1)
    keep = labels >= 0
    return (-logp[keep].gather(1, labels[keep][:, None])[:, 0]).numpy()
