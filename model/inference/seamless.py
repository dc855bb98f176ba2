"""Tileable (seamless) generation for the DiT and a wrapping VAE decode, plus the seam score.

A transformer has global attention and absolute positions, so the U-Net trick (circular padding)
does not apply to it. Instead, `rolling_latents` hooks the transformer (forward pre-hook and forward
hook, so it composes with KV compression, offload hooks and any other caller such as a refine pass):
before every call the latent grid is rolled by an offset that changes from call to call (a golden-
ratio sequence in whole patches, started from the seed, always in the middle half of the axis), the DiT runs, and its output is rolled
back. Every seam thus spends most steps inside the image, where the DiT makes it coherent. KV
compression pools the rolled grid, so its pooled grid wraps as well.

The decode wraps too (`wrapping_decode`): every padded Conv2d of the VAE decoder pads circularly on
the wrapped axes (zeros on the others), which makes the untiled decode exactly periodic. In the
tiled decode (model/inference/vae_tiling.py, `wrap=`) the mid-block output is extended circularly by
the halo width (`wrap_tiles`), so tiles at the image edge take their halo from the far edge; the
tile cores still partition the image, so the shared GroupNorm statistics are the image's own.

The refine path (model/inference/refine.py) resizes latents between stages: the bicubic upscale and
keep_composition's bilinear low band. Plain `F.interpolate` clamps at the edges, so the first and
last three latent pixels of every refine stage were made without the far side: a band at the wrap
that the stage's rolled denoising only partly repaired, and keep_composition put the composing
stage's low band back on top of it (at 512^2 on the demo model, 20 steps, the y seam score rose to
3.7). `wrapping_interpolate` is the same resize reading across the wrapped edges; refine calls it
for tileable images only.

`seam_score` measures the result: mean |difference| across the wrap (last column vs first, last
row vs first) over the mean |difference| between neighbouring columns/rows inside the image.
`interior_scores` is its reference: the same ratio at the image's own inner latent-pixel
boundaries. One column pair varies a lot from place to place: on the demo model's tileable images
about a third of the inner boundaries score above 1.15, so a wrap that looks exactly like any other
boundary does too about that often; the wrap's rank among them says whether it stands out.

May import: model.tiling_axes, model.inference.vae_tiling, torch, numpy, Pillow (wrapping_resize). Never Qt, app/ or ui/.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..tiling_axes import wrap_axes

GOLDEN = (math.sqrt(5) - 1) / 2


def roll_offsets(step: int, size: tuple[int, int], patch: int, seed: int = 0) -> tuple[int, int]:
    """(dy, dx) latent-pixel offsets for call `step`: a low-discrepancy sequence, kept within the middle
    half of each axis so the wrap always lies well inside what the DiT sees, and always half a patch
    off the patch grid: every step sees the same patch grid, and the wrap falls inside patches."""
    height, width = size
    start_y, start_x = (seed % 997) / 997, (seed % 991) / 991
    fy = (start_y + step * GOLDEN) % 1.0
    fx = (start_x + step * GOLDEN * GOLDEN + 0.5) % 1.0
    cells_y, cells_x = max(1, height // patch), max(1, width // patch)
    half = patch // 2  # the wrap lies mid-patch, never on the DiT's patch grid (whose rows differ most)
    return int((0.25 + fy / 2) * cells_y) * patch + half, int((0.25 + fx / 2) * cells_x) * patch + half


class _Roller:
    """Hook state: the offsets of the call in flight, undone on the output."""

    def __init__(self, axes: tuple[bool, bool], patch: int, seed: int) -> None:
        self.wrap_x, self.wrap_y = axes
        self.patch, self.seed = patch, seed
        self.calls = 0
        self.current: tuple[int, int] = (0, 0)

    def _shifts(self, latents: torch.Tensor) -> tuple[int, int]:
        dy, dx = roll_offsets(self.calls, latents.shape[-2:], self.patch, self.seed)
        return (dy if self.wrap_y else 0), (dx if self.wrap_x else 0)

    def before(self, _module, args, kwargs):
        if args:
            latents = args[0]
        else:
            latents = kwargs["hidden_states"]
        dy, dx = self._shifts(latents)
        self.current = (dy, dx)
        self.calls += 1
        rolled = torch.roll(latents, shifts=(dy, dx), dims=(-2, -1))
        if args:
            return (rolled, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": rolled}

    def after(self, _module, _args, _kwargs, output):
        dy, dx = self.current

        def back(t: torch.Tensor) -> torch.Tensor:
            return torch.roll(t, shifts=(-dy, -dx), dims=(-2, -1))

        if isinstance(output, tuple):
            return (back(output[0]), *output[1:])
        if hasattr(output, "sample"):
            output.sample = back(output.sample)
            return output
        return back(output)


@contextmanager
def rolling_latents(transformer: nn.Module, tileable: str, seed: int = 0) -> Iterator[_Roller | None]:
    """While open, every transformer call sees the latents rolled by a per-call offset (see module doc)."""
    axes = wrap_axes(tileable)
    if not any(axes):
        yield None
        return
    patch = int(getattr(getattr(transformer, "config", None), "patch_size", 1) or 1)
    roller = _Roller(axes, patch, seed)
    handles = [
        transformer.register_forward_pre_hook(roller.before, with_kwargs=True),
        transformer.register_forward_hook(roller.after, with_kwargs=True),
    ]
    try:
        yield roller
    finally:
        for handle in handles:
            handle.remove()


def _wrapping_conv_forward(conv: nn.Conv2d, wrap_x: bool, wrap_y: bool) -> Callable:
    pad_h, pad_w = conv.padding

    def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if pad_w:
            x = F.pad(x, (pad_w, pad_w, 0, 0), mode="circular" if wrap_x else "constant")
        if pad_h:
            x = F.pad(x, (0, 0, pad_h, pad_h), mode="circular" if wrap_y else "constant")
        return F.conv2d(x, weight, bias, conv.stride, 0, conv.dilation, conv.groups)

    return forward


def _wrapping_downsample_forward(conv: nn.Conv2d, wrap_x: bool, wrap_y: bool) -> Callable:
    """The conv of a VAE encoder's Downsample2D (padding 0): its input arrives with one zero column
    and row added on the right and bottom; on the wrapped axes they are replaced by the first ones."""

    def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if wrap_x:
            x = torch.cat([x[..., :-1], x[..., :1]], dim=-1)
        if wrap_y:
            x = torch.cat([x[..., :-1, :], x[..., :1, :]], dim=-2)
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    return forward


def _asymmetric_downsample_convs(module: nn.Module) -> set[int]:
    """ids of the convs that diffusers' Downsample2D feeds with its own (0, 1, 0, 1) zero padding."""
    return {
        id(m.conv) for m in module.modules()
        if type(m).__name__ == "Downsample2D" and getattr(m, "use_conv", False) and getattr(m, "padding", None) == 0
    }


@contextmanager
def circular_convs(module: nn.Module, tileable: str) -> Iterator[int]:
    """Every padded Conv2d under `module` pads circularly on the wrapped axes while open (restored after);
    so does an encoder's downsampling conv, whose zero padding comes from Downsample2D itself."""
    wrap_x, wrap_y = wrap_axes(tileable)
    patched = []
    if wrap_x or wrap_y:
        downsample = _asymmetric_downsample_convs(module)
        for conv in module.modules():
            if not isinstance(conv, nn.Conv2d):
                continue
            if id(conv) in downsample:
                conv._conv_forward = _wrapping_downsample_forward(conv, wrap_x, wrap_y)
                patched.append(conv)
            elif isinstance(conv.padding, tuple) and any(conv.padding):
                conv._conv_forward = _wrapping_conv_forward(conv, wrap_x, wrap_y)
                patched.append(conv)
    try:
        yield len(patched)
    finally:
        for conv in patched:
            del conv._conv_forward  # back to the class's method


def wrap_tiles(h: torch.Tensor, tiles: list, overlap: int, wrap: tuple[bool, bool]):
    """For vae_tiling.tiled_decode: `h` padded circularly by `overlap` on the wrapped axes, the tiles
    moved into it with full halos (taken from the far edge), and a function cropping the output back."""
    from dataclasses import replace

    wrap_x, wrap_y = wrap
    my, mx = (overlap if wrap_y else 0), (overlap if wrap_x else 0)
    padded = F.pad(h, (mx, mx, my, my), mode="circular")
    moved = []
    for t in tiles:
        t = replace(t, cy0=t.cy0 + my, cy1=t.cy1 + my, cx0=t.cx0 + mx, cx1=t.cx1 + mx,
                    y0=t.y0 + my, y1=t.y1 + my, x0=t.x0 + mx, x1=t.x1 + mx)
        if wrap_y:
            t = replace(t, y0=t.cy0 - overlap, y1=t.cy1 + overlap)
        if wrap_x:
            t = replace(t, x0=t.cx0 - overlap, x1=t.cx1 + overlap)
        moved.append(t)

    def crop(out: torch.Tensor) -> torch.Tensor:
        s = out.shape[-1] // padded.shape[-1]
        return out[..., my * s: out.shape[-2] - my * s, mx * s: out.shape[-1] - mx * s]

    return padded, moved, crop


def wrapping_interpolate(x: torch.Tensor, size_hw: tuple[int, int], mode: str, tileable: str) -> torch.Tensor:
    """`F.interpolate(x, size_hw, mode, align_corners=False)` ("bilinear" or "bicubic") that reads across
    the wrapped edges: x is padded circularly on the wrapped axes (clamped on the others, like
    interpolate) and sampled at interpolate's own source coordinates with `grid_sample`. Inside the
    image it equals interpolate up to float rounding; on the wrapped axes it is shift-equivariant."""
    wrap_x, wrap_y = wrap_axes(tileable)
    if not (wrap_x or wrap_y):
        return F.interpolate(x, size=tuple(size_hw), mode=mode, align_corners=False)
    pad = 3  # bicubic reads 2 source pixels beyond its coordinate; one more for rounding
    h, w = x.shape[-2:]
    out_h, out_w = size_hw
    padded = F.pad(x.float(), (pad, pad, 0, 0), mode="circular" if wrap_x else "replicate")
    padded = F.pad(padded, (0, 0, pad, pad), mode="circular" if wrap_y else "replicate")

    def axis(n_out: int, n_in: int, n_padded: int) -> torch.Tensor:
        source = (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5 + pad
        return ((2 * source + 1) / n_padded - 1).float()  # grid_sample's normalised coordinates

    gy, gx = torch.meshgrid(axis(out_h, h, h + 2 * pad), axis(out_w, w, w + 2 * pad), indexing="ij")
    grid = torch.stack([gx, gy], dim=-1).to(padded.device)[None].expand(x.shape[0], -1, -1, -1)
    out = F.grid_sample(padded, grid, mode=mode, padding_mode="border", align_corners=False)
    return out.to(x.dtype)


def would_tile(vae, z: torch.Tensor, mode: str, budget_bytes: int | None) -> bool:
    """Whether vae_tiling.decode will tile this latent (its own "auto" rule)."""
    from .vae_tiling import free_memory_bytes, untiled_decode_bytes

    if mode != "auto":
        return mode == "tiled"
    weight = vae.decoder.conv_in.weight
    if budget_bytes is None:
        budget_bytes = free_memory_bytes(weight.device)
    batch, _, lh, lw = z.shape
    return untiled_decode_bytes(vae, lh, lw, batch, weight.element_size()) > budget_bytes


def wrapping_decode(vae, z: torch.Tensor, tileable: str, mode: str = "auto", budget_bytes: int | None = None,
                    **kw) -> torch.Tensor:
    """vae_tiling.decode that wraps around the tileable axes (untiled: exactly; tiled: through a margin)."""
    from .vae_tiling import decode

    wrap_x, wrap_y = wrap_axes(tileable)
    if not (wrap_x or wrap_y):
        return decode(vae, z, mode=mode, budget_bytes=budget_bytes, **kw)
    if would_tile(vae, z, mode, budget_bytes):
        mode, kw = "tiled", {**kw, "wrap": (wrap_x, wrap_y)}
    with circular_convs(vae, tileable):
        return decode(vae, z, mode=mode, budget_bytes=budget_bytes, **kw)


def wrapping_resize(image, size: tuple[int, int], tileable: str):
    """Resize a tileable PIL image to `size` (Lanczos) so that it still wraps: the filter reads across
    the wrapped edges (the image is padded with its far side first, then the padding is cut off)."""
    from PIL import Image

    wrap_x, wrap_y = wrap_axes(tileable)
    if image.size == tuple(size) or not (wrap_x or wrap_y):
        return image.resize(size, Image.LANCZOS) if image.size != tuple(size) else image
    w, h = image.size
    px, py = (16 if wrap_x else 0), (16 if wrap_y else 0)  # beyond Lanczos-3's reach when shrinking <= 5x
    array = np.asarray(image)
    pixels = np.pad(array, ((py, py), (px, px)) + ((0, 0),) * (array.ndim - 2), mode="wrap")
    # `box` picks the original region; the filter still reads the wrapped padding around it
    return Image.fromarray(pixels).resize(tuple(size), Image.LANCZOS, box=(px, py, px + w, py + h))


def interior_scores(image, axis: str, period: int = 8) -> np.ndarray:
    """What `seam_score(image, axis)` would be if the image wrapped at each inner boundary that is a
    multiple of `period` px (8: where the VAE's latent pixels meet, as they do at the wrap): the
    difference between columns k*period-1 and k*period (rows for "y") over the mean inner difference.

    The reference for a seam score: a wrap that looks like any other boundary scores like these, and
    on the demo model's mostly smooth images about a third of them are above 1.15."""
    pixels = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.float64)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be x or y (got {axis!r})")
    along = 1 if axis == "x" else 0
    steps = np.abs(np.diff(pixels, axis=along)).mean(axis=tuple(a for a in range(3) if a != along))
    inner = steps.mean()
    at = np.arange(period - 1, steps.shape[0], period)
    return steps[at] / inner if inner > 0 else np.ones(len(at))


def seam_score(image, axis: str = "both") -> float:
    """Wrap difference over inner neighbour difference (1.0: the seam looks like any other column/row).

    `axis`: "x" (last column vs first), "y" (last row vs first) or "both" (the two pooled).
    """
    pixels = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.float64)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    wrap = inner = 0.0
    if axis in ("x", "both"):
        wrap += np.abs(pixels[:, -1] - pixels[:, 0]).mean()
        inner += np.abs(np.diff(pixels, axis=1)).mean()
    if axis in ("y", "both"):
        wrap += np.abs(pixels[-1] - pixels[0]).mean()
        inner += np.abs(np.diff(pixels, axis=0)).mean()
    if axis not in ("x", "y", "both"):
        raise ValueError(f"axis must be x, y or both (got {axis!r})")
    return float(wrap / inner) if inner > 0 else (1.0 if wrap == 0 else float("inf"))
