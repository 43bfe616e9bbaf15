"""The demo's caption decoder: a tiny CLIPCap trained on the pool's raw CLIP embeddings and captions.

The demo has no COCO weights, so it trains its own :class:`~cortexplorer.brainscuba.captioner.ClipCaptionModel`
(an MLP mapper and a 2-layer GPT-2, jointly) with the word-level
:class:`~cortexplorer.brainscuba.captioner.WordTokenizer`; BrainSCUBA loads it with
:func:`~cortexplorer.brainscuba.captioner.load_demo_captioner`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import transformers
from torch import nn

from cortexplorer.brainscuba.captioner import EOS_ID, PAD_ID, Captioner, ClipCaptionModel, WordTokenizer
from cortexplorer.device import resolve as resolve_device
from cortexplorer.features.extract import read_features
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.io.torchfile import save_torch
from cortexplorer.models.settings import DemoCaptionerSettings
from cortexplorer.models.training import EpochLoop, heldout_split, state_dict_cpu
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng

log = logging.getLogger(__name__)


def build_demo_captioner(*, prefix_size: int, vocab_size: int, prefix_length: int, n_layer: int, n_embd: int,
                         n_head: int, n_positions: int) -> ClipCaptionModel:
    """A tiny CLIPCap for the demo, whose GPT-2 speaks a :class:`WordTokenizer` vocabulary."""
    config = transformers.GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                                     n_head=n_head, bos_token_id=EOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID)
    return ClipCaptionModel(prefix_length, prefix_size, config)


_DEMO_CONFIG_KEYS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "bos_token_id", "eos_token_id",
                     "pad_token_id", "resid_pdrop", "embd_pdrop", "attn_pdrop", "activation_function")


def _caption_tokens(tokenizer: WordTokenizer, captions: Sequence[str]) -> torch.Tensor:
    """Captions + "." as a right-padded N × T id matrix (padding = ``PAD_ID``)."""
    seqs = [[*tokenizer.encode(c), EOS_ID] for c in captions]
    out = torch.full((len(seqs), max(map(len, seqs))), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor(s)
    return out


def _caption_loss(model: ClipCaptionModel, tokens: torch.Tensor, prefix: torch.Tensor) -> tuple[torch.Tensor, int]:
    """CLIPCap's loss: cross-entropy of each caption token given the prefix and the tokens before it.

    No attention mask: padding is only at the end, where causal attention never looks back from a
    real token; padded targets are ignored.
    """
    logits = model(tokens, prefix)[:, model.prefix_length - 1:-1]
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.flatten(), ignore_index=PAD_ID)
    return loss, int((logits.argmax(-1) == tokens)[tokens != PAD_ID].sum())


@dataclass
class TrainedCaptioner:
    model: ClipCaptionModel
    tokenizer: WordTokenizer
    curve: pd.DataFrame  # epoch, train_loss, heldout_loss
    metrics: dict  # held-out exact-caption match of beam search, token accuracy, loss, sizes, time


def _check_inputs(emb: np.ndarray, captions: list[str], epochs: int) -> None:
    if emb.ndim != 2 or len(emb) != len(captions):
        raise ValueError(f"The demo captioner needs one caption per embedding row; got embeddings {emb.shape} and "
                         f"{len(captions)} captions.")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    if not np.isfinite(emb).all():
        raise ValueError("The demo captioner's training embeddings contain NaN or inf; re-extract the features.")


def fit_demo_captioner(embeddings: np.ndarray, captions: Sequence[str], s: DemoCaptionerSettings) -> TrainedCaptioner:
    """Train a tiny CLIPCap (mapper and GPT-2 jointly) from raw embeddings to their captions.

    As CLIPCap: cross-entropy on the caption tokens and the final "." (prefix positions and
    padding ignored), AdamW, a linear warm-up (the first 10 % of the steps, CLIPCap's 5,000 scaled
    down) then a linear decay. The vocabulary comes from the training captions only. The metrics
    include the held-out exact-caption match rate of beam search.
    """
    device = resolve_device(s.device)
    emb = np.asarray(embeddings, dtype=np.float32)
    captions = [str(c) for c in captions]
    _check_inputs(emb, captions, s.epochs)
    held, train = heldout_split(
        len(emb), s.heldout_fraction, make_rng(s.seed, "demo_captioner", "split"), minimum=1,
        batch_size=s.batch_size, too_few="{n} captions are too few to train the demo captioner with batch size "
                                         "{batch_size} and {n_held} held out; lower the batch size or use more images.")
    tokenizer = WordTokenizer.from_captions([captions[i] for i in train])
    tokens = _caption_tokens(tokenizer, captions)
    x = torch.from_numpy(emb)
    torch.manual_seed(s.seed)
    n_positions = s.prefix_length + max(tokens.shape[1], 67) - 1  # room for CLIPCap's 67-token beam search
    model = build_demo_captioner(prefix_size=emb.shape[1], vocab_size=len(tokenizer), prefix_length=s.prefix_length,
                                 n_layer=s.n_layer, n_embd=s.n_embd, n_head=s.n_head,
                                 n_positions=n_positions).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=s.learning_rate)
    steps_per_epoch = math.ceil(len(train) / s.batch_size)
    total = s.epochs * steps_per_epoch
    sched = transformers.get_linear_schedule_with_warmup(opt, num_warmup_steps=max(1, total // 10),
                                                         num_training_steps=total)
    loop = EpochLoop(model, opt, sched, make_rng(s.seed, "demo_captioner", "batches"), s.batch_size, steps_per_epoch)
    log.info("training the demo captioner (CLIPCap: MLP mapper, GPT-2 with %d layers × %d, prefix %d, vocabulary %d) "
             "on %d captions (%d held out) for %d epochs × %d steps on %s", s.n_layer, s.n_embd, s.prefix_length,
             len(tokenizer), len(train), len(held), s.epochs, steps_per_epoch, device)
    start = time.perf_counter()
    held_scores: list[tuple[float, float]] = []

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        width = int((tokens[idx] != PAD_ID).sum(1).max())  # trim the batch's padding
        return _caption_loss(model, tokens[idx, :width].to(device), x[idx].to(device))[0]

    def end_epoch(epoch: int, losses: list[float]) -> dict:
        held_scores.append(_heldout(model, tokens[held], x[held], device))
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "heldout_loss": held_scores[-1][0]}
        log.info("demo captioner epoch %d/%d: train loss %.3f, held-out loss %.3f, held-out token accuracy %.3f "
                 "(%.0f s)", epoch + 1, s.epochs, row["train_loss"], *held_scores[-1], time.perf_counter() - start)
        return row

    curve = loop.run(train, s.epochs, batch_loss, end_epoch)
    train_seconds = time.perf_counter() - start
    held_loss, held_acc = held_scores[-1]
    generated = Captioner(model, tokenizer).caption(emb[held], progress=False)
    wanted = [tokenizer.decode([*tokenizer.encode(captions[i]), EOS_ID]) for i in held]
    exact = float(np.mean([g == w for g, w in zip(generated, wanted, strict=True)]))
    log.info("demo captioner: held-out exact-caption match %.3f with beam search, e.g. %r for %r", exact,
             generated[0], wanted[0])
    metrics = {"heldout_exact_match": exact, "heldout_token_accuracy": held_acc, "heldout_loss": held_loss,
               "train_loss": curve[-1]["train_loss"], "n_train": len(train), "n_heldout": len(held),
               "vocab_size": len(tokenizer), "train_seconds": train_seconds}
    return TrainedCaptioner(model, tokenizer, pd.DataFrame(curve), metrics)


@torch.no_grad()
def _heldout(model: ClipCaptionModel, tokens: torch.Tensor, x: torch.Tensor, device: str,
             batch_size: int = 256) -> tuple[float, float]:
    """Teacher-forced held-out loss (per token) and next-token accuracy."""
    model.eval()
    loss_sum = hits = count = 0.0
    for i in range(0, len(tokens), batch_size):
        t = tokens[i:i + batch_size].to(device)
        loss, h = _caption_loss(model, t, x[i:i + batch_size].to(device))
        n_tok = int((t != PAD_ID).sum())
        loss_sum += loss.item() * n_tok
        hits += h
        count += n_tok
    return loss_sum / count, hits / count


def write_demo_captioner(fit: TrainedCaptioner, model_path: str, curve_path: str) -> None:
    """The weights (``state_dict``, ``tokenizer``, ``config``, ``prefix_length``, ``prefix_size``) and the curve."""
    write_tsv(fit.curve, curve_path)
    config = fit.model.gpt.config
    save_torch({"arch": "clipcap_demo", "state_dict": state_dict_cpu(fit.model), "tokenizer": fit.tokenizer.to_dict(),
                "config": {k: getattr(config, k) for k in _DEMO_CONFIG_KEYS},
                "prefix_length": int(fit.model.prefix_length), "prefix_size": int(fit.model.prefix_size)}, model_path)


def train_demo_captioner(inputs: dict, outputs: dict, settings: DemoCaptionerSettings) -> dict:
    """Stage ``demo_captioner``: train on the pool's raw embeddings (``bank``, the demo bank) and captions (``table``).

    Writes ``model``, ``curve`` and ``provenance``; returns the held-out metrics.
    """
    s = settings
    feats = read_features(inputs["bank"])
    table = read_tsv(inputs["table"], required=["stim_id", "caption"])
    if not np.array_equal(feats.stim_id, table["stim_id"].astype(str).to_numpy()):
        raise ValueError(f"'{inputs['bank']}' and '{inputs['table']}' list different images; rerun brainscuba_bank.")
    fit = fit_demo_captioner(feats.features, table["caption"].astype(str).tolist(), s)
    write_demo_captioner(fit, outputs["model"], outputs["curve"])
    recorded = {k: v for k, v in asdict(s).items() if k not in ("seed", "device")}
    write_sidecar(outputs["provenance"], stage="demo_captioner", settings=recorded, seed=s.seed,
                  backbone_identity=feats.identity, metrics=fit.metrics)
    return fit.metrics
