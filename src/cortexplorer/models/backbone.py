"""Image backbones through open_clip, loaded from local files only, and their identity.

A backbone is named in config by a spec:

- ``{kind: open_clip, arch: ViT-B-16, pretrained: laion2b_s34b_b88k}``: any open_clip
  architecture and pretrained tag (or a weight file path as ``pretrained``). The weights are
  looked up in the Hugging Face cache (``cache_dir`` or the default hub cache); nothing is
  downloaded, and a missing file is one error naming where it was looked for and the config key.
- ``{kind: demo_clip}``: the demo's small open_clip model (architecture
  ``cortexplorer-demo-clip``, registered with open_clip from ``configs/``), trained by the
  workflow on the disjoint image pool.

:class:`Backbone` maps images in [0, 1] (N × 3 × H × W, any size) to the model's final image
embedding, differentiably: resize to the model's input size, normalise with its mean and std,
``encode_image``. Feature extraction and brain-guided synthesis use this one path.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

log = logging.getLogger(__name__)

DEMO_ARCH = "cortexplorer-demo-clip"
CONFIG_DIR = Path(__file__).parent / "configs"
KINDS = ("open_clip", "demo_clip")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
# What open_clip looks for in a Hugging Face repo when the tag names no file (safetensors first)
HF_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_REGISTERED: list[bool] = []


def open_clip_module():
    """open_clip with the demo architecture registered (once) and the hub in offline mode."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import open_clip

    if not _REGISTERED:
        open_clip.add_model_config(CONFIG_DIR)
        _REGISTERED.append(True)
    return open_clip


def spec_kind(spec: Mapping[str, Any], kinds: Sequence[str], key: str) -> str:
    """The ``kind`` of a model spec from the config, one of ``kinds``; ``key`` names the spec in errors."""
    kind = spec.get("kind")
    if kind not in kinds:
        raise ValueError(f"{key}.kind is {kind!r}; use one of {list(kinds)}.")
    return kind


@dataclass(frozen=True)
class BackboneSpec:
    """One entry of ``features.backbones`` (``name`` is its key there)."""

    name: str
    kind: str
    arch: str
    pretrained: str | None = None
    cache_dir: str | None = None

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any]) -> BackboneSpec:
        kind = spec_kind(spec, KINDS, f"features.backbones.{name}")
        if kind == "demo_clip":
            return cls(name=name, kind=kind, arch=DEMO_ARCH)
        if not spec.get("arch") or not spec.get("pretrained"):
            raise ValueError(f"features.backbones.{name} needs 'arch' and 'pretrained' for an open_clip backbone, "
                             "e.g. {kind: open_clip, arch: ViT-B-16, pretrained: laion2b_s34b_b88k}.")
        return cls(name=name, kind=kind, arch=str(spec["arch"]), pretrained=str(spec["pretrained"]),
                   cache_dir=spec.get("cache_dir"))


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def resolve_open_clip_weights(arch: str, pretrained: str, cache_dir: str | None = None,
                              config_key: str = "features.backbones.<name>") -> str:
    """The local weight file of an open_clip ``arch`` / ``pretrained`` tag (or ``pretrained`` itself if a file)."""
    open_clip = open_clip_module()
    if os.path.isfile(pretrained):
        return pretrained
    if arch not in open_clip.list_models():
        raise ValueError(f"{config_key}.arch: open_clip has no architecture {arch!r} "
                         f"(e.g. ViT-B-16, ViT-B-32, ViT-L-14; open_clip.list_models() lists all).")
    cfg = open_clip.get_pretrained_cfg(arch, pretrained)
    if not cfg:
        raise ValueError(f"{config_key}.pretrained: {pretrained!r} is neither a file nor an open_clip tag of {arch} "
                         f"(tags: {open_clip.list_pretrained_tags_by_model(arch)}).")
    from huggingface_hub import constants, try_to_load_from_cache

    repo, filename = os.path.split(cfg["hf_hub"])
    names = [filename] if filename else list(HF_WEIGHT_FILES)
    if filename.endswith((".bin", ".pth")):
        names.insert(0, filename[:-4] + ".safetensors")
    hub = Path(cache_dir) if cache_dir else Path(constants.HF_HUB_CACHE)
    for name in names:
        found = try_to_load_from_cache(repo, name, cache_dir=hub)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    looked = ", ".join(str(hub / f"models--{repo.replace('/', '--')}" / "snapshots" / "*" / n) for n in names)
    raise FileNotFoundError(
        f"The weights of open_clip {arch} / {pretrained} are not in the local cache (looked for {looked}). "
        f"Nothing is downloaded at run time: on a machine with internet run "
        f"`huggingface-cli download {repo} {names[0]}` (or open_clip.create_model({arch!r}, pretrained={pretrained!r})) "
        f"and copy the cache here, or set {config_key}.cache_dir to the hub cache folder that holds it, "
        f"or {config_key}.pretrained to the weight file.")


class Backbone(torch.nn.Module):
    """Images in [0, 1] (N × 3 × H × W) → final image embedding (N × D), differentiable."""

    def __init__(self, visual: torch.nn.Module, image_size: int, mean: tuple[float, ...], std: tuple[float, ...],
                 identity: Mapping[str, Any]):
        super().__init__()
        self.visual = visual
        self.image_size = int(image_size)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.identity = dict(identity)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"Backbone input must be N × 3 × H × W images in [0, 1], not {tuple(images.shape)}.")
        if images.shape[-2:] != (self.image_size, self.image_size):
            images = torch.nn.functional.interpolate(images, size=(self.image_size, self.image_size), mode="bicubic",
                                                     align_corners=False, antialias=True)
        x = (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        return self.visual(x)

    @property
    def embed_dim(self) -> int:
        return int(self.identity["embed_dim"])

    @torch.no_grad()
    def embed(self, images: np.ndarray, batch_size: int = 64, progress: bool = True, normalize: bool = True
              ) -> np.ndarray:
        """Embeddings of uint8 images (N × H × W × 3), float32 N × D, in batches: unit-normalised, or raw with
        ``normalize=False`` (BrainSCUBA's image bank and captioner read raw embeddings)."""
        self.eval()
        device = self.mean.device
        out = np.empty((len(images), self.embed_dim), dtype=np.float32)
        batches = range(0, len(images), batch_size)
        for i in tqdm(batches, desc=f"embed ({self.identity['arch']}, {device})", disable=not progress,
                      mininterval=10):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])).to(device)
            x = x.permute(0, 3, 1, 2).float() / 255.0
            emb = self(x).float()
            out[i:i + batch_size] = (torch.nn.functional.normalize(emb, dim=-1) if normalize else emb).cpu().numpy()
        return out


def identity_of(spec: BackboneSpec, weights: str | os.PathLike, embed_dim: int, image_size: int) -> dict[str, Any]:
    """What a feature file records about the model that made it (weights by SHA-256)."""
    return {"name": spec.name, "kind": spec.kind, "arch": spec.arch, "pretrained": spec.pretrained or "",
            "weights_sha256": file_sha256(weights), "embed_dim": int(embed_dim), "image_size": int(image_size)}


def create_clip(spec: BackboneSpec, *, demo_weights: str | os.PathLike | None = None, device: str = "cpu",
                config_key: str | None = None):
    """The full open_clip model of ``spec`` (eval mode) and its preprocessing (image size, mean, std, weights)."""
    open_clip = open_clip_module()
    if spec.kind == "demo_clip":
        if demo_weights is None or not os.path.isfile(demo_weights):
            raise FileNotFoundError(f"The demo CLIP weights '{demo_weights}' do not exist; run the demo_clip rule "
                                    f"(snakemake demo_clip) first.")
        blob = torch.load(demo_weights, map_location="cpu", weights_only=True)
        model = open_clip.create_model(DEMO_ARCH, force_image_size=blob["image_size"])
        model.load_state_dict(blob["state_dict"])
        image_size, mean, std, weights = blob["image_size"], OPENAI_MEAN, OPENAI_STD, str(demo_weights)
    else:
        weights = resolve_open_clip_weights(spec.arch, spec.pretrained or "", spec.cache_dir,
                                            config_key=config_key or f"features.backbones.{spec.name}")
        cfg = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained) or {}
        log.info("loading open_clip %s from %s", spec.arch, weights)
        model = open_clip.create_model(spec.arch, pretrained=weights, force_quick_gelu=bool(cfg.get("quick_gelu")))
        pre = getattr(model.visual, "preprocess_cfg", {})
        image_size = model.visual.image_size
        image_size = image_size[0] if isinstance(image_size, tuple | list) else image_size
        mean = tuple(cfg.get("mean") or pre.get("mean") or OPENAI_MEAN)
        std = tuple(cfg.get("std") or pre.get("std") or OPENAI_STD)
    model.eval().to(device)
    return model, {"image_size": int(image_size), "mean": mean, "std": std, "weights": weights}


def load_backbone(spec: BackboneSpec, *, demo_weights: str | os.PathLike | None = None,
                  device: str = "cpu") -> Backbone:
    """The image tower of ``spec`` as a :class:`Backbone` (eval mode, on ``device``)."""
    model, pre = create_clip(spec, demo_weights=demo_weights, device=device)
    embed_dim = int(model.visual.output_dim)
    identity = identity_of(spec, pre["weights"], embed_dim, pre["image_size"])
    return Backbone(model.visual, pre["image_size"], pre["mean"], pre["std"], identity).to(device).eval()


def text_embedder(spec: BackboneSpec, clip_model, device: str):
    """Unit-normalised CLIP text embeddings of captions (the encoder backbone's own text tower)."""
    tokenizer = open_clip_module().get_tokenizer(DEMO_ARCH if spec.kind == "demo_clip" else spec.arch)

    @torch.no_grad()
    def embed(texts: Sequence[str]) -> np.ndarray:
        out = [clip_model.encode_text(tokenizer(list(texts[i:i + 256])).to(device), normalize=True).float().cpu()
               for i in range(0, len(texts), 256)]
        return torch.cat(out).numpy()

    return embed
