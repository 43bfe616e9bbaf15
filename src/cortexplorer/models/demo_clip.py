"""The demo's small open_clip model, trained contrastively on the disjoint image pool's captions.

Architecture ``cortexplorer-demo-clip`` (a 4-layer ViT on 8-px patches and a 3-layer text
transformer, 512-d embeddings; ``configs/cortexplorer-demo-clip.json``), registered with
open_clip, so it is created, tokenised (open_clip's bundled BPE vocabulary, no download) and
encoded exactly like the real CLIP models. A held-out share of the pool's image–caption pairs
measures image→text and text→image retrieval.

The world's captions list every attribute (size, colour, pose, position, background) with equal
weight and never name a superordinate ('food', 'an object'). Trained on them alone, the embedding
is organised by attributes and kinds, and a linear read-out of category is poor (measured: 78%
linear-probe category accuracy; even with shortened captions, ridge r² of a food indicator 0.49
from the stimuli and 0.64 from the 5,000 pool images). Web captions
are mostly short and often just name the thing, so training here shortens captions
(``clause_keep``) and replaces a share of them by the category's phrase (``category_captions``),
which makes category linearly readable, as it is from real CLIP embeddings.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from cortexplorer.device import resolve as resolve_device
from cortexplorer.io.images import ImageSet, read_image_set
from cortexplorer.io.tables import write_tsv
from cortexplorer.io.torchfile import save_torch
from cortexplorer.models.backbone import DEMO_ARCH, OPENAI_MEAN, OPENAI_STD, open_clip_module
from cortexplorer.models.contrastive import symmetric_info_nce
from cortexplorer.models.settings import DemoClipSettings
from cortexplorer.models.training import EpochLoop, heldout_split, state_dict_cpu
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng

log = logging.getLogger(__name__)


def _quiet_create(open_clip, **kwargs):
    """open_clip logs 'no pretrained weights loaded' for every fresh model; the demo model is trained here."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        return open_clip.create_model(DEMO_ARCH, **kwargs)
    finally:
        root.setLevel(level)


def _pixels(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def retrieval_scores(image_emb: np.ndarray, text_emb: np.ndarray, captions: np.ndarray,
                     categories: np.ndarray) -> dict[str, float]:
    """Retrieval among N held-out pairs (row i of both is pair i). A retrieved caption counts as
    correct when its text equals the true caption (templated captions can repeat)."""
    sim = image_emb @ text_emb.T
    n = len(sim)
    order_i2t = np.argsort(-sim, axis=1)
    order_t2i = np.argsort(-sim.T, axis=1)
    caps = np.asarray(captions)
    same_caption = caps[:, None] == caps[None, :]
    hit_i2t = np.take_along_axis(same_caption, order_i2t, axis=1)
    hit_t2i = np.take_along_axis(same_caption, order_t2i, axis=1)
    cats = np.asarray(categories)
    return {
        "n_pairs": n,
        "image_to_text_top1": float(hit_i2t[:, 0].mean()),
        "image_to_text_top5": float(hit_i2t[:, :5].any(1).mean()),
        "text_to_image_top1": float(hit_t2i[:, 0].mean()),
        "text_to_image_top5": float(hit_t2i[:, :5].any(1).mean()),
        "image_to_text_top1_same_category": float((cats[order_i2t[:, 0]] == cats).mean()),
        "chance_top1": float(same_caption.sum(1).mean() / n),
    }


def short_captions(captions: np.ndarray, keep: float, rng: np.random.Generator) -> list[str]:
    """Each caption's first clause (what the image shows) plus each later clause with probability ``keep``.

    The world's captions list every attribute (size, colour, pose, position, background) with
    equal weight; like COCO's several captions per image, shorter variants make what is shown the
    most consistent part of the text, so the embedding is organised by it first.
    """
    out = []
    for c in captions:
        first, *rest = str(c).split(", ")
        out.append(", ".join([first, *(r for r in rest if rng.random() < keep)]))
    return out


CATEGORY_PHRASES = {"face": "a face", "place": "a place", "body": "a person", "food": "some food", "word": "a word",
                    "object": "an object"}


def category_phrase(category: str) -> str:
    """What a short caption of a category says ('some food', 'a person', ...)."""
    return CATEGORY_PHRASES.get(category, f"a {category}")


@dataclass
class TrainedClip:
    model: Any
    scores: dict[str, float]  # held-out retrieval (:func:`retrieval_scores`)
    curve: pd.DataFrame  # epoch, step, train_loss, heldout_loss
    image_size: int
    n_pairs: int


def fit_demo_clip(pool: ImageSet, s: DemoClipSettings) -> TrainedClip:
    """Train on the pool's image–caption pairs; score held-out retrieval with the full captions.

    With ``clause_keep`` < 1 each training step sees shortened captions (:func:`short_captions`), and
    a share ``category_captions`` of them is only the category's phrase ('some food', 'a person'),
    as web alt-text often is.
    """
    open_clip = open_clip_module()
    device = resolve_device(s.device)
    n = len(pool)
    held, train = heldout_split(
        n, s.heldout_fraction, make_rng(s.seed, "demo_clip", "split"), minimum=2, batch_size=s.batch_size,
        too_few="The pool has {n} images: too few to train the demo CLIP with batch size {batch_size} and {n_held} "
                "held out; raise stimuli.n_pool or lower demo_clip.batch_size.")
    captions = pool.table["caption"].astype(str).to_numpy()
    categories = pool.table["category"].astype(str).to_numpy()
    image_size = pool.images.shape[1]
    torch.manual_seed(s.seed)
    model = _quiet_create(open_clip, force_image_size=image_size).to(device)
    tokenizer = open_clip.get_tokenizer(DEMO_ARCH)
    pixels = _pixels(pool.images)
    tokens = tokenizer(list(captions))
    loop = _loop(model, len(train), s)
    log.info("training the demo CLIP (%s) on %d pairs (%d held out) for %d epochs × %d steps on %s",
             DEMO_ARCH, len(train), len(held), s.epochs, loop.steps_per_epoch, device)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        img = model.encode_image(pixels[idx].to(device), normalize=True)
        texts = short_captions(captions[idx.numpy()], s.clause_keep, loop.batches)
        short = loop.batches.random(len(texts)) < s.category_captions
        texts = [category_phrase(c) if k else t for t, c, k in zip(texts, categories[idx.numpy()], short,
                                                                     strict=True)]
        txt = model.encode_text(tokenizer(texts).to(device), normalize=True)
        # symmetric InfoNCE; identical captions in a batch need no special care: their text embeddings
        # are equal, so these targets give the same loss as spreading each target over all of them
        return symmetric_info_nce(model.logit_scale.exp() * img @ txt.T)

    def clamp_scale() -> None:
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))

    def end_epoch(epoch: int, losses: list[float]) -> dict:
        held_loss = _heldout_loss(model, pixels[held], tokens[held], s.batch_size, device)
        row = {"epoch": epoch + 1, "step": (epoch + 1) * loop.steps_per_epoch, "train_loss": float(np.mean(losses)),
               "heldout_loss": held_loss}
        log.info("demo CLIP epoch %d/%d: train loss %.3f, held-out loss %.3f", epoch + 1, s.epochs,
                 row["train_loss"], held_loss)
        return row

    curve = loop.run(train, s.epochs, batch_loss, end_epoch, after_step=clamp_scale)
    img_emb, txt_emb = _embed(model, pixels[held], tokens[held], device)
    scores = retrieval_scores(img_emb, txt_emb, captions[held], categories[held])
    log.info("demo CLIP held-out retrieval: %s", {k: round(v, 3) for k, v in scores.items()})
    return TrainedClip(model, scores, pd.DataFrame(curve), int(image_size), n)


def _loop(model: torch.nn.Module, n_train: int, s: DemoClipSettings) -> EpochLoop:
    """AdamW (no decay on gains, biases and embeddings), linear warm-up then cosine decay, full batches only."""
    decay = [p for name, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in name]
    rest = [p for name, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in name)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": s.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                            lr=s.learning_rate)
    steps_per_epoch = n_train // s.batch_size  # full batches only: the contrastive loss depends on batch size
    total = s.epochs * steps_per_epoch
    warmup = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda t: (t + 1) / warmup if t < warmup else 0.5 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))))
    return EpochLoop(model, opt, sched, make_rng(s.seed, "demo_clip", "batches"), s.batch_size, steps_per_epoch)


def train_demo_clip(inputs: dict, outputs: dict, settings: DemoClipSettings) -> dict[str, float]:
    """Stage ``demo_clip``: train on the pool (``images``, ``table``); write ``model``, ``retrieval``, ``curve``
    and ``provenance``."""
    s = settings
    fit = fit_demo_clip(read_image_set(inputs["images"], inputs["table"]), s)
    write_tsv(pd.DataFrame([{"metric": k, "value": v} for k, v in fit.scores.items()]), outputs["retrieval"])
    write_tsv(fit.curve, outputs["curve"])
    save_torch({"arch": DEMO_ARCH, "image_size": fit.image_size, "state_dict": state_dict_cpu(fit.model)},
               outputs["model"])
    recorded = {k: v for k, v in asdict(s).items() if k not in ("seed", "device")}
    write_sidecar(outputs["provenance"], stage="demo_clip",
                  settings={**recorded, "n_pairs": fit.n_pairs, "image_size": fit.image_size},
                  seed=s.seed, **fit.scores)
    return fit.scores


@torch.no_grad()
def _embed(model, pixels: torch.Tensor, tokens: torch.Tensor, device: str, batch_size: int = 256):
    model.eval()
    img, txt = [], []
    for i in range(0, len(pixels), batch_size):
        img.append(model.encode_image(pixels[i:i + batch_size].to(device), normalize=True).cpu())
        txt.append(model.encode_text(tokens[i:i + batch_size].to(device), normalize=True).cpu())
    return torch.cat(img).numpy(), torch.cat(txt).numpy()


@torch.no_grad()
def _heldout_loss(model, pixels: torch.Tensor, tokens: torch.Tensor, batch_size: int, device: str) -> float:
    """The contrastive loss on held-out pairs, in batches of the training size (comparable to the train loss)."""
    img, txt = _embed(model, pixels, tokens, device)
    scale = float(model.logit_scale.exp())
    losses = []
    for i in range(0, len(img) - batch_size + 1, batch_size) or [0]:
        a, b = torch.from_numpy(img[i:i + batch_size]), torch.from_numpy(txt[i:i + batch_size])
        losses.append(float(symmetric_info_nce(scale * a @ b.T)))
    return float(np.mean(losses))
