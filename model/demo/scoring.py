"""Scoring demo images: the scorers (`dominant_colour`, `classify_pattern`, `score_image`) invert the
renderer of model/demo/data.py with simple image statistics (tests check them on ground-truth renders),
and `evaluate_pipeline` generates held-out prompts and scores them.

May import: model.demo.data, numpy, Pillow; torch and model.build (evaluate_pipeline only). Never Qt, app/ or ui/.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image

from .data import COLOURS, PALETTE, PATTERNS, draw_labels, family, heldout_prompts, render


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8/float (..., 3) -> CIE L*a*b* (D65)."""
    c = np.asarray(rgb, dtype=np.float32) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], dtype=np.float32
    )
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


_PALETTE_LAB = _lab(np.array([PALETTE[c] for c in COLOURS], dtype=np.float32))  # (K, 3)


def _small(image: Image.Image, short: int = 64) -> np.ndarray:
    """Image -> float RGB array with its short side resized to `short` (box filter)."""
    w, h = image.size
    k = short / min(w, h)
    size = (max(1, round(w * k)), max(1, round(h * k)))
    return np.asarray(image.convert("RGB").resize(size, Image.BOX), dtype=np.float32)


def nearest_colours(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> (...) index into COLOURS of the nearest palette colour in Lab."""
    lab = _lab(rgb)
    d = ((lab[..., None, :] - _PALETTE_LAB) ** 2).sum(-1)  # (..., K)
    return d.argmin(-1)


def dominant_colour(image: Image.Image) -> tuple[str, str]:
    """(family, exact palette name) covering the most pixels: the colour of the main area."""
    idx = nearest_colours(_small(image, 48)).ravel()
    counts = np.bincount(idx, minlength=len(COLOURS))
    fam_counts: dict[str, int] = {}
    for i, c in enumerate(COLOURS):
        fam_counts[family(c)] = fam_counts.get(family(c), 0) + int(counts[i])
    best_family = max(fam_counts, key=fam_counts.get)
    members = [i for i, c in enumerate(COLOURS) if family(c) == best_family]
    best = max(members, key=lambda i: counts[i])
    return best_family, COLOURS[best]


def _blob(fg: np.ndarray, xx: np.ndarray, yy: np.ndarray) -> tuple[float, float, float, float]:
    """Centre (x, y in 0..1) and spread of the foreground mask; the middle and 0 without one."""
    h, w = fg.shape
    if fg.sum() <= 0:
        return 0.5, 0.5, 0.0, 0.0
    cx, cy = float((xx * fg).sum() / fg.sum() / w), float((yy * fg).sum() / fg.sum() / h)
    sx = float(np.sqrt((((xx / w - cx) ** 2) * fg).sum() / fg.sum()))
    sy = float(np.sqrt((((yy / h - cy) ** 2) * fg).sum() / fg.sum()))
    return cx, cy, sx, sy


def _transitions(v: np.ndarray) -> float:
    """How often a profile crosses 0.5."""
    return float(np.abs(np.diff((v > 0.5).astype(np.float32))).sum())


def pattern_features(image: Image.Image) -> np.ndarray:
    """A small vector of image statistics that tells the patterns apart (orientation, profiles, blobs)."""
    rgb = _small(image, 64)
    lab = _lab(rgb)  # (H, W, 3)
    h, w, _ = lab.shape
    gx = np.zeros_like(lab)
    gy = np.zeros_like(lab)
    gx[:, 1:-1] = (lab[:, 2:] - lab[:, :-2]) / 2
    gy[1:-1] = (lab[2:] - lab[:-2]) / 2
    jxx, jyy, jxy = (gx**2).sum(-1), (gy**2).sum(-1), (gx * gy).sum(-1)  # (H, W)
    mag = np.sqrt(jxx + jyy)
    energy = float((jxx + jyy).sum()) + 1e-6
    # the background: the most common palette colour; foreground = clearly different pixels
    idx = nearest_colours(rgb)
    bg = np.bincount(idx.ravel(), minlength=len(COLOURS)).argmax()
    dist = np.sqrt(((lab - _PALETTE_LAB[bg]) ** 2).sum(-1))
    fg = (dist > 18).astype(np.float32)
    fg_frac = float(fg.mean())
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, sx, sy = _blob(fg, xx, yy)
    row_prof, col_prof = fg.mean(1), fg.mean(0)
    strong = mag > 6
    soft = (mag > 0.4) & (mag <= 6)
    rows_t = np.mean([_transitions(fg[i]) for i in range(0, h, max(1, h // 8))])
    cols_t = np.mean([_transitions(fg[:, j]) for j in range(0, w, max(1, w // 8))])
    # colour trend along y and x (gradients, sunsets)
    lum = lab[..., 0]
    trend_y = float(np.corrcoef(yy.ravel(), lum.ravel())[0, 1]) if lum.std() > 1e-3 else 0.0
    trend_x = float(np.corrcoef(xx.ravel(), lum.ravel())[0, 1]) if lum.std() > 1e-3 else 0.0
    return np.array(
        [
            float(jxx.sum()) / energy,
            float(jyy.sum()) / energy,
            abs(float(jxy.sum())) / energy,
            float(np.sqrt(np.abs(jxx * jyy)).sum()) / energy,  # axis-aligned edges -> 0
            float(strong.mean()) * 4,
            float(soft.mean()),
            fg_frac,
            cx,
            cy,
            sx * 3,
            sy * 3,
            float(row_prof.std()) * 2,
            float(col_prof.std()) * 2,
            math.log1p(rows_t),
            math.log1p(cols_t),
            abs(trend_y),
            abs(trend_x),
            float(lab.std(axis=(0, 1)).mean()) / 30,
        ],
        dtype=np.float32,
    )


@lru_cache(maxsize=1)
def _prototypes(
    per_pattern: int = 24, size: int = 96
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features of ground-truth renders (all splits): (features, pattern ids, mean, std)."""
    feats, ids = [], []
    for p_id, pattern in enumerate(PATTERNS):
        rng = np.random.default_rng([4242, p_id])
        for _ in range(per_pattern):
            labels = draw_labels(rng)
            while labels["pattern"] != pattern:
                labels = draw_labels(rng)
            w, h = (size, size) if rng.random() < 0.5 else ((size * 4) // 3, size)
            feats.append(pattern_features(render(labels, w, h, seed=int(rng.integers(2**31)))))
            ids.append(p_id)
    f = np.stack(feats)
    mean, std = f.mean(0), f.std(0) + 1e-3
    return (f - mean) / std, np.asarray(ids), mean, std


def classify_pattern(image: Image.Image, k: int = 3) -> str:
    """The pattern whose ground-truth renders have the nearest statistics (k-nearest neighbours)."""
    protos, ids, mean, std = _prototypes()
    f = (pattern_features(image) - mean) / std
    d = ((protos - f) ** 2).sum(1)
    nearest = ids[np.argsort(d)[:k]]
    votes = np.bincount(nearest, minlength=len(PATTERNS)).astype(np.float32)
    votes[ids[np.argmin(d)]] += 0.5  # ties go to the nearest
    return PATTERNS[int(votes.argmax())]


def score_image(image: Image.Image, labels: dict) -> dict:
    """Colour (family and exact shade) and pattern agreement of one image with its labels."""
    fam, exact = dominant_colour(image)
    pattern = classify_pattern(image)
    return {
        "colour_ok": fam == family(labels["main_colour"]),
        "shade_ok": exact == labels["main_colour"],
        "pattern_ok": pattern == labels["pattern"],
        "pred_colour": exact,
        "pred_pattern": pattern,
    }


def summarize(scores: list[dict]) -> dict:
    """Accuracies over a list of score_image results."""
    n = max(1, len(scores))
    return {
        "n": len(scores),
        "colour_acc": sum(s["colour_ok"] for s in scores) / n,
        "shade_acc": sum(s["shade_ok"] for s in scores) / n,
        "pattern_acc": sum(s["pattern_ok"] for s in scores) / n,
    }


def evaluate_pipeline(
    pipe,
    device=None,
    n: int = 48,
    size: int = 512,
    steps: int = 20,
    guidance: float = 4.5,
    batch: int = 8,
    seed: int = 0,
    deadline: float = math.inf,
) -> dict:
    """Generate n held-out prompts with a PixArtSigmaPipeline and score them (summary + per-item).

    Stops starting new batches after `deadline` (time.monotonic()); at least one batch always runs.
    """
    import time

    import torch

    from ..build import seeded_images

    device = device or pipe.device
    prompts = heldout_prompts(n)
    items = []
    for start in range(0, len(prompts), batch):
        if start and time.monotonic() > deadline:
            break
        chunk = prompts[start : start + batch]
        seeds = [seed + start + i for i in range(len(chunk))]
        amp = torch.bfloat16 if getattr(device, "type", str(device)).startswith("cuda") else None
        with (
            torch.no_grad(),
            torch.autocast(str(getattr(device, "type", device)), dtype=amp, enabled=amp is not None),
        ):
            images = seeded_images(pipe, [c for c, _ in chunk], size, size, steps, guidance, seeds)
        for (caption, labels), image in zip(chunk, images):
            items.append({"prompt": caption, "labels": labels, **score_image(image, labels), "image": image})
    result = summarize(items)
    result.update(size=size, steps=steps, guidance=guidance, items=items)
    return result


def edge_band(image) -> float:
    """How strongly vertical lines crowd the right edge: the mean change between neighbouring column
    averages over the right twelfth, divided by the same over the left twelfth (floor 0.25 levels).
    Lines running the full height survive the column average, scattered shapes mostly do not.
    About 1-2 for a clean image; the direct-mode band of issue 12 scored 8-12 (see test_refine.py)."""
    a = np.asarray(image.convert("RGB"), dtype=np.float64)
    px = max(16, a.shape[1] // 12)
    change = np.abs(np.diff(a.mean(axis=0), axis=0)).mean(axis=1)  # (W-1,)
    return float(change[-px:].mean() / max(change[:px].mean(), 0.25))


def layout_of(image: Image.Image) -> str:
    """Where the accent sits: full, center, left, right, top or bottom (the pixels away from the main
    colour: their centroid and spread on a 64 px copy)."""
    small = _small(image)
    lab = _lab(small / 255.0)
    main = np.median(lab.reshape(-1, 3), axis=0)
    accent = np.linalg.norm(lab - main, axis=-1) > 18.0
    if accent.mean() < 0.01:
        return "full"
    h, w = accent.shape
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = xx[accent].mean() / w - 0.5, yy[accent].mean() / h - 0.5
    sx, sy = xx[accent].std() / w, yy[accent].std() / h
    if max(abs(cx), abs(cy)) < 0.1:
        return "center" if max(sx, sy) < 0.2 else "full"
    if abs(cx) >= abs(cy):
        return "left" if cx < 0 else "right"
    return "top" if cy < 0 else "bottom"


def score_engine_image(image: Image.Image, main_family: str, pattern: str, layout: str) -> dict:
    """score_image for an engine image against plain labels, plus layout and the edge band."""
    fam, _exact = dominant_colour(image)
    predicted = classify_pattern(image)
    where = layout_of(image)
    return {
        "colour_ok": fam == main_family,
        "pattern_ok": predicted == pattern,
        "layout_ok": where == layout,
        "pred_colour": fam,
        "pred_pattern": predicted,
        "pred_layout": where,
        "edge_band": round(edge_band(image), 2),
    }
