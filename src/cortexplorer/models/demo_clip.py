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
import os

import numpy as np
import pandas as pd
import torch

from cortexplorer.device import resolve as resolve_device
from cortexplorer.io.images import read_image_set
from cortexplorer.io.tables import write_tsv
from cortexplorer.io.torchfile import save_torch
from cortexplorer.models.backbone import DEMO_ARCH, OPENAI_MEAN, OPENAI_STD, open_clip_module
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


def train_demo_clip(*, pool_images: str, pool_table: str, out_model: str | os.PathLike, out_metrics: str | os.PathLike,
                    out_curve: str | os.PathLike, out_provenance: str | os.PathLike, seed: int, epochs: int,
                    batch_size: int, learning_rate: float, weight_decay: float, heldout_fraction: float,
                    clause_keep: float = 1.0, category_captions: float = 0.0,
                    device: str = "auto") -> dict[str, float]:
    """Train on the pool's image–caption pairs; write weights, retrieval metrics and the loss curve.

    With ``clause_keep`` < 1 each training step sees shortened captions (:func:`short_captions`), and
    a share ``category_captions`` of them is only the category's phrase ('some food', 'a person'),
    as web alt-text often is; held-out retrieval is always measured with the full captions.
    """
    open_clip = open_clip_module()
    device = resolve_device(device)
    pool = read_image_set(pool_images, pool_table)
    n = len(pool)
    rng = make_rng(seed, "demo_clip", "split")
    order = rng.permutation(n)
    n_held = max(2, round(heldout_fraction * n))
    if n - n_held < batch_size:
        raise ValueError(f"The pool has {n} images: too few to train the demo CLIP with batch size {batch_size} "
                         f"and {n_held} held out; raise stimuli.n_pool or lower demo_clip.batch_size.")
    held, train = np.sort(order[:n_held]), np.sort(order[n_held:])
    captions = pool.table["caption"].astype(str).to_numpy()
    categories = pool.table["category"].astype(str).to_numpy()
    image_size = pool.images.shape[1]
    torch.manual_seed(seed)
    model = _quiet_create(open_clip, force_image_size=image_size).to(device)
    tokenizer = open_clip.get_tokenizer(DEMO_ARCH)
    pixels = _pixels(pool.images)
    tokens = tokenizer(list(captions))
    decay = [p for name, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in name]
    rest = [p for name, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in name)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
                            lr=learning_rate)
    steps_per_epoch = len(train) // batch_size  # full batches only: the contrastive loss depends on batch size
    total = epochs * steps_per_epoch
    warmup = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))))
    batches = make_rng(seed, "demo_clip", "batches")
    curve = []
    log.info("training the demo CLIP (%s) on %d pairs (%d held out) for %d epochs × %d steps on %s",
             DEMO_ARCH, len(train), n_held, epochs, steps_per_epoch, device)
    step = 0
    for epoch in range(epochs):
        model.train()
        perm = train[batches.permutation(len(train))]
        losses = []
        for b in range(steps_per_epoch):
            idx = torch.from_numpy(perm[b * batch_size:(b + 1) * batch_size])
            img = model.encode_image(pixels[idx].to(device), normalize=True)
            texts = short_captions(captions[idx.numpy()], clause_keep, batches)
            short = batches.random(len(texts)) < category_captions
            texts = [category_phrase(c) if k else t for t, c, k in zip(texts, categories[idx.numpy()], short,
                                                                         strict=True)]
            txt = model.encode_text(tokenizer(texts).to(device), normalize=True)
            # symmetric InfoNCE; identical captions in a batch need no special care: their text embeddings
            # are equal, so these targets give the same loss as spreading each target over all of them
            logits = model.logit_scale.exp() * img @ txt.T
            target = torch.arange(len(idx), device=device)
            loss = 0.5 * (torch.nn.functional.cross_entropy(logits, target)
                          + torch.nn.functional.cross_entropy(logits.T, target))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            losses.append(loss.item())
            step += 1
        held_loss = _heldout_loss(model, pixels[held], tokens[held], batch_size, device)
        curve.append({"epoch": epoch + 1, "step": step, "train_loss": float(np.mean(losses)),
                      "heldout_loss": held_loss})
        log.info("demo CLIP epoch %d/%d: train loss %.3f, held-out loss %.3f", epoch + 1, epochs,
                 curve[-1]["train_loss"], held_loss)
    img_emb, txt_emb = _embed(model, pixels[held], tokens[held], device)
    scores = retrieval_scores(img_emb, txt_emb, captions[held], categories[held])
    log.info("demo CLIP held-out retrieval: %s", {k: round(v, 3) for k, v in scores.items()})
    write_tsv(pd.DataFrame([{"metric": k, "value": v} for k, v in scores.items()]), out_metrics)
    write_tsv(pd.DataFrame(curve), out_curve)
    save_torch({"arch": DEMO_ARCH, "image_size": int(image_size),
                "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}, out_model)
    write_sidecar(out_provenance, stage="demo_clip",
                  settings=dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                weight_decay=weight_decay, heldout_fraction=heldout_fraction, clause_keep=clause_keep,
                                category_captions=category_captions, n_pairs=n,
                                image_size=int(image_size)),
                  seed=seed, **{k: v for k, v in scores.items()})
    return scores


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
        logits = scale * a @ b.T
        t = torch.arange(len(a))
        losses.append(0.5 * float(torch.nn.functional.cross_entropy(logits, t)
                                  + torch.nn.functional.cross_entropy(logits.T, t)))
    return float(np.mean(losses))
