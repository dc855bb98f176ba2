"""Procedural wallpapers/posters for training and scoring the demo model (numpy + Pillow, any size).

`render_sample(seed, index, width, height)` draws one labelled sample deterministically: a pattern
(solid, gradient, sunset, bands, vertical/diagonal stripes, circle, dots, waves, mountains, grid,
checkerboard) in a main colour plus an accent colour, placed by a layout (full, center, left,
right, top, bottom), with one of many caption phrasings. The main colour always covers the largest
area of the picture (the background or sky). Some colour x pattern x layout combinations are held
out of training (`is_held_out`) so the eval measures composition, not memory.

The scorers live in model/demo/scoring.py.

May import: numpy, Pillow. Never torch, Qt, app/ or ui/.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

# ---------------------------------------------------------------- palette

_BASE_RGB: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]] = {
    # family: (light, normal, dark)
    "red": ((240, 120, 110), (215, 35, 35), (125, 15, 20)),
    "orange": ((250, 190, 120), (245, 130, 20), (185, 80, 10)),
    "yellow": ((250, 240, 150), (245, 215, 40), (175, 150, 15)),
    "green": ((145, 215, 130), (40, 160, 60), (20, 85, 35)),
    "teal": ((115, 210, 200), (20, 140, 140), (10, 75, 80)),
    "blue": ((125, 170, 240), (35, 80, 210), (15, 30, 110)),
    "purple": ((190, 145, 225), (125, 50, 175), (65, 20, 100)),
    "pink": ((250, 195, 220), (240, 100, 170), (180, 35, 110)),
    "brown": ((190, 145, 100), (135, 85, 40), (80, 45, 20)),
    "grey": ((195, 195, 195), (128, 128, 128), (65, 65, 65)),
}
PALETTE: dict[str, tuple[int, int, int]] = {}
for _family, (_light, _normal, _dark) in _BASE_RGB.items():
    PALETTE[f"light {_family}"] = _light
    PALETTE[_family] = _normal
    PALETTE[f"dark {_family}"] = _dark
PALETTE["black"] = (15, 15, 18)
PALETTE["white"] = (246, 246, 242)

FAMILIES: tuple[str, ...] = (*_BASE_RGB, "black", "white")
COLOURS: tuple[str, ...] = tuple(PALETTE)

PATTERNS: tuple[str, ...] = (
    "solid",
    "gradient",
    "sunset",
    "bands",
    "vertical_stripes",
    "diagonal_stripes",
    "circle",
    "dots",
    "waves",
    "mountains",
    "grid",
    "checkerboard",
)
LAYOUTS: tuple[str, ...] = ("full", "center", "left", "right", "top", "bottom")
PATTERN_LAYOUTS: dict[str, tuple[str, ...]] = {
    "solid": ("full",),
    "gradient": ("full",),
    "sunset": ("center", "left", "right"),  # where the sun sits
    "bands": ("full", "top", "bottom"),
    "vertical_stripes": ("full", "center", "left", "right"),
    "diagonal_stripes": ("full", "center", "left", "right", "top", "bottom"),
    "circle": ("center", "left", "right", "top", "bottom"),
    "dots": ("full", "center", "left", "right", "top", "bottom"),
    "waves": ("full", "top", "bottom"),
    "mountains": ("full",),
    "grid": ("full", "center", "left", "right"),
    "checkerboard": ("full", "center", "left", "right", "top", "bottom"),
}
HELD_OUT_MOD = 7  # about 1 in 7 colour x pattern x layout combinations never appear in training


def family(colour: str) -> str:
    """'light blue' -> 'blue'; 'black' -> 'black'."""
    return colour.split(" ")[-1]


def is_held_out(labels: dict) -> bool:
    """True for the (main colour family, pattern, layout) combinations kept out of training."""
    key = f"{family(labels['main_colour'])}|{labels['pattern']}|{labels['layout']}"
    return zlib.crc32(key.encode()) % HELD_OUT_MOD == 0


# ---------------------------------------------------------------- captions

_NOUN = ["wallpaper", "background", "poster", "design", "image", "print"]
_PREFIX = ["", "", "", "poster: ", "wallpaper: ", "minimal ", "flat ", "4k wallpaper, ", "simple "]
_WHERE = {
    "center": ["in the center", "in the middle", "centered"],
    "left": ["on the left", "at the left side", "on the left side"],
    "right": ["on the right", "at the right side", "on the right side"],
    "top": ["at the top", "along the top", "in the upper half"],
    "bottom": ["at the bottom", "along the bottom", "in the lower half"],
}
_THING = {
    "bands": ["horizontal bands", "bands", "horizontal stripes"],
    "vertical_stripes": ["vertical stripes", "vertical lines", "upright stripes"],
    "diagonal_stripes": ["diagonal stripes", "slanted stripes", "diagonal lines"],
    "circle": ["circle", "disc", "round circle", "big circle"],
    "dots": ["dots", "polka dots", "small circles", "spots"],
    "waves": ["waves", "wavy lines", "wavy bands"],
    "mountains": ["mountains", "mountain range", "mountain silhouettes", "peaks"],
    "grid": ["grid", "grid lines", "lattice"],
    "checkerboard": ["checkerboard", "checkered squares", "chessboard pattern"],
}


def colour_words(colour: str, rng: np.random.Generator) -> str:
    """A colour name with synonyms: grey/gray, light/pale/pastel, dark/deep."""
    words = colour.replace("grey", str(rng.choice(["grey", "gray"])))
    if words.startswith("light "):
        words = str(rng.choice(["light", "pale", "pastel"])) + words[5:]
    elif words.startswith("dark "):
        words = str(rng.choice(["dark", "deep"])) + words[4:]
    return words


def _article(word: str) -> str:
    """'a' or 'an' for the word."""
    return "an" if word[0] in "aeiou" else "a"


def make_caption(labels: dict, rng: np.random.Generator) -> str:
    """One of many phrasings of the labels (templates, synonyms, word orders)."""
    pattern, layout = labels["pattern"], labels["layout"]
    main = colour_words(labels["main_colour"], rng)
    accent = colour_words(labels["accent_colour"], rng) if labels.get("accent_colour") else ""
    noun = str(rng.choice(_NOUN))
    a_main = f"{_article(main)} {main}"
    if pattern == "solid":
        options = [
            f"{a_main} {noun}",
            f"plain {main} {noun}",
            f"solid {main}",
            f"a plain {main} {noun}",
            f"{main}",
            f"an empty {main} {noun}",
            f"{noun} in solid {main}",
        ]
    elif pattern == "gradient":
        options = [
            f"a gradient from {main} to {accent}",
            f"{main} to {accent} gradient {noun}",
            f"{main} fading into {accent}",
            f"{a_main} {noun} with a soft {accent} gradient",
            f"smooth gradient, {main} and {accent}",
        ]
    elif pattern == "sunset":
        where = str(rng.choice(_WHERE[layout]))
        options = [
            f"sunset in {main} and {accent}",
            f"{a_main} and {accent} sunset",
            f"sunset over the sea, {main} sky, {accent} sun {where}",
            f"{main} sky with {_article(accent)} {accent} setting sun {where}",
            f"{accent} sun {where} setting in {a_main} sky",
        ]
    else:
        options = _shape_options(pattern, layout, main, accent, noun, rng)
    caption = str(rng.choice(options))
    prefix = str(rng.choice(_PREFIX))
    if prefix in ("minimal ", "flat ", "simple ") and caption.startswith(("a ", "an ")):
        caption = caption.split(" ", 1)[1]  # "minimal blue poster", not "minimal a blue poster"
    return (prefix + caption).strip()


def _shape_options(pattern: str, layout: str, main: str, accent: str, noun: str, rng: np.random.Generator) -> list[str]:
    """Caption phrasings of the shape patterns (an accent shape on a main-colour background)."""
    a_main = f"{_article(main)} {main}"
    thing = raw = str(rng.choice(_THING[pattern]))
    if pattern == "circle":
        raw = f"{_article(raw)} {raw}"
        thing = f"{accent} {thing}"
        things = f"{_article(thing)} {thing}"
    else:
        things = f"{accent} {thing}"
    where = "" if layout == "full" else " " + str(rng.choice(_WHERE[layout]))
    if pattern == "mountains":
        return [
            f"{things} under {a_main} sky",
            f"{a_main} sky over {things}",
            f"{things} against {a_main} sky",
            f"{a_main} {noun} with {things}",
        ]
    return [
        f"{a_main} {noun} with {things}{where}",
        f"{things}{where} on {main}",
        f"{things}{where} on {a_main} background",
        f"{main} background, {things}{where}",
        f"{raw} in {accent}{where} over {a_main} {noun}",
        f"{main} {noun}, {things}{where}",
    ]


_SHADE_WORDS = frozenset({"light", "pale", "pastel", "dark", "deep"})


def colour_word_tags(caption: str, labels: dict) -> tuple[list[int], list[int]]:
    """Per character of an ASCII caption: role (0 other, 1 main colour, 2 accent) and family (0 none, 1 + FAMILIES index).

    Shade words ("pale", "deep", ...) take the tags of the colour word after them. Main and accent
    colours never share a family (`_too_close`), so the family decides the role (two-tone samples,
    `draw_labels(two_tone=...)`, tag both as main: they are for DiT stages, not the text stage).
    """
    role = [0] * len(caption)
    fam = [0] * len(caption)
    main = family(labels["main_colour"])
    spans, pos = [], 0
    for word in caption.split(" "):
        spans.append((pos, pos + len(word), word.strip(",.:;").replace("gray", "grey")))
        pos += len(word) + 1
    for k, (start, end, word) in enumerate(spans):
        colour = word if word in FAMILIES else None
        if colour is None and word in _SHADE_WORDS and k + 1 < len(spans) and spans[k + 1][2] in FAMILIES:
            colour = spans[k + 1][2]
        if colour is None:
            continue
        for i in range(start, end):
            role[i] = 1 if colour == main else 2
            fam[i] = FAMILIES.index(colour) + 1
    return role, fam


# ---------------------------------------------------------------- rendering


def _coverage(sd: np.ndarray) -> np.ndarray:
    """Signed distance in pixels (negative inside) -> antialiased coverage 0..1."""
    return np.clip(0.5 - sd, 0.0, 1.0)


def _region(layout: str, xx: np.ndarray, yy: np.ndarray, w: int, h: int) -> np.ndarray:
    """Soft mask (broadcastable to (H, W)) of the part of the picture a placed pattern occupies."""
    if layout == "full":
        return np.ones((1, 1), np.float32)
    if layout == "left":
        return _coverage(xx - 0.45 * w)
    if layout == "right":
        return _coverage(0.55 * w - xx)
    if layout == "top":
        return _coverage(yy - 0.45 * h)
    if layout == "bottom":
        return _coverage(0.55 * h - yy)
    # center: a box of half the width and height
    dx = np.abs(xx - 0.5 * w) - 0.25 * w
    dy = np.abs(yy - 0.5 * h) - 0.25 * h
    return _coverage(np.maximum(dx, dy))


_ANCHOR = {
    "center": (0.5, 0.5),
    "left": (0.25, 0.5),
    "right": (0.75, 0.5),
    "top": (0.5, 0.27),
    "bottom": (0.5, 0.73),
}


def _bands(xx, yy, w, h, s, rng, layout):
    n = int(rng.integers(3, 7))
    period = h / n
    phase = rng.uniform(0, period)
    return _coverage(np.abs(((yy + phase) % period) - period / 2) - 0.2 * period)  # accent 40% of a period


def _vertical_stripes(xx, yy, w, h, s, rng, layout):
    n = int(rng.integers(4, 10))
    period = w / n
    return _coverage(np.abs(((xx + rng.uniform(0, period)) % period) - period / 2) - 0.17 * period)


def _diagonal_stripes(xx, yy, w, h, s, rng, layout):
    period = s / rng.uniform(4, 9)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    t = (xx + sign * yy) / math.sqrt(2.0)
    return _coverage(np.abs(((t + rng.uniform(0, period)) % period) - period / 2) - 0.17 * period)


def _circle(xx, yy, w, h, s, rng, layout):
    cx, cy = _ANCHOR[layout]
    r = rng.uniform(0.17, 0.23) * s
    return _coverage(np.hypot(xx - cx * w, yy - cy * h) - r)


def _dots(xx, yy, w, h, s, rng, layout):
    period = s / rng.uniform(5, 9)
    ox, oy = rng.uniform(0, period, size=2)
    gx = (xx + ox) % period - period / 2
    gy = (yy + oy) % period - period / 2
    return _coverage(np.hypot(gx, gy) - rng.uniform(0.22, 0.3) * period)


def _waves(xx, yy, w, h, s, rng, layout):
    n = int(rng.integers(3, 6))
    period = h / n
    amp = rng.uniform(0.15, 0.3) * period
    freq = rng.uniform(1.5, 3.5) * 2 * math.pi / w
    yw = yy + amp * np.sin(xx * freq + rng.uniform(0, 2 * math.pi))
    return _coverage(np.abs((yw % period) - period / 2) - 0.18 * period)


def _mountains(xx, yy, w, h, s, rng, layout):
    ridge = np.full(w, 0.0, dtype=np.float32)
    x = np.arange(w, dtype=np.float32) + 0.5
    for _ in range(int(rng.integers(2, 5))):
        px = rng.uniform(-0.1, 1.1) * w
        ph = rng.uniform(0.42, 0.62) * h
        slope = rng.uniform(0.6, 1.3)
        ridge = np.maximum(ridge, ph - slope * np.abs(x - px) * h / w)
    top = h - np.maximum(ridge, 0.18 * h)  # (W,) y of the ridge line
    return _coverage(top[None, :] - yy)


def _grid(xx, yy, w, h, s, rng, layout):
    period = s / rng.uniform(4, 8)
    lw = rng.uniform(0.08, 0.12) * period
    ox, oy = rng.uniform(0, period, size=2)
    dx = np.abs(((xx + ox) % period) - period / 2)
    dy = np.abs(((yy + oy) % period) - period / 2)
    return np.maximum(_coverage(period / 2 - lw / 2 - dx), _coverage(period / 2 - lw / 2 - dy))


def _checkerboard(xx, yy, w, h, s, rng, layout):
    period = s / rng.uniform(3, 6)
    ox, oy = rng.uniform(0, period, size=2)
    cx = np.floor((xx + ox) / period)
    cy = np.floor((yy + oy) / period)
    odd = (cx + cy) % 2 == 1
    dx = np.abs(((xx + ox) % period) - period / 2)
    dy = np.abs(((yy + oy) % period) - period / 2)
    inset = np.maximum(dx, dy) - 0.4 * period  # accent squares at 80% of the cell
    return _coverage(inset) * odd


# shape pattern -> accent coverage (xx, yy, w, h, short side, rng, layout) -> (H, W) or broadcastable
_SHAPES = {
    "bands": _bands,
    "vertical_stripes": _vertical_stripes,
    "diagonal_stripes": _diagonal_stripes,
    "circle": _circle,
    "dots": _dots,
    "waves": _waves,
    "mountains": _mountains,
    "grid": _grid,
    "checkerboard": _checkerboard,
}
_PLACED_BY_SHAPE = frozenset({"circle"})  # the layout moves the shape itself, no region cut-out


def _mask(pattern: str, layout: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Accent coverage (H, W) in 0..1 for the shape patterns."""
    yy = np.arange(h, dtype=np.float32)[:, None] + 0.5  # (H, 1) pixel centres
    xx = np.arange(w, dtype=np.float32)[None, :] + 0.5  # (1, W)
    shape = _SHAPES.get(pattern)
    if shape is None:
        raise ValueError(f"unknown pattern {pattern!r}")
    m = shape(xx, yy, w, h, float(min(w, h)), rng, layout)
    if pattern in _PLACED_BY_SHAPE:
        return m
    return np.broadcast_to(m * _region(layout, xx, yy, w, h), (h, w))


def _rgb(colour: str) -> np.ndarray:
    """Palette name -> float32 RGB in 0..255."""
    return np.asarray(PALETTE[colour], dtype=np.float32)


def render(labels: dict, width: int, height: int, seed: int = 0) -> Image.Image:
    """Render the labels at width x height (shape parameters drawn from `seed`)."""
    rng = np.random.default_rng([seed, 7])
    w, h = int(width), int(height)
    main = _rgb(labels["main_colour"])
    pattern = labels["pattern"]
    if pattern == "solid":
        return Image.new("RGB", (w, h), tuple(int(v) for v in PALETTE[labels["main_colour"]]))
    elif pattern in ("gradient", "sunset"):
        accent = _rgb(labels["accent_colour"])
        yy = np.arange(h, dtype=np.float32)[:, None] + 0.5  # (H, 1)
        xx = np.arange(w, dtype=np.float32)[None, :] + 0.5  # (1, W)
        if pattern == "gradient":
            direction = labels.get("direction", "vertical")
            t = {"vertical": yy / h, "horizontal": xx / w, "diagonal": (xx / w + yy / h) / 2}[direction]
            t = np.broadcast_to(np.clip((t - 0.45) / 0.55, 0, 1), (h, w))  # main alone over the first 45%
            levels = np.arange(256, dtype=np.float32)[:, None] / 255.0  # (256, 1)
            lut = np.clip(main * (1 - levels) + accent * levels + 0.5, 0, 255).astype(np.uint8)  # (256, 3)
            return Image.fromarray(np.ascontiguousarray(lut[(t * 255.0 + 0.5).astype(np.uint8)]), "RGB")
        horizon = 0.72 * h
        t = np.clip((yy - 0.4 * h) / (horizon - 0.4 * h), 0, 1)[..., None] ** 1.5  # (H, 1, 1)
        sky = main * (1 - 0.6 * t) + accent * (0.6 * t)  # (H, 1, 3)
        cx, _ = _ANCHOR[labels["layout"]]
        r = 0.16 * min(w, h)
        sun = _coverage(np.hypot(xx - cx * w, yy - horizon) - r)[..., None]  # (H, W, 1)
        img = sky + (accent - sky) * sun  # (H, W, 3)
        sea = _coverage(horizon - yy)[..., None]  # (H, 1, 1) below the horizon: the darker sky reflected
        img = img + ((main * 0.55 + accent * 0.1) - img) * sea
    else:
        accent = _rgb(labels["accent_colour"])
        m = _mask(pattern, labels["layout"], w, h, rng)  # (H, W) accent coverage
        levels = np.arange(256, dtype=np.float32)[:, None] / 255.0  # (256, 1)
        lut = np.clip(main * (1 - levels) + accent * levels + 0.5, 0, 255).astype(np.uint8)  # (256, 3)
        img = lut[(m * 255.0 + 0.5).astype(np.uint8)]  # (H, W, 3) uint8
        return Image.fromarray(np.ascontiguousarray(img), "RGB")
    arr = np.clip(np.asarray(img) + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


@dataclass(frozen=True)
class Sample:
    """One procedural training pair."""

    image: Image.Image
    caption: str
    labels: dict


def _too_close(a: str, b: str) -> bool:
    """Accent colours must read as a different colour from the main one."""
    if family(a) == family(b):
        return True
    near = {
        frozenset(p) for p in (("black", "grey"), ("white", "grey"), ("pink", "red"), ("brown", "orange"))
    }
    if frozenset((family(a), family(b))) in near:
        pa, pb = np.asarray(PALETTE[a], float), np.asarray(PALETTE[b], float)
        return float(np.abs(pa - pb).sum()) < 150
    return False


_OTHER_SHADES = {c: tuple(o for o in COLOURS if o != c and family(o) == family(c)) for c in COLOURS}


def draw_labels(rng: np.random.Generator, two_tone: float = 0.0) -> dict:
    """Random labels: pattern, layout, main and accent colours (accent None for solid).

    `two_tone`: the share of patterned samples whose accent is another shade of the main colour's
    family ("beige with brown stripes"); 0 (the default, and the shipped model's data) draws no
    random number for it, so every other sample is unchanged.
    """
    pattern = str(rng.choice(PATTERNS))
    layout = str(rng.choice(PATTERN_LAYOUTS[pattern]))
    main = str(rng.choice(COLOURS))
    labels = {"pattern": pattern, "layout": layout, "main_colour": main, "accent_colour": None}
    if pattern != "solid":
        shades = _OTHER_SHADES[main] if two_tone > 0 else ()
        if shades and rng.random() < two_tone:
            accent = str(rng.choice(shades))
        else:
            accent = str(rng.choice(COLOURS))
            while _too_close(main, accent):
                accent = str(rng.choice(COLOURS))
        labels["accent_colour"] = accent
    if pattern == "gradient":
        labels["direction"] = str(rng.choice(["vertical", "horizontal", "diagonal"]))
    labels["main_family"] = family(main)
    return labels


def sample_labels(seed: int, index: int, split: str = "train", two_tone: float = 0.0) -> tuple[dict, np.random.Generator]:
    """Deterministic labels of sample `index`; split 'train' skips held-out combos, 'heldout' keeps only them."""
    if split not in ("train", "heldout", "all"):
        raise ValueError(f"split must be train, heldout or all, got {split!r}")
    rng = np.random.default_rng([seed, index, {"train": 0, "heldout": 1, "all": 2}[split]])
    while True:
        labels = draw_labels(rng, two_tone)
        held = is_held_out(labels)
        if split == "all" or (split == "heldout") == held:
            return labels, rng


def render_sample(seed: int, index: int, width: int, height: int, split: str = "train",
                  two_tone: float = 0.0) -> Sample:
    """Sample `index` of the dataset `seed`: (image, caption, labels), the same on every call."""
    labels, rng = sample_labels(seed, index, split, two_tone)
    caption = make_caption(labels, rng)
    image = render(labels, width, height, seed=int(rng.integers(2**31)))
    return Sample(image, caption, labels)


def captions_for(seed: int, index: int, count: int, split: str = "train", two_tone: float = 0.0) -> list[str]:
    """`count` different phrasings of sample `index` (the first is render_sample's caption)."""
    labels, rng = sample_labels(seed, index, split, two_tone)
    out = [make_caption(labels, rng)]
    extra = np.random.default_rng([seed, index, 99])
    for _ in range(count - 1):
        out.append(make_caption(labels, extra))
    return out


def heldout_prompts(n: int, seed: int = 1234) -> list[tuple[str, dict]]:
    """n (caption, labels) pairs from combinations never seen in training, one per distinct combination first."""
    out: list[tuple[str, dict]] = []
    seen: set[tuple] = set()
    index = 0
    while len(out) < n and index < 50 * n:
        labels, rng = sample_labels(seed, index, "heldout")
        index += 1
        key = (labels["main_family"], labels["pattern"], labels["layout"])
        if key in seen and index < 20 * n:
            continue
        seen.add(key)
        out.append((make_caption(labels, rng), labels))
    return out
