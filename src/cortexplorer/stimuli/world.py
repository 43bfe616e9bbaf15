"""The procedural image world of the demo: six categories drawn from attributes, with captions.

Every image is fully described by a :class:`Scene` (category, kind, colour, size, position,
background, pose). :func:`render` draws a scene; :func:`caption` names every attribute of it, so
the captions are true by construction and a model trained on them can learn the world.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CATEGORIES = ("face", "place", "body", "food", "word", "object")

# RGB of each name (objects' colours, then backgrounds)
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (205, 40, 40), "orange": (238, 140, 30), "yellow": (232, 212, 48), "green": (50, 160, 64),
    "blue": (44, 92, 212), "purple": (132, 62, 172), "pink": (236, 132, 172), "brown": (122, 76, 40),
    "white": (240, 240, 236), "black": (28, 28, 30),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "grey": (128, 128, 128), "blue": (120, 160, 220), "green": (130, 190, 120), "beige": (220, 205, 170),
    "pink": (235, 190, 200), "dark": (40, 44, 52), "white": (236, 236, 232),
}
SKIES = ("blue", "grey", "dark", "white", "beige")  # backgrounds that read as a sky in places
BACKGROUND_STYLES = ("plain", "gradient", "speckled")
SIZES = {"small": 0.42, "medium": 0.6, "large": 0.8}
POSITIONS = {"left": 0.32, "centre": 0.5, "right": 0.68}
SKIN = ((241, 200, 170), (224, 172, 130), (190, 135, 95), (141, 95, 63), (98, 64, 42))

KINDS: dict[str, tuple[str, ...]] = {
    "face": ("face",),
    "place": ("house", "corridor", "mountains", "street"),
    "body": ("person",),
    "food": ("apple", "donut", "pizza", "cake", "burger", "banana"),
    "word": ("word",),
    "object": ("cup", "chair", "lamp", "car", "ball", "bottle"),
}
POSES: dict[str, tuple[str, ...]] = {
    "face": ("facing left", "facing forward", "facing right"),
    "place": ("seen from near", "seen from afar"),
    "body": ("with arms down", "with arms raised", "with arms outstretched", "walking"),
    "food": ("on a plate", "in a bowl", "on its own"),
    "word": ("upright", "tilted"),
    "object": ("upright", "tilted"),
}
# Colours a kind may take (food keeps its natural colours so captions stay plausible).
KIND_COLOURS: dict[str, tuple[str, ...]] = {
    "apple": ("red", "green", "yellow"),
    "donut": ("pink", "brown", "white", "yellow"),
    "pizza": ("red", "orange", "yellow"),
    "cake": ("pink", "brown", "white", "yellow", "purple"),
    "burger": ("brown", "orange"),
    "banana": ("yellow", "green", "brown"),
    "face": ("black", "brown", "yellow", "orange", "white", "red"),  # hair
}
SYLLABLES = ("ka", "lo", "mi", "ter", "po", "sun", "ba", "ri", "den", "tu", "vel", "no", "fa", "zo", "mar", "ki")


@dataclass(frozen=True)
class Scene:
    """Everything needed to draw (and caption) one image."""

    category: str
    kind: str
    colour: str
    size: str
    position: str
    background: str
    background_style: str
    pose: str
    word: str
    # continuous nuisance parameters, in [0, 1)
    jitter_x: float
    jitter_y: float
    tone: float
    detail_seed: int

    def as_row(self) -> dict:
        return asdict(self)


def _luminance(rgb: tuple[int, int, int]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _visible(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> bool:
    """Enough luminance contrast, or very different colours, to see ``fg`` on ``bg``."""
    return abs(_luminance(fg) - _luminance(bg)) > 40 or int(np.abs(np.subtract(fg, bg)).sum()) > 240


def sample_scene(rng: np.random.Generator, category: str) -> Scene:
    """Draw the attributes of one image of ``category``."""
    if category not in CATEGORIES:
        raise ValueError(f"Unknown category {category!r}; the demo world has {CATEGORIES}.")
    kind = str(rng.choice(KINDS[category]))
    colours = KIND_COLOURS.get(kind, tuple(COLOURS))
    colour = str(rng.choice(colours))
    # a background far enough from the object's colour that the object is visible
    options = SKIES if category == "place" else tuple(BACKGROUNDS)
    visible = [b for b in options if _visible(COLOURS[colour], BACKGROUNDS[b])]
    background = str(rng.choice(visible or options))
    word = ""
    if category == "word":
        word = "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4))))
    return Scene(
        category=category,
        kind=kind,
        colour=colour,
        size=str(rng.choice(tuple(SIZES))),
        position=str(rng.choice(tuple(POSITIONS))),
        background=background,
        background_style=str(rng.choice(BACKGROUND_STYLES)),
        pose=str(rng.choice(POSES[category])),
        word=word,
        jitter_x=float(rng.random()),
        jitter_y=float(rng.random()),
        tone=float(rng.random()),
        detail_seed=int(rng.integers(0, 2**31 - 1)),
    )


def caption(scene: Scene) -> str:
    """A template sentence that names the scene's content and attributes."""
    bg = f"{scene.background_style} {scene.background} background" if scene.background_style != "plain" else f"{scene.background} background"
    where = "in the centre" if scene.position == "centre" else f"on the {scene.position}"
    c, k, s = scene.colour, scene.kind, scene.size
    if scene.category == "face":
        return f"a {s} face with {c} hair, {scene.pose}, {where}, on a {bg}"
    if scene.category == "body":
        return f"a {s} person in a {c} shirt, {scene.pose}, {where}, on a {bg}"
    if scene.category == "food":
        return f"a {s} {c} {k} {scene.pose}, {where}, on a {bg}"
    if scene.category == "word":
        return f"the word '{scene.word}' in {s} {c} letters, {scene.pose}, {where}, on a {bg}"
    if scene.category == "object":
        return f"a {s} {c} {k}, {scene.pose}, {where}, on a {bg}"
    sky = {"dark": "night", "white": "white", "grey": "grey", "beige": "hazy"}.get(scene.background, scene.background)
    a = "an" if c[0] in "aeiou" else "a"
    what = {"house": f"{a} {c} house", "corridor": f"a corridor with {c} walls",
            "mountains": f"{c} mountains", "street": f"a street of {c} buildings"}[k]
    return f"{what} under a {sky} sky, {scene.pose}, {where}"


# --------------------------------------------------------------------------------------------
# Drawing. Everything is drawn at ``SUPERSAMPLE``× resolution and box-filtered down, which
# anti-aliases edges without a dependency on a vector renderer.
SUPERSAMPLE = 2


def _jittered(rgb: tuple[int, int, int], rng: np.random.Generator, amount: int = 14) -> tuple[int, int, int]:
    return tuple(int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in rgb)  # type: ignore[return-value]


def _background(scene: Scene, side: int, rng: np.random.Generator) -> Image.Image:
    base = np.array(_jittered(BACKGROUNDS[scene.background], rng), dtype=np.float32)
    img = np.broadcast_to(base, (side, side, 3)).copy()
    if scene.background_style == "gradient":
        ramp = np.linspace(-40, 40, side, dtype=np.float32)
        img += ramp[:, None, None] if rng.random() < 0.5 else ramp[None, :, None]
    elif scene.background_style == "speckled":
        cell = max(2, side // 16)
        noise = rng.normal(0, 22, size=(side // cell + 1, side // cell + 1, 1)).astype(np.float32)
        img += np.kron(noise, np.ones((cell, cell, 1), dtype=np.float32))[:side, :side]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _frame(scene: Scene, side: int) -> tuple[float, float, float]:
    """Centre x, centre y and extent (pixels) of the main object."""
    extent = SIZES[scene.size] * side
    cx = (POSITIONS[scene.position] + 0.08 * (scene.jitter_x - 0.5)) * side
    cy = (0.5 + 0.16 * (scene.jitter_y - 0.5)) * side
    return cx, cy, extent


def _draw_face(d: ImageDraw.ImageDraw, scene: Scene, side: int, rng: np.random.Generator) -> None:
    cx, cy, e = _frame(scene, side)
    w, h = 0.72 * e, 0.92 * e
    skin = _jittered(SKIN[int(scene.tone * len(SKIN))], rng, 8)
    hair = _jittered(COLOURS[scene.colour], rng)
    turn = {"facing left": -1, "facing forward": 0, "facing right": 1}[scene.pose]
    d.ellipse([cx - 0.56 * w, cy - 0.58 * h, cx + 0.56 * w, cy + 0.2 * h], fill=hair)  # hair behind
    d.ellipse([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], fill=skin)
    d.chord([cx - 0.52 * w, cy - 0.6 * h, cx + 0.52 * w, cy - 0.05 * h], 180, 360, fill=hair)  # fringe
    ex = cx + turn * 0.12 * w
    for side_sign in (-1, 1):
        x = ex + side_sign * 0.2 * w * (1 - 0.25 * abs(turn) * (side_sign == -turn))
        d.ellipse([x - 0.1 * w, cy - 0.08 * h, x + 0.1 * w, cy + 0.04 * h], fill=(250, 250, 250))
        px = x + turn * 0.04 * w
        d.ellipse([px - 0.045 * w, cy - 0.06 * h, px + 0.045 * w, cy + 0.02 * h], fill=(30, 25, 20))
    nx = ex + turn * 0.1 * w
    d.polygon([(nx, cy + 0.02 * h), (nx - 0.06 * w, cy + 0.18 * h), (nx + 0.06 * w, cy + 0.18 * h)], fill=tuple(int(0.85 * v) for v in skin))
    d.arc([ex - 0.18 * w, cy + 0.14 * h, ex + 0.18 * w, cy + 0.32 * h], 20, 160, fill=(150, 40, 50), width=max(1, int(0.04 * w)))


def _draw_body(d: ImageDraw.ImageDraw, scene: Scene, side: int, rng: np.random.Generator) -> None:
    cx, cy, e = _frame(scene, side)
    shirt = _jittered(COLOURS[scene.colour], rng)
    skin = _jittered(SKIN[int(scene.tone * len(SKIN))], rng, 8)
    trousers = _jittered((40, 50, 90), rng)
    lw = max(2, int(0.09 * e))
    top, hip = cy - 0.32 * e, cy + 0.08 * e
    d.ellipse([cx - 0.07 * e, top - 0.16 * e, cx + 0.07 * e, top - 0.01 * e], fill=skin)  # small, featureless head
    d.rectangle([cx - 0.13 * e, top, cx + 0.13 * e, hip], fill=shirt)
    shoulder_y = top + 0.04 * e
    arms = {
        "with arms down": [(-0.2, 0.36), (0.2, 0.36)],
        "with arms raised": [(-0.24, -0.3), (0.24, -0.3)],
        "with arms outstretched": [(-0.42, 0.02), (0.42, 0.02)],
        "walking": [(-0.2, 0.3), (0.26, 0.24)],
    }[scene.pose]
    for dx, dy in arms:
        sx = cx + np.sign(dx) * 0.13 * e
        d.line([(sx, shoulder_y), (cx + dx * e, shoulder_y + dy * e)], fill=skin, width=lw)
    legs = [(-0.16, 0.45), (0.16, 0.45)] if scene.pose == "walking" else [(-0.07, 0.45), (0.07, 0.45)]
    for dx, dy in legs:
        d.line([(cx + np.sign(dx) * 0.06 * e, hip), (cx + dx * e, hip + dy * e - 0.08 * e)], fill=trousers, width=lw + 1)


def _draw_food(d: ImageDraw.ImageDraw, scene: Scene, side: int, rng: np.random.Generator) -> None:
    cx, cy, e = _frame(scene, side)
    col = _jittered(COLOURS[scene.colour], rng)
    if scene.pose == "on a plate":
        d.ellipse([cx - 0.5 * e, cy - 0.2 * e, cx + 0.5 * e, cy + 0.42 * e], fill=(245, 245, 245), outline=(200, 200, 200))
    elif scene.pose == "in a bowl":
        d.chord([cx - 0.5 * e, cy - 0.35 * e, cx + 0.5 * e, cy + 0.45 * e], 0, 180, fill=_jittered((90, 140, 190), rng))
    r = 0.3 * e
    k = scene.kind
    if k == "apple":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col)
        d.line([(cx, cy - r), (cx + 0.1 * e, cy - 1.35 * r)], fill=(90, 60, 30), width=max(1, int(0.04 * e)))
        d.ellipse([cx + 0.05 * e, cy - 1.4 * r, cx + 0.2 * e, cy - 1.1 * r], fill=(60, 150, 60))
    elif k == "donut":
        d.ellipse([cx - r, cy - 0.8 * r, cx + r, cy + 0.8 * r], fill=(200, 150, 90))
        d.ellipse([cx - 0.9 * r, cy - 0.72 * r, cx + 0.9 * r, cy + 0.6 * r], fill=col)
        d.ellipse([cx - 0.3 * r, cy - 0.22 * r, cx + 0.3 * r, cy + 0.2 * r], fill=(235, 235, 235) if scene.pose == "on a plate" else BACKGROUNDS[scene.background])
        for _ in range(8):
            a, rr = rng.uniform(0, 2 * np.pi), rng.uniform(0.45, 0.8) * r
            x, y = cx + rr * np.cos(a), cy + 0.7 * rr * np.sin(a)
            d.line([(x, y), (x + 0.04 * e, y + 0.02 * e)], fill=tuple(int(v) for v in rng.integers(0, 255, 3)), width=max(1, int(0.025 * e)))
    elif k == "pizza":
        d.polygon([(cx - r, cy - 0.7 * r), (cx + r, cy - 0.7 * r), (cx, cy + 1.1 * r)], fill=(240, 200, 90))
        d.line([(cx - r, cy - 0.7 * r), (cx + r, cy - 0.7 * r)], fill=(170, 110, 50), width=max(2, int(0.07 * e)))
        for _ in range(4):
            x, y = cx + rng.uniform(-0.45, 0.45) * r, cy + rng.uniform(-0.45, 0.35) * r
            d.ellipse([x - 0.13 * r, y - 0.13 * r, x + 0.13 * r, y + 0.13 * r], fill=col)
    elif k == "cake":
        d.rectangle([cx - r, cy - 0.5 * r, cx + r, cy + 0.8 * r], fill=(225, 185, 130))
        d.rectangle([cx - r, cy - 0.75 * r, cx + r, cy - 0.3 * r], fill=col)
        d.rectangle([cx - r, cy + 0.1 * r, cx + r, cy + 0.25 * r], fill=col)
        d.ellipse([cx - 0.15 * r, cy - 1.05 * r, cx + 0.15 * r, cy - 0.75 * r], fill=(210, 30, 40))
    elif k == "burger":
        d.chord([cx - r, cy - 0.9 * r, cx + r, cy + 0.3 * r], 180, 360, fill=col)
        d.rectangle([cx - 1.05 * r, cy - 0.3 * r, cx + 1.05 * r, cy - 0.12 * r], fill=(70, 160, 60))
        d.rectangle([cx - r, cy - 0.12 * r, cx + r, cy + 0.15 * r], fill=(95, 55, 30))
        d.rectangle([cx - r, cy + 0.15 * r, cx + r, cy + 0.45 * r], fill=col)
    else:  # banana
        d.arc([cx - 1.2 * r, cy - 1.3 * r, cx + 1.2 * r, cy + 0.6 * r], 20, 160, fill=col, width=max(3, int(0.16 * e)))


def _draw_word(img: Image.Image, scene: Scene, side: int, rng: np.random.Generator) -> None:
    cx, cy, e = _frame(scene, side)
    text = scene.word
    layer = Image.new("L", (side, side), 0)
    ld = ImageDraw.Draw(layer)
    size = 64
    left, top, right, bottom = ld.textbbox((0, 0), text, font=ImageFont.load_default(size=size))
    # scale the font so the word spans the scene's extent (and never leaves the image)
    size = max(6, int(size * min(1.1 * e, 0.95 * side - 2 * abs(cx - side / 2)) / max(right - left, 1)))
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = ld.textbbox((0, 0), text, font=font)
    ld.text((cx - (right + left) / 2, cy - (bottom + top) / 2), text, font=font, fill=255)
    if scene.pose == "tilted":
        layer = layer.rotate(float(rng.choice([-1, 1]) * rng.uniform(15, 30)), center=(cx, cy), resample=Image.BILINEAR)
    img.paste(Image.new("RGB", (side, side), _jittered(COLOURS[scene.colour], rng)), mask=layer)


def _draw_object(img: Image.Image, scene: Scene, side: int, rng: np.random.Generator) -> None:
    cx, cy, e = _frame(scene, side)
    col = _jittered(COLOURS[scene.colour], rng)
    dark = tuple(int(0.55 * v) for v in col)
    layer = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    r, lw = 0.3 * e, max(2, int(0.06 * e))
    k = scene.kind
    if k == "cup":
        d.rectangle([cx - 0.7 * r, cy - r, cx + 0.7 * r, cy + r], fill=col)
        d.arc([cx + 0.4 * r, cy - 0.5 * r, cx + 1.2 * r, cy + 0.5 * r], 270, 90, fill=col, width=lw)
    elif k == "chair":
        d.rectangle([cx - 0.8 * r, cy - 1.5 * r, cx - 0.55 * r, cy + 0.2 * r], fill=col)
        d.rectangle([cx - 0.8 * r, cy, cx + 0.8 * r, cy + 0.25 * r], fill=col)
        for x in (cx - 0.75 * r, cx + 0.7 * r):
            d.line([(x, cy + 0.25 * r), (x, cy + 1.3 * r)], fill=dark, width=lw)
    elif k == "lamp":
        d.polygon([(cx - 0.4 * r, cy - 1.3 * r), (cx + 0.4 * r, cy - 1.3 * r), (cx + 0.8 * r, cy - 0.5 * r), (cx - 0.8 * r, cy - 0.5 * r)], fill=col)
        d.line([(cx, cy - 0.5 * r), (cx, cy + 1.1 * r)], fill=(60, 60, 60), width=lw)
        d.rectangle([cx - 0.5 * r, cy + 1.1 * r, cx + 0.5 * r, cy + 1.3 * r], fill=dark)
    elif k == "car":
        d.rectangle([cx - 1.4 * r, cy - 0.2 * r, cx + 1.4 * r, cy + 0.5 * r], fill=col)
        d.polygon([(cx - 0.8 * r, cy - 0.2 * r), (cx - 0.5 * r, cy - 0.75 * r), (cx + 0.5 * r, cy - 0.75 * r), (cx + 0.8 * r, cy - 0.2 * r)], fill=dark)
        for x in (cx - 0.85 * r, cx + 0.85 * r):
            d.ellipse([x - 0.35 * r, cy + 0.25 * r, x + 0.35 * r, cy + 0.95 * r], fill=(25, 25, 25))
    elif k == "ball":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col)
        d.arc([cx - 1.6 * r, cy - r, cx + 0.4 * r, cy + r], 300, 60, fill=dark, width=max(1, lw // 2))
        d.arc([cx - 0.4 * r, cy - r, cx + 1.6 * r, cy + r], 120, 240, fill=dark, width=max(1, lw // 2))
    else:  # bottle
        d.rectangle([cx - 0.45 * r, cy - 0.4 * r, cx + 0.45 * r, cy + 1.3 * r], fill=col)
        d.polygon([(cx - 0.45 * r, cy - 0.4 * r), (cx - 0.15 * r, cy - 1.0 * r), (cx + 0.15 * r, cy - 1.0 * r), (cx + 0.45 * r, cy - 0.4 * r)], fill=col)
        d.rectangle([cx - 0.15 * r, cy - 1.4 * r, cx + 0.15 * r, cy - 1.0 * r], fill=dark)
    if scene.pose == "tilted":
        layer = layer.rotate(float(rng.choice([-1, 1]) * rng.uniform(20, 40)), center=(cx, cy), resample=Image.BILINEAR)
    img.paste(layer, mask=layer)


def _draw_place(img: Image.Image, scene: Scene, side: int, rng: np.random.Generator) -> None:
    d = ImageDraw.Draw(img)
    col = _jittered(COLOURS[scene.colour], rng)
    dark = tuple(int(0.6 * v) for v in col)
    near = scene.pose == "seen from near"
    horizon = side * (0.55 + 0.1 * (scene.jitter_y - 0.5))
    ground = _jittered((110, 150, 80) if scene.kind in ("house", "mountains") else (120, 120, 125), rng)
    k = scene.kind
    if k == "corridor":
        vx = side * (POSITIONS[scene.position] + 0.1 * (scene.jitter_x - 0.5))
        vy, w = side * 0.48, side * (0.14 if near else 0.07)
        d.polygon([(0, 0), (vx - w, vy - w), (vx - w, vy + w), (0, side)], fill=col)
        d.polygon([(side, 0), (vx + w, vy - w), (vx + w, vy + w), (side, side)], fill=dark)
        d.polygon([(0, side), (vx - w, vy + w), (vx + w, vy + w), (side, side)], fill=ground)
        d.polygon([(0, 0), (vx - w, vy - w), (vx + w, vy - w), (side, 0)], fill=_jittered((225, 225, 220), rng))
        d.rectangle([vx - w, vy - w, vx + w, vy + w], fill=_jittered(BACKGROUNDS[scene.background], rng))
        return
    d.rectangle([0, horizon, side, side], fill=ground)
    if k == "mountains":
        n = 2 if near else 4
        for i in range(n):
            x = side * (i + rng.uniform(0.2, 0.8)) / n
            hgt = side * rng.uniform(0.25, 0.45) * (1.3 if near else 1.0)
            half = side * (0.35 if near else 0.22)
            d.polygon([(x - half, horizon), (x, horizon - hgt), (x + half, horizon)], fill=col if i % 2 == 0 else dark)
            d.polygon([(x - 0.25 * half, horizon - 0.75 * hgt), (x, horizon - hgt), (x + 0.25 * half, horizon - 0.75 * hgt)], fill=(245, 245, 250))
        return
    if k == "house":
        cx = side * (POSITIONS[scene.position] + 0.08 * (scene.jitter_x - 0.5))
        w = side * (0.6 if near else 0.32)
        h = w * 0.7
        base = horizon + (0.25 if near else 0.1) * side
        d.rectangle([cx - w / 2, base - h, cx + w / 2, base], fill=col)
        d.polygon([(cx - 0.6 * w, base - h), (cx, base - h - 0.5 * h), (cx + 0.6 * w, base - h)], fill=_jittered((150, 50, 40), rng))
        d.rectangle([cx - 0.1 * w, base - 0.45 * h, cx + 0.1 * w, base], fill=dark)
        for x in (cx - 0.3 * w, cx + 0.3 * w):
            d.rectangle([x - 0.09 * w, base - 0.75 * h, x + 0.09 * w, base - 0.5 * h], fill=(200, 225, 245))
        return
    # street: a row of buildings with windows
    n = 3 if near else 5
    width = side / n
    for i in range(n):
        h = side * rng.uniform(0.3, 0.55) * (1.2 if near else 1.0)
        x0 = i * width
        fill = col if i % 2 == 0 else dark
        d.rectangle([x0 + 1, horizon - h, x0 + width - 1, horizon + 0.05 * side], fill=fill)
        step = max(3.0, width / 3)
        for wx in np.arange(x0 + step / 2, x0 + width - step / 2, step):
            for wy in np.arange(horizon - h + step / 2, horizon - step / 2, step):
                d.rectangle([wx - step / 5, wy - step / 5, wx + step / 5, wy + step / 5], fill=(230, 220, 150))


def render(scene: Scene, image_size: int) -> np.ndarray:
    """Draw ``scene`` as a uint8 image of shape (image_size, image_size, 3)."""
    side = image_size * SUPERSAMPLE
    rng = np.random.default_rng(scene.detail_seed)
    img = _background(scene, side, rng)
    d = ImageDraw.Draw(img)
    if scene.category == "face":
        _draw_face(d, scene, side, rng)
    elif scene.category == "body":
        _draw_body(d, scene, side, rng)
    elif scene.category == "food":
        _draw_food(d, scene, side, rng)
    elif scene.category == "word":
        _draw_word(img, scene, side, rng)
    elif scene.category == "object":
        _draw_object(img, scene, side, rng)
    else:
        _draw_place(img, scene, side, rng)
    img = img.resize((image_size, image_size), Image.BOX)
    return np.asarray(img, dtype=np.uint8)
