"""Position embeddings that stay inside the trained range on token grids larger than the model's own.

diffusers' PatchEmbed spreads an N-token side over positions `i * base / N` (base = the trained grid
side, `sample_size // patch_size`), i.e. from 0 to `base - base / N`. A model trained on base x base
tokens has only seen positions up to `base - 1`, so on a larger grid the last `N / base` tokens of a
side (about 120 px at 1920 px wide for a 256 px model) get positions it never saw: that is the band
of vertical lines along the right edge (and a thinner one along the bottom) in direct mode.

`fit_positions(transformer)` replaces the embedding's forward so that a side longer than `base`
spreads over `0 .. base - EDGE_MARGIN` (`i * (base - EDGE_MARGIN) / (N - 1)`). The margin is measured,
not derived: with the demo model at 960x544 (10 steps, seed 1) spreading to `base - 1` still left a
16 px line at the right edge (the trained last column acts as an edge when its neighbours crowd it);
`base - 1.5` leaves none (right-edge gradient energy 0.90x the centre's, vs 1.84x stock and 2.0x at
`base - 1`; `base - 2` the same as 1.5). A grid of at most base x base tokens
(the trained area, any aspect ratio: the released models train on aspect buckets of that area) runs
the stock forward untouched, so images within the model's resolution stay bit-identical; on a larger
grid, sides up to `base` keep the stock positions. `unfit_positions` restores the stock forward.

May import: torch, diffusers. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import torch
from torch import nn

EDGE_MARGIN = 1.5  # a fitted side ends this many trained positions before `base`


def axis_positions(n: int, base: int, device=None) -> torch.Tensor:
    """Positions of an n-token side: stock `i * base / n` up to base tokens, else `0 .. base - EDGE_MARGIN`."""
    index = torch.arange(n, device=device, dtype=torch.float32)
    if n <= base:
        return index / (n / base)
    return index * ((base - EDGE_MARGIN) / (n - 1))


def fitted_embedding(embed_dim: int, grid_hw: tuple[int, int], base: int, scale: float, device=None) -> torch.Tensor:
    """(1, H*W, D) sin-cos embedding of an H x W grid in the stock layout (w first, as diffusers)."""
    from diffusers.models.embeddings import get_2d_sincos_pos_embed_from_grid

    h, w = grid_hw
    grid_h = axis_positions(h, base, device) / scale
    grid_w = axis_positions(w, base, device) / scale
    grid = torch.stack(torch.meshgrid(grid_w, grid_h, indexing="xy"), dim=0).reshape(2, 1, w, h)
    return get_2d_sincos_pos_embed_from_grid(embed_dim, grid, output_type="pt").float().unsqueeze(0)


def _fitted_forward(module: nn.Module, stock):
    """A PatchEmbed forward that fits the positions of sides longer than the trained grid."""

    def forward(latent: torch.Tensor) -> torch.Tensor:
        patch = module.patch_size
        h, w = latent.shape[-2] // patch, latent.shape[-1] // patch
        base = module.base_size
        if module.pos_embed is None or module.pos_embed_max_size or h * w <= base * base:
            return stock(latent)
        tokens = module.proj(latent).flatten(2).transpose(1, 2)  # (B, N, D)
        if module.layer_norm:
            tokens = module.norm(tokens)
        pos = fitted_embedding(
            module.pos_embed.shape[-1], (h, w), base, float(module.interpolation_scale), latent.device
        )
        return (tokens + pos).to(tokens.dtype)

    return forward


def fit_positions(transformer: nn.Module) -> None:
    """Install the fitted position embedding on a PixArtTransformer2DModel (idempotent)."""
    embed = transformer.pos_embed
    if "_stock_forward" in embed.__dict__:
        return
    stock = embed.forward
    embed.__dict__["_stock_forward"] = stock
    embed.forward = _fitted_forward(embed, stock)


def unfit_positions(transformer: nn.Module) -> None:
    """Back to diffusers' own position embedding."""
    embed = transformer.pos_embed
    if "_stock_forward" in embed.__dict__:
        del embed.__dict__["_stock_forward"]
        del embed.forward
