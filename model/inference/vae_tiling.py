"""Seam-free tiled VAE decoding: GroupNorm statistics shared across tiles, bounded memory.

diffusers' `vae.enable_tiling()` decodes each latent tile on its own, so every GroupNorm in the
decoder normalises with that tile's statistics and the tiles disagree (visible seams, blended
away only partly). Here the decoder is run in two stages, calling the AutoencoderKL's own modules:

1. `post_quant_conv`, `decoder.conv_in` and `decoder.mid_block` (with its attention) run once on
   the whole latent: cheap at latent resolution, and exact.
2. The up path (`decoder.up_blocks`, `conv_norm_out`, `conv_act`, `conv_out`) runs on overlapping
   tiles of the mid-block output. Each tile is a core plus a halo of `overlap` latent pixels (no
   halo at the image border); only the core is written to the output, and with a halo at least as
   wide as the up path's receptive field (about 12.3 latent px for the SDXL VAE) the core is exact
   as long as every GroupNorm uses the whole image's statistics.

Whole-image GroupNorm statistics come from passes over the tiles: every nn.GroupNorm of the up path
is swapped (temporarily, restored even on errors) for a `_SharedGroupNorm`, and each measuring pass
accumulates per-(sample, group) moments of every layer's input over the tile cores (float64).

- Pass 1 normalises each tile with its own statistics (what diffusers' tiling does) and measures.
- Passes 2 .. P-1 ("corrected") normalise tile i at layer L with the whole-image statistics of the
  previous pass moved by how much tile i's own core statistics at L changed since that pass (mean
  shifted, variance scaled), and measure again. Plainly reusing the previous pass's statistics
  instead does not converge: a layer's statistics depend on all earlier layers' normalisation, and
  stale statistics let those changes pile up; the per-tile correction tracks them, so a layer's
  measured statistics become exact once those of the layers before it are.
- The last pass normalises every tile with the same whole-image statistics (measured in pass P-1),
  so tiles agree along their borders and the image has no seams.

Measured max |error| against `vae.decode` on the SDXL-VAE architecture (random weights, CPU):
at 1024^2 with tile 64 / overlap 16, P = 3 gives 6.9e-4 (mean 3.4e-5) where diffusers' tiling gives
0.573 (mean 0.023). With tiny tiles (16 latent px, 48^2 latent, overlap 13), P = 1/2/3/4 give
0.33/0.62/0.0053/0.0047 on random latents (diffusers: 2.18), and 2.34/3.24/0.97 on latents whose
scale varies 6x across the image (diffusers: 3.83), the hard case where per-tile statistics are far
from the image's. P = 2 is worse than P = 1 (its last pass applies statistics measured in the
per-tile world), so DEFAULT_PASSES = 3: about 3x the untiled decode's time on CPU.

May import: model.errors, model.inference.memory (free_memory), torch. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import Cancelled
from .memory import free_memory

DEFAULT_PASSES = 3
# Peak working memory of the up path, in units of its largest activation, calibrated with the SDXL
# VAE architecture (`benchmarks/vae_tiling.py`): on CPU (peak RSS above a load-only process) untiled
# 1024^2 took 3.78 GiB = 3.8 units and tiled 1024^2 (80^2-latent tiles) 1.63 GiB = 4.0 units; on an
# H200 (max_memory_allocated) untiled 1024^2 / 2048^2 took 4.80 / 19.05 GiB = 4.8 units. We plan
# with the larger figure.
_UP_PATH_FACTOR = 4.8
# The same for the latent-resolution stage (conv_in + mid block, memory-efficient attention), in units
# of one latent-resolution activation: 8.1 measured on CPU at 4096^2 (4.03 GiB above a load-only
# process, where this stage is the peak; at 3840x2160 the tiles are: 2.23 GiB).
_MID_FACTOR = 8.0
# Share of free memory we allow ourselves to plan with (other allocations, fragmentation).
_SAFETY = {"cuda": 0.85, "cpu": 0.7}


# ------------------------------------------------------------------ tile layout


@dataclass(frozen=True)
class _Tile:
    """One tile in latent pixels: the region run through the up path and the core kept from it."""

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: int
    cy1: int
    cx0: int
    cx1: int

    def core(self, s: int = 1) -> tuple[slice, slice]:
        """The core's (rows, cols) in the whole image at `s` pixels per latent pixel."""
        return slice(self.cy0 * s, self.cy1 * s), slice(self.cx0 * s, self.cx1 * s)

    def core_in_tile(self, s: int = 1) -> tuple[slice, slice]:
        """The core's (rows, cols) inside this tile's tensor at `s` pixels per latent pixel."""
        dy, dx = self.cy0 - self.y0, self.cx0 - self.x0
        return slice(dy * s, (dy + self.cy1 - self.cy0) * s), slice(dx * s, (dx + self.cx1 - self.cx0) * s)


def _spans(n: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Split [0, n) into near-equal cores of at most `tile`; each as (start, end, core_start, core_end)."""
    k = max(1, math.ceil(n / tile))
    cuts = [round(i * n / k) for i in range(k + 1)]
    return [(max(0, a - overlap), min(n, b + overlap), a, b) for a, b in itertools.pairwise(cuts)]


def tile_layout(latent_h: int, latent_w: int, tile: int = 64, overlap: int = 16) -> list[_Tile]:
    """Tiles covering a latent_h x latent_w latent: cores partition it, halos reach `overlap` further."""
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0 (got tile={tile}, overlap={overlap})")
    return [
        _Tile(y0, y1, x0, x1, cy0, cy1, cx0, cx1)
        for y0, y1, cy0, cy1 in _spans(latent_h, tile, overlap)
        for x0, x1, cx0, cx1 in _spans(latent_w, tile, overlap)
    ]


# ------------------------------------------------------------------ shared GroupNorm


class _PassState:
    """What the swapped GroupNorms need to know: the current tile and how this pass normalises."""

    def __init__(self) -> None:
        self.tile: _Tile | None = None
        self.tile_index = 0
        self.mode = "local"  # "local", "corrected" or "global", see _SharedGroupNorm
        self.measure = False


class _SharedGroupNorm(nn.Module):
    """Stand-in for an nn.GroupNorm that normalises tiles consistently with whole-image statistics.

    Modes: "local" normalises each tile with its own statistics (as the GroupNorm itself would);
    "corrected" uses the whole-image statistics measured in the previous pass, moved by how much this
    tile's own core statistics changed since that pass (so upstream changes are tracked tile by tile);
    "global" uses the previous pass's whole-image statistics as they are, the same for every tile.
    When measuring, per-(sample, group) moments of the input are accumulated over tile cores.
    """

    def __init__(self, gn: nn.GroupNorm, state: _PassState) -> None:
        super().__init__()
        self.gn = gn
        self.state = state
        self.applied: tuple[torch.Tensor, torch.Tensor] | None = None  # (B, G) whole-image mean, var
        self.tile_stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # this pass: (B, G) per tile
        self.prev_tile_stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # the previous pass's
        self.reset()

    def reset(self) -> None:
        """Forget the whole-image sums measured in the current pass."""
        self.count = 0  # elements per (sample, group) measured so far
        self.sum_mean: torch.Tensor | None = None  # (B, G) sum over tiles of n * mean
        self.sum_second: torch.Tensor | None = None  # (B, G) sum over tiles of n * E[x^2]

    def finish_pass(self) -> None:
        """Turn this pass's measurements into the whole-image (mean, var) that the next pass uses."""
        if self.sum_mean is None:
            raise RuntimeError("a GroupNorm of the up path saw no tile in a measuring pass")
        mean = self.sum_mean / self.count  # (B, G)
        var = (self.sum_second / self.count - mean.square()).clamp_min(0.0)  # (B, G)
        self.applied = (mean, var)
        self.prev_tile_stats, self.tile_stats = self.tile_stats, {}
        self.reset()

    def _core_moments(self, x: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
        """(elements per group, mean (B, G), var (B, G)) of x over the current tile's core, in float64."""
        t = self.state.tile
        rows, cols = t.core_in_tile(x.shape[-2] // (t.y1 - t.y0))  # at this layer's scale
        core = x[:, :, rows, cols]  # (B, C, h_core, w_core)
        if core.dtype in (torch.float16, torch.bfloat16):
            core = core.float()
        var_c, mean_c = torch.var_mean(core, dim=(2, 3), correction=0)  # (B, C) each
        b, c = mean_c.shape
        g = self.gn.num_groups
        mean_c, var_c = mean_c.double().view(b, g, -1), var_c.double().view(b, g, -1)  # (B, G, C/G)
        mean = mean_c.mean(-1)  # (B, G)
        var = (var_c + mean_c.square()).mean(-1) - mean.square()  # (B, G)
        return core.shape[-2] * core.shape[-1] * (c // g), mean, var.clamp_min(0.0)

    def _normalise(self, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        """Normalise x (B, C, H, W) with per-(sample, group) mean and var (B, G), then the affine."""
        c = x.shape[1]
        per_group = c // self.gn.num_groups
        scale = torch.rsqrt(var + self.gn.eps).repeat_interleave(per_group, dim=1)  # (B, C)
        shift = -mean.repeat_interleave(per_group, dim=1) * scale  # (B, C)
        if self.gn.affine:
            w = self.gn.weight.to(device=x.device, dtype=torch.float64)
            scale = scale * w
            shift = shift * w + self.gn.bias.to(device=x.device, dtype=torch.float64)
        low = x.dtype in (torch.float16, torch.bfloat16)
        work = torch.float32 if low else x.dtype
        scale = scale.to(device=x.device, dtype=work)[:, :, None, None]  # (B, C, 1, 1)
        shift = shift.to(device=x.device, dtype=work)[:, :, None, None]
        out = torch.addcmul(shift, x.to(work) if low else x, scale)  # (B, C, H, W)
        return out.to(x.dtype) if low else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        st = self.state
        if st.mode == "global":
            return self._normalise(x, *self.applied)
        if not st.measure:
            return self.gn(x)
        n, m, v = self._core_moments(x)
        self.tile_stats[st.tile_index] = (m, v)
        if self.sum_mean is None:
            self.sum_mean, self.sum_second = torch.zeros_like(m), torch.zeros_like(m)
        self.sum_mean += n * m
        self.sum_second += n * (v + m.square())
        self.count += n
        if st.mode == "local":
            return self.gn(x)
        gm, gv = self.applied
        pm, pv = self.prev_tile_stats[st.tile_index]
        eps = self.gn.eps
        return self._normalise(x, gm + (m - pm), gv * (v + eps) / (pv + eps))


@contextmanager
def shared_groupnorms(decoder: nn.Module, state: _PassState) -> Iterator[list[_SharedGroupNorm]]:
    """Swap every nn.GroupNorm of the decoder's up path for a _SharedGroupNorm; always restore them."""
    slots = [(parent, name) for parent in decoder.up_blocks.modules() for name, _ in parent.named_children()]
    slots.append((decoder, "conv_norm_out"))  # in the order the up path runs them
    swapped: list[tuple[nn.Module, str, nn.GroupNorm]] = []
    try:
        for parent, name in slots:
            child = getattr(parent, name)
            if type(child) is nn.GroupNorm:
                setattr(parent, name, _SharedGroupNorm(child, state))
                swapped.append((parent, name, child))
        yield [getattr(parent, name) for parent, name, _ in swapped]
    finally:
        for parent, name, child in reversed(swapped):
            setattr(parent, name, child)


# ------------------------------------------------------------------ decoding


def _check_decoder(vae) -> None:
    """Refuse decoders whose up path we cannot tile exactly (spatial norms, attention in up blocks)."""
    dec = vae.decoder
    if type(dec.conv_norm_out) is not nn.GroupNorm:
        raise ValueError(f"tiled_decode needs a GroupNorm decoder, got {type(dec.conv_norm_out).__name__}")
    for m in dec.up_blocks.modules():
        if type(m).__name__ in ("Attention", "SpatialNorm"):
            raise ValueError(f"tiled_decode cannot tile an up path containing {type(m).__name__}")


def _up_path(dec, h: torch.Tensor, last: bool) -> torch.Tensor:
    """Run the decoder's up path on one tile (B, C, h, w); `last=False` stops after conv_norm_out."""
    for up_block in dec.up_blocks:
        h = up_block(h, None)  # (B, C_i, h * 2^i, w * 2^i)
    h = dec.conv_norm_out(h)
    if not last:
        return h
    return dec.conv_out(dec.conv_act(h))  # (B, 3, 8h, 8w)


def _run_hook(vae) -> None:
    """Let accelerate's model-offload hook move the VAE to its device, as `vae.decode` would."""
    hook = getattr(vae, "_hf_hook", None)
    if hook is not None and hasattr(hook, "pre_forward"):
        hook.pre_forward(vae)


def _write_core(out: torch.Tensor | None, res: torch.Tensor, t: _Tile, latent_hw) -> torch.Tensor:
    """Copy a decoded tile's core into the output image (B, 3, H, W), created on the first tile."""
    s = res.shape[-2] // (t.y1 - t.y0)  # output pixels per latent pixel
    if out is None:
        shape = (res.shape[0], res.shape[1], latent_hw[0] * s, latent_hw[1] * s)
        out = torch.empty(shape, device=res.device, dtype=res.dtype)  # (B, 3, H, W)
    out[(..., *t.core(s))] = res[(..., *t.core_in_tile(s))]
    return out


def tiled_decode(
    vae,
    z: torch.Tensor,
    tile: int = 64,
    overlap: int = 16,
    passes: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    wrap: tuple[bool, bool] = (False, False),
) -> torch.Tensor:
    """Decode latents z (B, 4, h, w), already divided by the scaling factor, like `vae.decode(z).sample`.

    `tile` is the core size and `overlap` the halo on each side, both in latent pixels (cores are exact
    given exact statistics when overlap >= `receptive_radius(vae)`, 12.25 for the SDXL VAE). `passes=1`
    normalises each tile with its own statistics (diffusers-like, seams); `passes=P >= 2` measures
    whole-image statistics in P-1 passes and decodes seam-free with them in the last (see the module
    docs; 3, the default, is the smallest useful P). `on_progress(done, total)` follows every tile of
    every pass; Cancelled is raised when `should_cancel()` turns true between tiles. `wrap` (x, y):
    tiles at the image edge take their halo from the opposite edge (tileable images, seamless.py).
    """
    passes = DEFAULT_PASSES if passes is None else passes
    if passes < 1:
        raise ValueError(f"passes must be >= 1 (got {passes})")
    _check_decoder(vae)
    _run_hook(vae)
    dec = vae.decoder
    weight = dec.conv_in.weight
    z = z.to(device=weight.device, dtype=weight.dtype)  # (B, 4, h, w)
    tiles = tile_layout(z.shape[-2], z.shape[-1], tile, overlap)
    if len(tiles) == 1:
        passes = 1  # one tile: its own statistics are the whole image's
    total, done = passes * len(tiles), 0
    state = _PassState()
    out: torch.Tensor | None = None
    with torch.no_grad():
        if vae.post_quant_conv is not None:
            z = vae.post_quant_conv(z)
        h = dec.mid_block(dec.conv_in(z), None)  # (B, C, h, w), exact on the whole latent
        if any(wrap):  # tileable: halos wrap around the image edges (model/inference/seamless.py)
            from .seamless import wrap_tiles

            h, tiles, crop = wrap_tiles(h, tiles, overlap, wrap)
        with shared_groupnorms(dec, state) as norms:
            for p in range(passes):
                last = p == passes - 1
                state.measure = not last
                state.mode = "local" if p == 0 else "global" if last else "corrected"
                for i, t in enumerate(tiles):
                    state.tile_index = i
                    if should_cancel is not None and should_cancel():
                        raise Cancelled("decoding cancelled")
                    state.tile = t
                    res = _up_path(dec, h[:, :, t.y0 : t.y1, t.x0 : t.x1], last)
                    if last:
                        out = _write_core(out, res, t, h.shape[-2:])
                    del res
                    done += 1
                    if on_progress is not None:
                        on_progress(done, total)
                if not last:
                    for norm in norms:
                        norm.finish_pass()
    return crop(out) if any(wrap) else out


# ------------------------------------------------------------------ memory planning


def _channels(vae) -> list[int]:
    """Decoder channels per up block, in the order the up path runs them."""
    return list(reversed(vae.config.block_out_channels))


def _up_path_activation(vae, latent_h: int, latent_w: int) -> int:
    """Elements of the up path's largest activation per sample (an upsampler's output, usually)."""
    rev = _channels(vae)
    best = 0
    for i, c in enumerate(rev):
        c_in = rev[i - 1] if i else rev[0]
        best = max(best, (4**i) * latent_h * latent_w * max(c_in, c))
    return best


def untiled_decode_bytes(vae, latent_h: int, latent_w: int, batch: int = 1, dtype_bytes: int = 4) -> int:
    """Estimated peak working memory of `vae.decode` on a latent_h x latent_w latent (weights excluded)."""
    up = _UP_PATH_FACTOR * _up_path_activation(vae, latent_h, latent_w)
    mid = _MID_FACTOR * latent_h * latent_w * _channels(vae)[0]
    return int(batch * dtype_bytes * max(up, mid))


def tiled_decode_bytes(
    vae,
    tile: int,
    overlap: int,
    dtype_bytes: int = 4,
    latent_h: int = 0,
    latent_w: int = 0,
    batch: int = 1,
) -> int:
    """Estimated peak working memory of `tiled_decode`: one tile's up path, plus (if the latent size
    is given) the whole-latent mid-block stage, its kept output and the output image."""
    if latent_h and latent_w:  # the largest tile of the actual layout
        tiles = tile_layout(latent_h, latent_w, tile, overlap)
        th, tw = max(t.y1 - t.y0 for t in tiles), max(t.x1 - t.x0 for t in tiles)
    else:
        th = tw = tile + 2 * overlap
    per_tile = _UP_PATH_FACTOR * _up_path_activation(vae, th, tw)
    c_mid = _channels(vae)[0]
    kept = latent_h * latent_w * c_mid  # mid-block output, kept for every pass
    scale = 4 ** (len(_channels(vae)) - 1)
    image = latent_h * latent_w * scale * vae.config.out_channels  # (B, 3, H, W) output
    mid = _MID_FACTOR * latent_h * latent_w * c_mid
    return int(batch * dtype_bytes * (max(per_tile + kept, mid) + image))


def free_memory_bytes(device: torch.device | str) -> int:
    """Memory we may plan with on `device`: free CUDA memory, else available system RAM, with a margin."""
    device = torch.device(device)
    kind = "cuda" if device.type == "cuda" else "cpu"
    return int(free_memory(device if kind == "cuda" else "cpu") * _SAFETY[kind])


_AUTO_TILES = (128, 96, 64, 48, 32)


def decode(vae, z: torch.Tensor, mode: str = "auto", budget_bytes: int | None = None, **kw) -> torch.Tensor:
    """Decode z (B, 4, h, w) with `vae.decode` ("full"), `tiled_decode` ("tiled"), or whichever fits ("auto").

    "auto" decodes untiled when `untiled_decode_bytes` fits `budget_bytes` (default: free memory on
    the VAE's device) and otherwise tiles, with the largest tile that fits unless `tile` is given.
    """
    if mode not in ("auto", "full", "tiled"):
        raise ValueError(f"decode mode must be auto, full or tiled (got {mode!r})")
    batch, _, lh, lw = z.shape
    dtype_bytes = vae.decoder.conv_in.weight.element_size()
    if mode == "auto":
        if budget_bytes is None:
            budget_bytes = free_memory_bytes(vae.decoder.conv_in.weight.device)
        if untiled_decode_bytes(vae, lh, lw, batch, dtype_bytes) <= budget_bytes:
            mode = "full"
        else:
            mode = "tiled"
            if "tile" not in kw:
                overlap = kw.get("overlap", 16)
                fits = [
                    t
                    for t in _AUTO_TILES
                    if tiled_decode_bytes(vae, t, overlap, dtype_bytes, lh, lw, batch) <= budget_bytes
                ]
                kw["tile"] = fits[0] if fits else _AUTO_TILES[-1]
    if mode == "full":
        with torch.no_grad():
            return vae.decode(z.to(vae.decoder.conv_in.weight.dtype)).sample
    return tiled_decode(vae, z, **kw)


def receptive_radius(vae) -> float:
    """Receptive-field radius of the up path in latent pixels (cores are exact when overlap >= it)."""
    sizes: list[tuple[int, int, int]] = []  # (kernel half-width * dilation, input height)
    hooks = []
    dec = vae.decoder
    convs = [m for m in list(dec.up_blocks.modules()) + [dec.conv_out] if isinstance(m, nn.Conv2d)]
    for conv in convs:
        reach = (conv.kernel_size[0] // 2) * conv.dilation[0]
        hooks.append(conv.register_forward_pre_hook(lambda m, a, r=reach: sizes.append((r, a[0].shape[-2]))))
    try:
        with torch.no_grad():
            weight = dec.conv_in.weight
            h = torch.zeros(1, dec.conv_in.out_channels, 2, 2, device=weight.device, dtype=weight.dtype)
            _up_path(dec, h, last=True)
    finally:
        for hook in hooks:
            hook.remove()
    return sum(r / (size / 2) for r, size in sizes)
