"""Convolutional networks with named layers, for the behavioural models (visual search, triplets).

A network is named in config (``networks.<name>``) by a spec:

- ``{kind: torchvision, arch: vgg16, weights: IMAGENET1K_V1}``: a torchvision architecture with
  its ImageNet weights from the local torch hub cache (``$TORCH_HOME/hub/checkpoints`` or
  ``cache_dir``), or a weight file path as ``weights``, or ``weights: random`` (explicitly
  untrained, He-initialised from the seed; recorded as such). Nothing is downloaded; a missing
  file is one error naming where it was looked for and the command that fetches it.
- ``{kind: demo_cnn}``: the demo's VGG16-shaped network (torchvision's VGG16 layer sequence
  at reduced width, same ``features.N`` layer names), trained by the workflow to classify the
  disjoint image pool's categories.

Layers are addressed by their module names (``features.23``, ``classifier.4``), exactly as
``model.named_modules()`` lists them; :func:`layer_table` lists a network's layers with a
readable alias (``conv3_3``, ``pool3``) for VGG-shaped stacks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from cortexplorer.models.backbone import file_sha256, spec_kind

log = logging.getLogger(__name__)

KINDS = ("torchvision", "demo_cnn")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's VGG16 block structure ("D"): channels per conv, "M" = pooling
VGG16_BLOCKS: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                                       512, 512, 512, "M")


@dataclass(frozen=True)
class CnnSpec:
    """One entry of ``networks`` (``name`` is its key there)."""

    name: str
    kind: str
    arch: str
    weights: str = "random"
    cache_dir: str | None = None

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any]) -> CnnSpec:
        if spec_kind(spec, KINDS, f"networks.{name}") == "demo_cnn":
            return cls(name=name, kind="demo_cnn", arch="demo_vgg16", weights="demo")
        import torchvision

        arch = str(spec.get("arch", ""))
        if arch not in torchvision.models.list_models(module=torchvision.models):
            raise ValueError(f"networks.{name}.arch: torchvision has no classification model {arch!r} "
                             f"(e.g. vgg16, vgg16_bn, alexnet, resnet50; torchvision.models.list_models() lists all).")
        return cls(name=name, kind=spec["kind"], arch=arch, weights=str(spec.get("weights", "IMAGENET1K_V1")),
                   cache_dir=spec.get("cache_dir"))


def vgg_channels(width: int) -> list[int | str]:
    """VGG16's block structure with the first block ``width`` channels wide (VGG16 itself: 64)."""
    return [c if c == "M" else max(1, int(c) * width // 64) for c in VGG16_BLOCKS]


class DemoVGG(torch.nn.Module):
    """VGG16's conv stack (torchvision ``make_layers``, so the same ``features.N`` names) at reduced width.

    The classifier averages the last pooled map (as ResNets do) instead of VGG's 7×7×512 → 4096
    fully connected layers, which would dwarf the conv stack at this width.
    """

    def __init__(self, width: int, n_classes: int, batch_norm: bool = True, hidden: int = 128):
        super().__init__()
        from torchvision.models.vgg import make_layers

        cfg = vgg_channels(width)
        self.features = make_layers(cfg, batch_norm=batch_norm)
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.classifier = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(int(cfg[-2]), hidden), torch.nn.ReLU(inplace=True),
            torch.nn.Dropout(0.3), torch.nn.Linear(hidden, n_classes))
        for m in self.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                torch.nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


class Cnn(torch.nn.Module):
    """A network with named layers: images in [0, 1] (N × 3 × H × W) → logits, or any layer's activations."""

    def __init__(self, model: torch.nn.Module, image_size: int | None, mean: Sequence[float], std: Sequence[float],
                 identity: Mapping[str, Any]):
        super().__init__()
        self.model = model
        self.image_size = image_size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.identity = dict(identity)

    def normalise(self, images: torch.Tensor, resize: bool = True) -> torch.Tensor:
        """[0, 1] images → the network's input (resized so the shorter side is ``image_size``, if set and asked)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"Network input must be N × 3 × H × W images in [0, 1], not {tuple(images.shape)}.")
        if resize and self.image_size and min(images.shape[-2:]) != self.image_size:
            h, w = images.shape[-2:]
            scale = self.image_size / min(h, w)
            images = torch.nn.functional.interpolate(images, size=(round(h * scale), round(w * scale)),
                                                     mode="bilinear", align_corners=False, antialias=True)
        return (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalise(images))

    def layer_names(self) -> list[str]:
        """Every addressable layer: each named module (blocks such as ResNet's ``layer3`` included), in order."""
        return [name for name, _ in self.model.named_modules() if name]

    def leaf_layers(self) -> list[str]:
        """The modules that compute (no children), in order of definition."""
        return [name for name, m in self.model.named_modules() if name and not list(m.children())]

    def check_layers(self, layers: Sequence[str], config_key: str) -> None:
        known = set(self.layer_names())
        missing = [layer for layer in layers if layer not in known]
        if missing:
            table = ", ".join(f"{row['layer']} ({row['alias']})" for row in layer_table(self))
            blocks = sorted(set(self.layer_names()) - set(self.leaf_layers()))
            raise ValueError(f"{config_key}: network {self.identity['name']!r} ({self.identity['arch']}) has no layer "
                             f"{', '.join(map(repr, missing))}. Its layers: {table}; blocks: {', '.join(blocks)}.")

    @torch.no_grad()
    def activations(self, images: np.ndarray, layers: Sequence[str], batch_size: int = 64,
                    progress: bool = True) -> dict[str, np.ndarray]:
        """Flattened activations (N × C·H·W, float32) of uint8 images (N × H × W × 3) at each named layer."""
        self.check_layers(layers, "layers")
        self.eval()
        modules = dict(self.model.named_modules())
        store: dict[str, torch.Tensor] = {}
        hooks = [modules[layer].register_forward_hook(
            # a copy: in-place ReLUs after a conv would otherwise overwrite the stored conv output
            lambda _m, _i, out, layer=layer: store.__setitem__(layer, out.detach().flatten(1).to(
                "cpu", torch.float32, copy=True)))
            for layer in layers]
        out: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
        device = self.mean.device
        try:
            for i in tqdm(range(0, len(images), batch_size), desc=f"activations ({self.identity['name']})",
                          disable=not progress, mininterval=10):
                x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])).to(device)
                self(x.permute(0, 3, 1, 2).float() / 255.0)
                for layer in layers:
                    out[layer].append(store[layer].numpy())
        finally:
            for h in hooks:
                h.remove()
        return {layer: np.concatenate(parts) for layer, parts in out.items()}


def layer_table(cnn: Cnn) -> list[dict[str, str]]:
    """Each layer with its type and, in a ``features`` conv stack, a VGG-style alias (conv3_3, pool3)."""
    rows, block, conv = [], 1, 0
    modules = dict(cnn.model.named_modules())
    for name in cnn.leaf_layers():
        m = modules[name]
        alias = ""
        if name.startswith("features."):
            if isinstance(m, torch.nn.Conv2d):
                conv += 1
                alias = f"conv{block}_{conv}"
            elif isinstance(m, torch.nn.ReLU):
                alias = f"relu{block}_{conv}"
            elif isinstance(m, torch.nn.BatchNorm2d):
                alias = f"bn{block}_{conv}"
            elif isinstance(m, torch.nn.MaxPool2d | torch.nn.AvgPool2d):
                alias = f"pool{block}"
                block, conv = block + 1, 0
        rows.append({"layer": name, "alias": alias or type(m).__name__, "type": type(m).__name__})
    return rows


def resolve_layer(cnn: Cnn, layer: str, config_key: str) -> str:
    """A layer given by module name or by alias (``pool3``) → its module name."""
    for row in layer_table(cnn):
        if layer in (row["layer"], row["alias"]):
            return row["layer"]
    cnn.check_layers([layer], config_key)  # raises with the list of layers
    return layer


def torchvision_weight_file(arch: str, weights: str, cache_dir: str | None = None,
                            config_key: str = "networks.<name>") -> Path:
    """Where torchvision keeps the weight file of ``arch`` / ``weights`` (a tag such as IMAGENET1K_V1)."""
    import torchvision

    if os.path.isfile(weights):
        return Path(weights)
    enum = torchvision.models.get_model_weights(arch)
    tags = [w.name for w in enum]
    if weights not in tags:
        raise ValueError(f"{config_key}.weights: {weights!r} is neither a file nor a weight tag of torchvision {arch} "
                         f"(tags: {tags}, or 'random' for an untrained network).")
    filename = os.path.basename(enum[weights].url)
    hub = Path(cache_dir) if cache_dir else Path(torch.hub.get_dir())
    path = hub / "checkpoints" / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"The weights of torchvision {arch} / {weights} are not in the local cache (looked for {path}). Nothing is "
            f"downloaded at run time: on a machine with internet run `python -c \"import torchvision; "
            f"torchvision.models.get_model('{arch}', weights='{weights}')\"` and copy {filename} to {path.parent}, "
            f"or set {config_key}.cache_dir to the torch hub folder that holds checkpoints/{filename}, "
            f"or {config_key}.weights to the file.")
    return path


def load_cnn(spec: CnnSpec, *, demo_weights: str | os.PathLike | None = None, device: str = "cpu",
             seed: int = 0) -> Cnn:
    """The network of ``spec`` (eval mode, on ``device``), its weights loaded strictly."""
    if spec.kind == "demo_cnn":
        if demo_weights is None or not os.path.isfile(demo_weights):
            raise FileNotFoundError(f"The demo CNN weights '{demo_weights}' do not exist; run the demo_cnn rule "
                                    f"(snakemake demo_cnn) first.")
        blob = torch.load(demo_weights, map_location="cpu", weights_only=True)
        model = DemoVGG(blob["width"], len(blob["classes"]), batch_norm=blob["batch_norm"], hidden=blob["hidden"])
        model.load_state_dict(blob["state_dict"], strict=True)
        identity = {"name": spec.name, "kind": spec.kind, "arch": spec.arch, "weights": "demo",
                    "weights_sha256": file_sha256(demo_weights), "classes": list(blob["classes"])}
        cnn = Cnn(model, None, IMAGENET_MEAN, IMAGENET_STD, identity)
        return cnn.to(device).eval()
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.get_model(spec.arch, weights=None)
    if spec.weights == "random":
        log.warning("network %s (%s) is untrained: random weights from seed %d (networks.%s.weights: random)",
                    spec.name, spec.arch, seed, spec.name)
        sha = f"random:{seed}"
    else:
        path = torchvision_weight_file(spec.arch, spec.weights, spec.cache_dir, config_key=f"networks.{spec.name}")
        log.info("loading torchvision %s weights from %s", spec.arch, path)
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(f"networks.{spec.name}: the weight file {path} does not fit torchvision {spec.arch} "
                             f"({err}). Check that the file belongs to this architecture.") from err
        sha = file_sha256(path)
    identity = {"name": spec.name, "kind": spec.kind, "arch": spec.arch, "weights": spec.weights,
                "weights_sha256": sha}
    # the ImageNet models' input scale: Resize(224) of the shorter side (as the triplet search used)
    return Cnn(model, 224, IMAGENET_MEAN, IMAGENET_STD, identity).to(device).eval()


def load_network(name: str, spec: Mapping[str, Any], *, demo_weights: str | os.PathLike | None = None,
                 device: str = "auto", seed: int = 0) -> Cnn:
    """The ``networks.<name>`` entry of the config, loaded on the configured device."""
    from cortexplorer.device import resolve

    return load_cnn(CnnSpec.from_config(name, spec), demo_weights=demo_weights, device=resolve(device), seed=seed)


def default_layers(cnn: Cnn) -> list[str]:
    """Layers a layer-by-layer comparison walks by default: each conv block's pooling output, then the
    classifier's hidden activations (VGG's fc6/fc7 ReLUs); for other architectures, the top-level blocks
    (ResNet's layer1-layer4)."""
    rows = layer_table(cnn)
    pools = [r["layer"] for r in rows if r["alias"].startswith("pool")]
    hidden = [r["layer"] for r in rows if r["layer"].startswith("classifier.") and r["type"] == "ReLU"]
    if pools:
        return pools + hidden
    return [name for name, m in cnn.model.named_children() if list(m.children())]
