"""eccNET and IVSN: top-down attention maps from a VGG16-shaped network (the search loop they run is in .search).

eccNET (Gupta et al. 2021; kreimanlab/VisualSearchAsymmetry ``vs_model``), per fixation:

1. crop a retina window centred on the fixation from the display padded by ``eye_res + corner_bias``
   with the background (``eye_res`` = display height), so the whole display is always in view;
2. run the search branch: the network's conv stack with its pooling layers replaced by
   :class:`CentreDependentPooling` (average pools whose size grows with distance from the window
   centre), keeping relu3_3, relu4_3, relu5_3 and bringing them to stride 16 with uniform 2×2
   average pools;
3. correlate each with the target's features at the same layer after **one more** pooling
   (the target branch: target relu3_3/4_3/5_3 pooled to stride 32), used as a conv kernel;
4. combine the min–max-normalised maps with weights ∝ each raw map's maximum, sharpen 3× with a
   difference of Gaussians, upsample to the window and read the display's part;
5. winner-take-all over the not-yet-visited grid cells.

IVSN (Zhang et al. 2018) is the single-layer baseline: the network's max pools, no eccentricity,
target pool5 (max) on search relu5_3. It runs through the same loop (window, DoG, IoR) as the
eccNET repository's IVSN run did.

Notes on this port:

- The TF "same" average pool excludes padding from the mean; it is computed as
  ``sum_pool(pad(x)) / sum_pool(pad(ones))`` with TensorFlow's asymmetric padding.
- The rings are drawn as discs ``d² < r²`` (``skimage.draw.disk``'s test) on the pooling's output
  grid, keeping the original's degree bookkeeping (``deg2px`` of the layer *input*), so the
  effective foveal radius is ≈4°.
- Gaussian blurs reproduce ``cv2.GaussianBlur`` (OpenCV's fixed 3/5/7-tap kernels when σ = 0,
  reflect-101 borders) with scipy; the map is upsampled bilinearly (the original used
  ``cv2.INTER_AREA``, which is bilinear-like when enlarging).
- Winner-take-all ties (equal maxima, as in planted maps) are broken at random from the search's
  seeded generator.
- Recognition is an oracle: the target is found when a ``recognition_px`` square around the
  fixation overlaps the target's grid cell. The original used 10 px at 30 px/deg; the default
  here is 1 px (the fixated pixel itself), so that with object-level IoR a fixation near a cell
  border does not "find" the target in the neighbouring cell.
- The WTA domain is the union of the grid cells (the original: the whole display), so the thin
  margin around the grid, which belongs to no cell and so cannot be inhibited, is never fixated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from cortexplorer.models.cnn import Cnn
from cortexplorer.visual_search.search import dog_sharpen

# eccParamDefault of vs_model/ecc_net.py, per pooling layer 1..5
RF_MIN = (2, 2, 2, 2, 2)
ECC_SLOPE = (0.0, 0.0, 3.5 * 0.02, 8 * 0.02, 16 * 0.02)
FOVEA_DEG = 4  # used as a diameter
RING_DEG = 1  # ring width (diameter units)
CORNER_BIAS_PX = 64  # at 30 px/deg
FIX_TO_RT = (252.359, 376.271)  # see metrics.fixations_to_rt


# ---------------------------------------------------------------- pooling

def _tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def tf_same_pool(x: torch.Tensor, kernel: int, stride: int = 2, kind: str = "avg") -> torch.Tensor:
    """TensorFlow ``padding='same'`` pooling: output ceil(in/stride); padded cells excluded from means and maxima."""
    top, bottom = _tf_same_padding(x.shape[-2], kernel, stride)
    left, right = _tf_same_padding(x.shape[-1], kernel, stride)
    if kind == "max":
        return F.max_pool2d(F.pad(x, (left, right, top, bottom), value=float("-inf")), kernel, stride)
    ones = torch.ones((1, 1, *x.shape[-2:]), dtype=x.dtype, device=x.device)
    summed = F.avg_pool2d(F.pad(x, (left, right, top, bottom)), kernel, stride)
    count = F.avg_pool2d(F.pad(ones, (left, right, top, bottom)), kernel, stride)
    return summed / count


def layer_deg2px(deg2px: float = 30.0) -> list[int]:
    """px/deg at the input of pooling layers 1..5 (Python's banker's rounding, as the original).

    At least 1: below 15 px/deg the deepest layers would round to 0 px/deg (no fovea, zero ring width).
    """
    return [max(1, round(deg2px / 2 ** i)) for i in range(5)]


def pool_rings(layer_input: int, layer: int, deg2px: float = 30.0) -> list[tuple[float, int]]:
    """Rings of pooling layer ``layer`` (1..5) for a square input of side ``layer_input``.

    Returns (outer radius on the output grid, pool size) from the fovea outwards; the last row, radius
    ``inf``, is the region beyond the last ring. A single row ``(inf, rf_min)`` means uniform pooling.
    """
    i = layer - 1
    d2p = layer_deg2px(deg2px)[i]
    n = int((layer_input + 1) / 2)
    r0 = round(FOVEA_DEG * d2p / 2)
    if r0 > n / 2:
        return [(float("inf"), RF_MIN[i])]
    step = max(1, round(RING_DEG * d2p / 2))
    size = lambda r: RF_MIN[i] + round(ECC_SLOPE[i] * (2 * r - FOVEA_DEG * d2p))  # noqa: E731
    rows: list[tuple[float, int]] = [(r0, RF_MIN[i])]
    r = r0 + step
    while r < n / 2:
        rows.append((r, size(r)))
        r += step
    rows.append((float("inf"), size(r)))
    return rows


def ring_table(input_size: int, layer: int, deg2px: float = 30.0) -> list[tuple[float, int]]:
    """:func:`pool_rings` of pooling layer ``layer`` when the network's input is ``input_size`` px square."""
    size = input_size
    for _ in range(layer - 1):
        size = int((size + 1) / 2)
    return pool_rings(size, layer, deg2px)


class CentreDependentPooling(torch.nn.Module):
    """Average pooling (stride 2) whose size grows with eccentricity from the map centre (eccNET's pool l)."""

    def __init__(self, layer: int, deg2px: float = 30.0):
        super().__init__()
        self.layer, self.deg2px = layer, deg2px
        self._masks: dict[int, list[tuple[int, torch.Tensor]]] = {}

    def masks(self, side: int) -> list[tuple[int, torch.Tensor]]:
        """(pool size, output-grid mask) pairs; rings of equal size are merged (the same sum, fewer pools)."""
        if side not in self._masks:
            rows = pool_rings(side, self.layer, self.deg2px)
            n = int((side + 1) / 2)
            c = int(n / 2)
            yy, xx = np.mgrid[0:n, 0:n]
            d2 = (yy - c) ** 2 + (xx - c) ** 2
            inner = np.zeros((n, n), bool)
            by_size: dict[int, np.ndarray] = {}
            for radius, size in rows:
                disc = d2 < radius ** 2 if np.isfinite(radius) else np.ones((n, n), bool)
                by_size[size] = by_size.get(size, np.zeros((n, n), bool)) | (disc & ~inner)
                inner |= disc
            self._masks[side] = [(s, torch.from_numpy(m.astype(np.float32))) for s, m in by_size.items()]
        return self._masks[side]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        base = max(h, w)
        if h != w:  # zero-pad to a square, the extra pixel bottom/right
            x = F.pad(x, ((base - w) // 2, base - w - (base - w) // 2, (base - h) // 2, base - h - (base - h) // 2))
        masks = self.masks(base)
        if len(masks) == 1:
            return tf_same_pool(x, masks[0][0])
        return sum(m.to(x) * tf_same_pool(x, size) for size, m in masks)


# ---------------------------------------------------------------- the network's conv stack with chosen pools

def _is_pool(m: torch.nn.Module) -> bool:
    return isinstance(m, torch.nn.MaxPool2d | torch.nn.AvgPool2d)


def pre_pool_activations(cnn: Cnn, images: np.ndarray, pools: Sequence[Callable], last: int = 5) -> list[torch.Tensor]:
    """Activations entering pooling layers 1..``last`` (relu1_2 … relu5_3) of uint8 N×H×W×3 images."""
    x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 255.0
    x = cnn.normalise(x.to(cnn.mean.device), resize=False)
    out: list[torch.Tensor] = []
    for m in cnn.model.features:
        if _is_pool(m):
            out.append(x)
            if len(out) == last:
                break
            x = pools[len(out) - 1](x)
        else:
            x = m(x)
    if len(out) != last:
        raise ValueError(f"network {cnn.identity.get('name')!r} has {len(out)} pooling layers in .features; "
                         f"visual search needs VGG16's 5.")
    return out


def _same_correlation(maps: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Cross-correlation with a 1-output kernel, TF 'same' padding (the extra row/column bottom/right)."""
    kh, kw = kernel.shape[-2:]
    pad = ((kw - 1) // 2, kw - 1 - (kw - 1) // 2, (kh - 1) // 2, kh - 1 - (kh - 1) // 2)
    return F.conv2d(F.pad(maps, pad), kernel)[0, 0]


def _minmax(a: torch.Tensor) -> torch.Tensor:
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else torch.zeros_like(a)


# ---------------------------------------------------------------- the models

@dataclass
class TopDownSearchModel:
    """A target-modulated attention model: ``set_target(target)``, then ``attention_map(display, fixation)``.

    ``pooling`` = "eccentric" (eccNET) or "max" (IVSN); ``layers`` ⊆ (3, 4, 5) = relu3_3, relu4_3, relu5_3.
    ``deg2px`` is the displays' px/deg (30 at scale 1); it sets the ring sizes and the corner bias.
    """

    cnn: Cnn
    pooling: str = "eccentric"
    layers: tuple[int, ...] = (3, 4, 5)
    deg2px: float = 30.0
    background: int = 0
    dog: Sequence[Sequence[float]] = ((3, 1), (5, 3))
    _kernels: dict[int, torch.Tensor] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.pooling not in ("eccentric", "max"):
            raise ValueError(f"pooling must be 'eccentric' (eccNET) or 'max' (IVSN), not {self.pooling!r}.")
        if not set(self.layers) <= {3, 4, 5} or not self.layers:
            raise ValueError(f"layers must be a non-empty subset of (3, 4, 5), not {self.layers}.")
        if self.pooling == "eccentric":
            self._search_pools = [CentreDependentPooling(layer, self.deg2px) for layer in range(1, 6)]
            self._uniform = lambda x: tf_same_pool(x, 2, kind="avg")
        else:
            self._search_pools = [lambda x: tf_same_pool(x, 2, kind="max")] * 5
            self._uniform = self._search_pools[0]

    @property
    def corner_bias(self) -> int:
        return round(CORNER_BIAS_PX * self.deg2px / 30)

    @torch.no_grad()
    def target_kernels(self, target: np.ndarray) -> dict[int, torch.Tensor]:
        """Target features one pooling beyond the search branch's stride-16 maps (stride 32), per layer."""
        # the target is small, so its eccentric pools reduce to uniform rf_min pools
        pre = pre_pool_activations(self.cnn, target[None], [self._uniform] * 5)
        kernels = {}
        for layer in self.layers:
            x = pre[layer - 1]
            for _ in range(6 - layer):
                x = self._uniform(x)
            kernels[layer] = x
        return kernels

    def set_target(self, target: np.ndarray) -> None:
        self._kernels = self.target_kernels(target)

    def window(self, display: np.ndarray, fixation: tuple[int, int]) -> tuple[np.ndarray, int]:
        """The retina window centred on ``fixation`` and the padding ``eye_res + corner_bias`` (= half its side)."""
        pad = display.shape[0] + self.corner_bias
        padded = np.pad(display, ((pad, pad), (pad, pad), (0, 0)), constant_values=self.background)
        fy, fx = fixation
        return padded[fy:fy + 2 * pad, fx:fx + 2 * pad], pad

    def attention_map(self, display: np.ndarray, fixation: tuple[int, int]) -> np.ndarray:
        """The top-down map over the display (H × W float) with the eye at ``fixation`` (row, col)."""
        if not self._kernels:
            raise RuntimeError("call set_target(target) before attention_map().")
        return self.attention_maps([display], [fixation], [self._kernels])[0]

    @torch.no_grad()
    def attention_maps(self, displays: Sequence[np.ndarray], fixations: Sequence[tuple[int, int]],
                       kernels: Sequence[dict[int, torch.Tensor]]) -> list[np.ndarray]:
        """:meth:`attention_map` of several (display, fixation, target kernels) at once (one batched forward)."""
        windows = [self.window(d, f) for d, f in zip(displays, fixations, strict=True)]
        pad = windows[0][1]
        pre = pre_pool_activations(self.cnn, np.stack([w for w, _ in windows]), self._search_pools)
        search_maps = {}
        for layer in self.layers:
            x = pre[layer - 1]
            for _ in range(5 - layer):  # to stride 16
                x = self._uniform(x)
            search_maps[layer] = x
        out = []
        for b, ((fy, fx), kernel) in enumerate(zip(fixations, kernels, strict=True)):
            maps, weights = [], []
            for layer in self.layers:
                a = _same_correlation(search_maps[layer][b:b + 1], kernel[layer])
                weights.append(float(a.max()))
                maps.append(_minmax(a))
            w = np.maximum(np.asarray(weights), 0)
            w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))
            combined = sum(wi * m for wi, m in zip(w, maps, strict=True)).cpu().numpy().astype(np.float64)
            combined = dog_sharpen(combined, self.dog)
            up = F.interpolate(torch.from_numpy(combined)[None, None], size=windows[b][0].shape[:2], mode="bilinear",
                               align_corners=False)[0, 0].numpy()
            up -= up.min()
            h, w_ = displays[b].shape[:2]
            out.append(up[pad - fy:pad - fy + h, pad - fx:pad - fx + w_])
        return out


def eccnet(cnn: Cnn, *, deg2px: float = 30.0, background: int = 0, dog=((3, 1), (5, 3))) -> TopDownSearchModel:
    return TopDownSearchModel(cnn, "eccentric", (3, 4, 5), deg2px, background, dog)


def ivsn(cnn: Cnn, *, deg2px: float = 30.0, background: int = 0, dog=((3, 1), (5, 3))) -> TopDownSearchModel:
    return TopDownSearchModel(cnn, "max", (5,), deg2px, background, dog)
