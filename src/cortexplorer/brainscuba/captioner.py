"""BrainSCUBA's captioner: CLIPCap, a GPT-2 that reads an image embedding as a prefix and writes a sentence.

CLIPCap (Mokady et al. 2021; rmokady/CLIP_prefix_caption) maps an image embedding ``x`` (raw,
not unit-normalised CLIP ViT-B/32, D = 512) through an MLP to ``prefix_length`` pseudo-token
embeddings and lets GPT-2 continue from them. BrainSCUBA (Luo et al. 2024) feeds it the projected
voxel weights (:mod:`cortexplorer.brainscuba.projection`) and decodes with CLIPCap's beam search.

- :class:`ClipCaptionModel` keeps CLIPCap's module names (``gpt``, ``clip_project.model.{0,2}``), so its
  released ``coco_weights.pt`` loads with :func:`load_clipcap`, strictly, after dropping two buffers
  that old transformers saved and new ones no longer have (:func:`clipcap_state_dict_fix`).
- :func:`beam_search` is CLIPCap's ``generate_beam`` batched over images, with GPT-2's key/value
  cache instead of re-running the whole sequence each step (same tokens, many times faster).
- The demo has no COCO weights: :mod:`cortexplorer.models.demo_captioner` trains a tiny CLIPCap
  (mapper and a 2-layer GPT-2, jointly) from the demo CLIP's embeddings of the image pool to the
  pool's captions, with the word-level :class:`WordTokenizer`.
- :class:`Captioner` turns N × D embeddings into caption strings; :func:`load_captioner` builds one
  from the config's ``brainscuba.captioner`` spec.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import transformers
from torch import nn

from cortexplorer.device import resolve as resolve_device
from cortexplorer.models.backbone import file_sha256

log = logging.getLogger(__name__)

PAD_ID, UNK_ID, EOS_ID = 0, 1, 2  # WordTokenizer's fixed ids
_WORDS = re.compile(r"[^\s,.]+|[,.]")
_OLD_GPT2_BUFFERS = re.compile(r"^gpt\.transformer\.h\.\d+\.attn\.(bias|masked_bias)$")
CLIPCAP_WEIGHTS_HINT = ("CLIPCap's COCO weights (coco_weights.pt, from rmokady/CLIP_prefix_caption; mirrored on the "
                        "Hugging Face hub as akhaliq/CLIP-prefix-captioning-COCO-weights)")


# --------------------------------------------------------------------------------------------------- tokenizers


class CaptionTokenizer(Protocol):
    """What :class:`Captioner` needs from a tokenizer."""

    eos_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def __len__(self) -> int: ...


class WordTokenizer:
    """Word-level tokenizer built from training captions (no download).

    Lower-cases and splits into words and the punctuation ``,`` and ``.``. Ids: 0 = ``<pad>``,
    1 = ``<unk>``, 2 = ``.`` (the end-of-sentence token, as CLIPCap stops on "."), then the
    vocabulary sorted.
    """

    SPECIALS = ("<pad>", "<unk>", ".")

    def __init__(self, vocab: Sequence[str]):
        vocab = list(vocab)
        if tuple(vocab[:3]) != self.SPECIALS or len(set(vocab)) != len(vocab):
            raise ValueError(f"A WordTokenizer vocabulary must start with {list(self.SPECIALS)} and hold no duplicates; "
                             f"got {vocab[:5]}… ({len(vocab)} entries). Build it with WordTokenizer.from_captions.")
        self.vocab = vocab
        self._ids = {w: i for i, w in enumerate(vocab)}

    @staticmethod
    def split(text: str) -> list[str]:
        return _WORDS.findall(text.lower())

    @classmethod
    def from_captions(cls, captions: Sequence[str]) -> WordTokenizer:
        words = {w for c in captions for w in cls.split(c)} - set(cls.SPECIALS)
        return cls([*cls.SPECIALS, *sorted(words)])

    @property
    def eos_id(self) -> int:
        return EOS_ID

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; unknown words become ``<unk>``; no "." is appended."""
        return [self._ids.get(w, UNK_ID) for w in self.split(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Words joined by spaces, none before "," or "."; ``<pad>`` is skipped; does not stop at "."."""
        parts: list[str] = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.vocab):
                raise ValueError(f"Token id {i} is outside this tokenizer's vocabulary of {len(self.vocab)} words; the "
                                 "captioner and its tokenizer do not belong together.")
            if i == PAD_ID:
                continue
            w = self.vocab[i]
            parts.append(w if (w in (",", ".") or not parts) else " " + w)
        return "".join(parts)

    def to_dict(self) -> dict:
        return {"kind": "word", "vocab": list(self.vocab)}

    @classmethod
    def from_dict(cls, d: Mapping) -> WordTokenizer:
        if d.get("kind") != "word":
            raise ValueError(f"Not a WordTokenizer record (kind {d.get('kind')!r}, expected 'word').")
        return cls(d["vocab"])

    def __len__(self) -> int:
        return len(self.vocab)


class HFTokenizer:
    """GPT-2's BPE tokenizer read from a local folder (transformers format), with :class:`WordTokenizer`'s interface.

    ``eos_id`` is the id of "." (13 in GPT-2): CLIPCap's ``generate_beam`` stops on "." .
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._tok = transformers.GPT2TokenizerFast.from_pretrained(self.path, local_files_only=True)
        dot = self._tok.encode(".")
        if len(dot) != 1:
            raise ValueError(f"The tokenizer in '{path}' does not encode '.' as one token ({dot}); CLIPCap needs GPT-2's.")
        self._eos = int(dot[0])

    @property
    def eos_id(self) -> int:
        return self._eos

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text))

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids])

    def __len__(self) -> int:
        return len(self._tok)


# ------------------------------------------------------------------------------------------------------- model


class MLP(nn.Module):
    """CLIPCap's mapper: Linear, Tanh, Linear (state-dict keys ``model.0.*`` and ``model.2.*``)."""

    def __init__(self, sizes: Sequence[int], bias: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=bias))
            if i < len(sizes) - 2:
                layers.append(nn.Tanh())
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ClipCaptionModel(nn.Module):
    """CLIPCap with the MLP mapper and a fine-tuned GPT-2 (its ``ClipCaptionModel``, same module names)."""

    def __init__(self, prefix_length: int, prefix_size: int, gpt2_config: transformers.GPT2Config):
        super().__init__()
        self.prefix_length = int(prefix_length)
        self.prefix_size = int(prefix_size)
        self.gpt = transformers.GPT2LMHeadModel(gpt2_config)
        self.gpt_embedding_size = self.gpt.transformer.wte.weight.shape[1]
        size = self.gpt_embedding_size * self.prefix_length
        self.clip_project = MLP((self.prefix_size, size // 2, size))

    def prefix_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        """N × D image embeddings → N × prefix_length × n_embd GPT-2 input embeddings."""
        return self.clip_project(embeddings).view(-1, self.prefix_length, self.gpt_embedding_size)

    def forward(self, tokens: torch.Tensor, prefix: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """CLIPCap's training forward: logits over [prefix tokens, caption tokens] (N × (P + T) × vocab)."""
        embedding_cat = torch.cat((self.prefix_embeddings(prefix), self.gpt.transformer.wte(tokens)), dim=1)
        return self.gpt(inputs_embeds=embedding_cat, attention_mask=mask, use_cache=False).logits


def clipcap_state_dict_fix(state: Mapping[str, torch.Tensor]) -> tuple[dict, list[str]]:
    """Drop the GPT-2 attention buffers that transformers < 4.31 saved and newer versions no longer have.

    ``gpt.transformer.h.{i}.attn.bias`` (the causal mask) and ``.attn.masked_bias`` are constants,
    not weights (rmokady/CLIP_prefix_caption issue #76). Returns the clean state and the dropped keys.
    """
    dropped = [k for k in state if _OLD_GPT2_BUFFERS.match(k)]
    return {k: v for k, v in state.items() if k not in set(dropped)}, dropped


def _gpt2_config(config: transformers.GPT2Config | Mapping | None) -> transformers.GPT2Config:
    if config is None:
        return transformers.GPT2Config()  # GPT-2 base: 12 layers, n_embd 768, vocab 50257
    if isinstance(config, transformers.GPT2Config):
        return config
    return transformers.GPT2Config(**dict(config))


def load_clipcap(path: str | os.PathLike, *, prefix_length: int = 10, prefix_size: int = 512,
                 gpt2_config: transformers.GPT2Config | Mapping | None = None, device: str = "cpu") -> ClipCaptionModel:
    """Load a CLIPCap checkpoint (a plain state dict, e.g. ``coco_weights.pt``) strictly, in eval mode.

    The COCO model has ``prefix_length`` 10, ``prefix_size`` 512 (CLIP ViT-B/32) and GPT-2 base
    (the default ``gpt2_config``). Nothing is downloaded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"The CLIPCap weights '{path}' do not exist. Set brainscuba.captioner.weights to a local "
                                f"copy of {CLIPCAP_WEIGHTS_HINT}; nothing is downloaded at run time.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"'{path}' does not hold a CLIPCap state dict (a mapping of names to tensors); expected "
                         f"{CLIPCAP_WEIGHTS_HINT}.")
    state, dropped = clipcap_state_dict_fix(state)
    if dropped:
        log.info("%s: dropped %d attention buffers saved by old transformers (attn.bias, attn.masked_bias)",
                 path.name, len(dropped))
    model = ClipCaptionModel(prefix_length, prefix_size, _gpt2_config(gpt2_config))
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # size mismatches
        raise ValueError(f"The CLIPCap weights '{path}' do not fit a model with prefix_length {prefix_length}, "
                         f"prefix_size {prefix_size} and this GPT-2 config (check brainscuba.captioner.prefix_length "
                         f"and the GPT-2 config folder): {err}") from err
    if missing or unexpected:
        raise ValueError(f"The CLIPCap weights '{path}' do not match CLIPCap's ClipCaptionModel (MLP mapper, GPT-2): "
                         f"missing keys {list(missing)[:10]}, unexpected keys {list(unexpected)[:10]}. A transformer "
                         "mapper checkpoint or another architecture cannot be loaded here.")
    model.source = {"kind": "clipcap", "weights": str(path), "weights_sha256": file_sha256(path)}
    return model.to(resolve_device(device)).eval()


# ------------------------------------------------------------------------------------------------- beam search


def _reorder_cache(past: Any, rows: torch.Tensor) -> Any:
    """Select (and repeat) batch rows of GPT-2's key/value cache."""
    if hasattr(past, "reorder_cache"):  # transformers' Cache objects (DynamicCache): in place
        past.reorder_cache(rows)
        return past
    return tuple(tuple(t.index_select(0, rows) for t in layer) for layer in past)  # legacy tuples


def _top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest entries per row, ties to the lower index (``topk`` alone leaves tie order unspecified)."""
    n = scores.shape[1]
    vals, idx = scores.topk(min(2 * k, n), dim=1)
    idx, perm = idx.sort(dim=1)
    vals = vals.gather(1, perm)
    vals, order = vals.sort(dim=1, descending=True, stable=True)
    return vals[:, :k], idx.gather(1, order)[:, :k]


@torch.no_grad()
def beam_search(model: ClipCaptionModel, prefix: torch.Tensor, *, eos_id: int, beam_size: int = 5,
                max_length: int = 67, use_cache: bool = True) -> list[list[int]]:
    """CLIPCap's ``generate_beam`` (temperature 1), batched over the B prefixes of ``prefix``.

    Parameters
    ----------
    model
        The captioner; it runs in eval mode (its mode is restored afterwards).
    prefix
        B × prefix_length × n_embd GPT-2 input embeddings (:meth:`ClipCaptionModel.prefix_embeddings`).
    eos_id
        The token that ends a caption ("."); an id outside the vocabulary (e.g. -1) never ends one.
    beam_size
        Beams kept per prefix; all B × beam_size rows go through GPT-2 in one forward per step.
    max_length
        At most this many tokens per caption (CLIPCap's ``entry_length``, 67).
    use_cache
        Feed GPT-2 only the newest token and its key/value cache (reordered by beam each step);
        False re-runs the whole sequence every step, as CLIPCap does. Both give the same tokens
        (up to float rounding of the logits deciding a near-tie, which the tests do not see).

    Returns
    -------
    One token list per prefix: the best beam, ending with ``eos_id`` if it finished, or cut at
    ``max_length`` tokens.

    Notes
    -----
    As in ``generate_beam``: step 1 keeps the ``beam_size`` most likely first tokens; then every beam
    × vocabulary continuation is scored by its summed log-probability divided by its length
    (tokens including the eos), a finished beam competes with one frozen candidate (same score,
    same length), and the ``beam_size`` best survive. It stops when every beam has finished or at
    ``max_length``, and returns the beam with the best length-normalised score, finished or not.
    Ties go to the lower beam index, then the lower token id. Unlike ``generate_beam``, a beam
    size above the vocabulary (or above the live candidates) is allowed: spare beams are dead
    (score −inf) and never returned.
    """
    if prefix.ndim != 3 or prefix.shape[1] != model.prefix_length:
        raise ValueError(f"beam_search needs B × prefix_length ({model.prefix_length}) × n_embd prefix embeddings, "
                         f"got shape {tuple(prefix.shape)}; pass model.prefix_embeddings(embeddings).")
    if beam_size < 1 or max_length < 1:
        raise ValueError(f"beam_size and max_length must be at least 1, got {beam_size} and {max_length}.")
    n_positions = model.gpt.config.n_positions
    if model.prefix_length + max_length - 1 > n_positions:
        raise ValueError(f"max_length {max_length} after a {model.prefix_length}-token prefix exceeds GPT-2's "
                         f"{n_positions} positions; use max_length <= {n_positions - model.prefix_length + 1}.")
    was_training = model.training
    model.eval()
    try:
        return _beam_search(model, prefix, eos_id, beam_size, max_length, use_cache)
    finally:
        model.train(was_training)


def _beam_search(model: ClipCaptionModel, prefix: torch.Tensor, eos_id: int, k: int, max_length: int,
                 use_cache: bool) -> list[list[int]]:
    gpt, wte = model.gpt, model.gpt.transformer.wte
    n_rows, device = prefix.shape[0], prefix.device
    prefix = prefix.to(wte.weight.dtype)
    results: list[list[int]] = [[] for _ in range(n_rows)]
    if n_rows == 0:
        return results

    # 1. the prefix alone; the k most likely first tokens start the beams (spares are dead: −inf)
    out = gpt(inputs_embeds=prefix, use_cache=use_cache)
    logp = out.logits[:, -1].double().log_softmax(-1)
    vocab = logp.shape[1]
    if k > vocab:
        logp = torch.cat((logp, logp.new_full((n_rows, k - vocab), -math.inf)), dim=1)
    scores, first = _top_k(logp, k)  # B × k, score = summed log-prob
    first = first.masked_fill(first >= vocab, 0)
    rows = torch.arange(n_rows, device=device).repeat_interleave(k)
    past = _reorder_cache(out.past_key_values, rows) if use_cache else None
    generated = None if use_cache else prefix[rows]
    tokens = first.reshape(-1, 1)
    scores = scores.reshape(-1)
    lengths = torch.ones_like(scores)
    stopped = (tokens[:, 0] == eos_id) | ~torch.isfinite(scores)
    alive = torch.arange(n_rows, device=device)  # original index of each prefix still being decoded

    for _step in range(1, max_length):
        # 2. prefixes whose beams have all finished leave the batch
        done = stopped.view(-1, k).all(dim=1)
        if done.any():
            for b in torch.nonzero(done).flatten().tolist():
                results[int(alive[b])] = _best(tokens.view(-1, k, tokens.shape[1])[b], scores.view(-1, k)[b],
                                               lengths.view(-1, k)[b])
            keep = torch.nonzero(~done).flatten()
            alive = alive[keep]
            if len(keep) == 0:
                break
            sel = (keep[:, None] * k + torch.arange(k, device=device)).reshape(-1)
            tokens, scores, lengths, stopped = tokens[sel], scores[sel], lengths[sel], stopped[sel]
            if use_cache:
                past = _reorder_cache(past, sel)
            else:
                generated = generated[sel]

        # 3. next-token log-probs of every beam (from the cache, or re-running the whole sequence)
        new = wte(tokens[:, -1:])
        if use_cache:
            out = gpt(inputs_embeds=new, past_key_values=past, use_cache=True)
            past = out.past_key_values
        else:
            generated = torch.cat((generated, new), dim=1)
            out = gpt(inputs_embeds=generated, use_cache=False)
        logp = out.logits[:, -1].double().log_softmax(-1)

        # 4. a finished beam has one continuation, itself (CLIPCap appends token 0 at log-prob 0)
        logp[stopped] = -math.inf
        logp[stopped, 0] = 0.0
        new_lengths = lengths + (~stopped).double()
        total = scores[:, None] + logp
        avg = (total / new_lengths[:, None]).view(-1, k * vocab)
        _, flat = _top_k(avg, k)
        src = (flat // vocab + torch.arange(len(alive), device=device)[:, None] * k).reshape(-1)
        tok = (flat % vocab).reshape(-1)
        scores = total[src, tok]
        lengths = new_lengths[src]
        tokens = torch.cat((tokens[src], tok[:, None]), dim=1)
        stopped = stopped[src] | (tok == eos_id) | ~torch.isfinite(scores)
        if use_cache:
            past = _reorder_cache(past, src)
        else:
            generated = generated[src]

    for b, row in enumerate(alive.tolist()):  # cut at max_length
        results[row] = _best(tokens.view(-1, k, tokens.shape[1])[b], scores.view(-1, k)[b], lengths.view(-1, k)[b])
    return results


def _best(tokens: torch.Tensor, scores: torch.Tensor, lengths: torch.Tensor) -> list[int]:
    """The beam with the best length-normalised score (ties to the lower beam), cut to its length."""
    avg = scores / lengths
    best = int(torch.argsort(avg, descending=True, stable=True)[0])
    return tokens[best, :int(lengths[best])].tolist()


# ---------------------------------------------------------------------------------------------------- captioner


class Captioner:
    """Caption image embeddings (or projected voxel weights) with a :class:`ClipCaptionModel` and its tokenizer.

    ``normalize_prefix``: unit-normalise each embedding first. CLIPCap's COCO model was trained
    on raw CLIP embeddings, so the default is False.
    """

    def __init__(self, model: ClipCaptionModel, tokenizer: CaptionTokenizer, *, normalize_prefix: bool = False):
        vocab = model.gpt.config.vocab_size
        if len(tokenizer) > vocab:
            raise ValueError(f"The tokenizer has {len(tokenizer)} tokens but the captioner's GPT-2 only {vocab}; they "
                             "do not belong together.")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.normalize_prefix = bool(normalize_prefix)

    @property
    def identity(self) -> dict:
        """What produced the captions, for provenance sidecars."""
        source = getattr(self.model, "source", {"kind": "custom"})
        cfg = self.model.gpt.config
        return {**source, "prefix_length": self.model.prefix_length, "prefix_size": self.model.prefix_size,
                "n_layer": cfg.n_layer, "n_embd": cfg.n_embd, "vocab_size": len(self.tokenizer),
                "normalize_prefix": self.normalize_prefix}

    def text(self, ids: Sequence[int]) -> str:
        """Decode generated ids up to and including the first eos / first "."."""
        ids = list(ids)
        if self.tokenizer.eos_id in ids:
            ids = ids[:ids.index(self.tokenizer.eos_id) + 1]
        text = self.tokenizer.decode(ids)
        cut = text.find(".")
        return (text[:cut + 1] if cut >= 0 else text).strip()

    @torch.no_grad()
    def caption(self, embeddings: np.ndarray, *, beam_size: int = 5, max_length: int = 67, batch_size: int = 64,
                use_cache: bool = True, progress: bool = True) -> list[str]:
        """One caption per row of ``embeddings`` (N × D); rows with NaN or inf get ""."""
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[1] != self.model.prefix_size:
            raise ValueError(f"The captioner reads N × {self.model.prefix_size} embeddings, got shape {emb.shape}; "
                             "embed with the backbone the captioner was trained on (CLIP ViT-B/32 for CLIPCap COCO).")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        limit = self.model.gpt.config.n_positions - self.model.prefix_length + 1
        if max_length > limit:
            log.info("max_length %d does not fit GPT-2's %d positions after the %d-token prefix; captions stop at %d "
                     "tokens", max_length, self.model.gpt.config.n_positions, self.model.prefix_length, limit)
            max_length = limit
        captions = [""] * len(emb)
        valid = np.flatnonzero(np.isfinite(emb).all(axis=1))
        if len(valid) < len(emb):
            log.warning("%d of %d embeddings have NaN or inf values (e.g. skipped voxels); their caption is empty.",
                        len(emb) - len(valid), len(emb))
        device = self.model.gpt.transformer.wte.weight.device
        start = last_log = time.perf_counter()
        for i in range(0, len(valid), batch_size):
            idx = valid[i:i + batch_size]
            x = torch.from_numpy(emb[idx]).to(device)
            if self.normalize_prefix:
                x = x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(1e-12)
            ids = beam_search(self.model, self.model.prefix_embeddings(x), eos_id=self.tokenizer.eos_id,
                              beam_size=beam_size, max_length=max_length, use_cache=use_cache)
            for row, seq in zip(idx, ids, strict=True):
                captions[row] = self.text(seq)
            now = time.perf_counter()
            finished = i + len(idx) == len(valid)
            if progress and (now - last_log > 30 or (finished and len(valid) > batch_size)):
                last_log = now
                log.info("captioned %d / %d embeddings (%.0f s)", i + len(idx), len(valid), now - start)
        return captions


# ---------------------------------------------------------------------------------------------------------- demo


def load_demo_captioner(path: str | os.PathLike, device: str = "cpu") -> Captioner:
    """The demo captioner written by :func:`cortexplorer.models.demo_captioner.train_demo_captioner`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"The demo captioner weights '{path}' do not exist; run the demo_captioner rule "
                                "(snakemake demo_captioner) first.")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = ClipCaptionModel(blob["prefix_length"], blob["prefix_size"], transformers.GPT2Config(**blob["config"]))
    model.load_state_dict(blob["state_dict"], strict=True)
    model.source = {"kind": "demo_captioner", "weights": str(path), "weights_sha256": file_sha256(path)}
    return Captioner(model.to(resolve_device(device)), WordTokenizer.from_dict(blob["tokenizer"]))


CAPTIONER_KINDS = ("demo_captioner", "clipcap")


def load_captioner(spec: Mapping, *, demo_weights: str | os.PathLike | None = None, device: str = "cpu") -> Captioner:
    """A :class:`Captioner` from the config's ``brainscuba.captioner`` spec.

    - ``{kind: demo_captioner}``: the demo's model, read from ``demo_weights``.
    - ``{kind: clipcap, weights: coco_weights.pt, gpt2: <folder>, prefix_length: 10, normalize_prefix: false}``:
      CLIPCap's COCO model; ``gpt2`` is a local folder with GPT-2's config and tokenizer files
      (transformers format). Nothing is downloaded.
    """
    kind = spec.get("kind")
    if kind == "demo_captioner":
        if demo_weights is None:
            raise ValueError("brainscuba.captioner kind demo_captioner needs the demo captioner's weights "
                             "(demo_weights=, the output of rule demo_captioner).")
        return load_demo_captioner(demo_weights, device=device)
    if kind == "clipcap":
        for key in ("weights", "gpt2"):
            if not spec.get(key):
                raise ValueError(f"brainscuba.captioner kind clipcap needs `{key}` (see config/README.md).")
        gpt2 = Path(spec["gpt2"])
        if not (gpt2 / "config.json").is_file():
            raise FileNotFoundError(f"The GPT-2 folder '{gpt2}' (brainscuba.captioner.gpt2) has no config.json; it must "
                                    "hold GPT-2's config and tokenizer files. On a machine with internet run "
                                    f"`huggingface-cli download gpt2 --local-dir {gpt2}` and copy the folder here.")
        config = transformers.GPT2Config.from_pretrained(gpt2, local_files_only=True)
        model = load_clipcap(spec["weights"], prefix_length=int(spec.get("prefix_length", 10)),
                             prefix_size=int(spec.get("prefix_size", 512)), gpt2_config=config, device=device)
        return Captioner(model, HFTokenizer(gpt2), normalize_prefix=bool(spec.get("normalize_prefix", False)))
    raise ValueError(f"Unknown brainscuba.captioner kind {kind!r}; use one of {list(CAPTIONER_KINDS)}.")
