"""Tiled VAE decoding: faithful to the untiled decode, seam-free, any latent size, progress/cancel, auto mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from model.errors import Cancelled
from model.inference import vae_tiling
from model.inference.vae_tiling import (
    decode,
    tile_layout,
    tiled_decode,
    tiled_decode_bytes,
    untiled_decode_bytes,
)

TILE, OVERLAP = 16, 8  # small tiles so that the test latents really tile (the engine uses 64 / 16)


@pytest.fixture(scope="module")
def vae():
    """SDXL-VAE block structure with few channels; GroupNorm affines randomised a little so stats matter."""
    from diffusers import AutoencoderKL

    from model.configs import vae_config

    torch.manual_seed(0)
    model = AutoencoderKL(**vae_config((8, 8, 16, 16), 4, layers_per_block=2)).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.GroupNorm):
                m.weight.normal_(1.0, 0.1)
                m.bias.normal_(0.0, 0.1)
    return model


def latents(h: int, w: int, batch: int = 1, seed: int = 1) -> torch.Tensor:
    """Random latents (B, 4, h, w)."""
    return torch.randn(batch, 4, h, w, generator=torch.Generator().manual_seed(seed))


def untiled(vae, z: torch.Tensor) -> torch.Tensor:
    """The reference: diffusers' own untiled decode (B, 3, 8h, 8w)."""
    with torch.no_grad():
        return vae.decode(z).sample


def diffusers_tiled(vae, z: torch.Tensor) -> torch.Tensor:
    """diffusers' `enable_tiling()` decode with tiles as small as ours (per-tile GroupNorm, blended)."""
    vae.enable_tiling()
    vae.tile_latent_min_size, vae.tile_sample_min_size = TILE, TILE * 8
    try:
        with torch.no_grad():
            return vae.decode(z).sample
    finally:
        vae.disable_tiling()


def seam_error(out: torch.Tensor, ref: torch.Tensor, h: int, w: int) -> tuple[float, float]:
    """(max, median over lines) error of the pixel-to-pixel step across the tile-core borders."""
    rows = sorted({t.cy0 * 8 for t in tile_layout(h, w, TILE, OVERLAP)} - {0})
    cols = sorted({t.cx0 * 8 for t in tile_layout(h, w, TILE, OVERLAP)} - {0})
    jumps = [
        ((out[..., r, :] - out[..., r - 1, :]) - (ref[..., r, :] - ref[..., r - 1, :])).abs() for r in rows
    ]
    jumps += [((out[..., c] - out[..., c - 1]) - (ref[..., c] - ref[..., c - 1])).abs() for c in cols]
    per_line = torch.stack([j.max() for j in jumps])
    return per_line.max().item(), per_line.median().item()


_DECODED: dict[tuple[int, int], dict[str, torch.Tensor]] = {}


def decoded(vae, h: int, w: int) -> dict[str, torch.Tensor]:
    """Untiled, ours (default passes), ours with per-tile statistics and diffusers' tiling; cached."""
    if (h, w) not in _DECODED:
        z = latents(h, w)
        _DECODED[h, w] = {
            "ref": untiled(vae, z),
            "ours": tiled_decode(vae, z, tile=TILE, overlap=OVERLAP),
            "per_tile": tiled_decode(vae, z, tile=TILE, overlap=OVERLAP, passes=1),
            "diffusers": diffusers_tiled(vae, z),
        }
    return _DECODED[h, w]


@pytest.mark.parametrize("h, w", [(40, 56), (33, 47)])
def test_far_more_faithful_than_diffusers_tiling(vae, h, w):
    d = decoded(vae, h, w)
    ref = d["ref"]
    assert d["ours"].shape == ref.shape == d["diffusers"].shape == (1, 3, 8 * h, 8 * w)
    err_ours = (d["ours"] - ref).abs().max().item()
    err_theirs = (d["diffusers"] - ref).abs().max().item()
    assert err_theirs > 0.5, "diffusers' tiling should visibly differ on this model"
    assert err_ours < 0.06
    assert err_ours < err_theirs / 20


@pytest.mark.parametrize("h, w", [(40, 56), (33, 47)])
def test_per_tile_statistics_leave_seams_shared_ones_do_not(vae, h, w):
    d = decoded(vae, h, w)
    seam_tile, typical_tile = seam_error(d["per_tile"], d["ref"], h, w)
    seam_ours, _ = seam_error(d["ours"], d["ref"], h, w)
    print(f"seams {h}x{w}: per-tile max {seam_tile:.3g} median {typical_tile:.3g}, ours max {seam_ours:.3g}")
    assert seam_tile > 0.1 and typical_tile > 0.03  # a visible step along the tile borders
    assert seam_ours < seam_tile / 10


def test_staged_decode_is_the_vae_decode_when_a_tile_sees_everything(vae):
    """With halos covering the whole latent, every tile's statistics are the image's: equal to vae.decode."""
    z = latents(20, 28, seed=3)
    out = tiled_decode(vae, z, tile=12, overlap=40, passes=1)
    assert (out - untiled(vae, z)).abs().max().item() < 1e-4


@pytest.mark.parametrize("h, w", [(5, 7), (1, 1), (3, 21)])
def test_latents_smaller_than_a_tile(vae, h, w):
    z = latents(h, w, seed=4)
    ref = untiled(vae, z)
    out = tiled_decode(vae, z, tile=TILE, overlap=OVERLAP)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() < 0.06


def test_batch_of_two_uses_per_sample_statistics(vae):
    z = torch.cat([latents(17, 24, seed=5), 2.0 * latents(17, 24, seed=6)])
    ref = untiled(vae, z)
    out = tiled_decode(vae, z, tile=TILE, overlap=OVERLAP)
    assert out.shape == (2, 3, 136, 192)
    assert (out - ref).abs().max().item() < 0.06
    alone = tiled_decode(vae, z[1:], tile=TILE, overlap=OVERLAP)
    assert (alone[0] - out[1]).abs().max().item() < 1e-4


def groupnorm_slots(vae) -> list[tuple[str, int]]:
    """(name, id) of every GroupNorm in the VAE: what must be back in place after a tiled decode."""
    return [(name, id(m)) for name, m in vae.named_modules() if isinstance(m, nn.GroupNorm)]


def test_progress_counts_every_tile_of_every_pass(vae):
    z = latents(17, 20, seed=7)
    calls = []
    tiled_decode(vae, z, tile=TILE, overlap=OVERLAP, passes=3, on_progress=lambda d, t: calls.append((d, t)))
    n = len(tile_layout(17, 20, TILE, OVERLAP))
    assert n == 4
    assert calls == [(i + 1, 3 * n) for i in range(3 * n)]


def test_cancel_raises_and_leaves_the_vae_as_it_was(vae):
    z = latents(17, 20, seed=8)
    before = groupnorm_slots(vae)
    expected = untiled(vae, z)
    seen = []
    with pytest.raises(Cancelled):
        tiled_decode(
            vae,
            z,
            tile=TILE,
            overlap=OVERLAP,
            on_progress=lambda d, t: seen.append(d),
            should_cancel=lambda: len(seen) >= 6,  # in the second pass
        )
    assert seen == list(range(1, 7))
    assert groupnorm_slots(vae) == before
    assert not any(type(m).__name__ == "_SharedGroupNorm" for m in vae.modules())
    assert torch.equal(untiled(vae, z), expected)


class Boom(nn.Module):
    """A layer that fails like an out-of-memory error would."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("out of memory")


def test_groupnorms_restored_after_an_error(vae):
    # A private copy carries the failing layer: the shared fixture VAE is never modified, so no
    # teardown (monkeypatch.undo deletes a replaced nn.Module child on pytest >= 9.2) can break it.
    broken = vae_tiling_copy(vae)
    before = groupnorm_slots(broken)
    broken.decoder.up_blocks[1].resnets[0].conv1 = Boom()
    with pytest.raises(RuntimeError, match="out of memory"):
        tiled_decode(broken, latents(20, 20), tile=TILE, overlap=OVERLAP)
    assert groupnorm_slots(broken) == before
    assert isinstance(vae.decoder.up_blocks[1].resnets[0].conv1, nn.Conv2d)


def test_bfloat16_vae(vae):
    """A low-precision VAE decodes in its own dtype, close to its own untiled decode."""
    low = vae_tiling_copy(vae).to(torch.bfloat16)
    z = latents(17, 20, seed=9)
    ref = untiled(low, z.to(torch.bfloat16)).float()
    out = tiled_decode(low, z, tile=TILE, overlap=OVERLAP)
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().mean().item() < 0.02


def vae_tiling_copy(vae):
    """A deep copy of the fixture VAE (so that casting it leaves the shared one alone)."""
    import copy

    return copy.deepcopy(vae)


def test_tile_layout_cores_partition_any_size():
    for h, w in [(1, 1), (16, 16), (17, 33), (40, 56), (128, 96)]:
        tiles = tile_layout(h, w, 16, 8)
        covered = torch.zeros(h, w, dtype=torch.int32)
        for t in tiles:
            assert 0 <= t.y0 <= t.cy0 < t.cy1 <= t.y1 <= h and 0 <= t.x0 <= t.cx0 < t.cx1 <= t.x1 <= w
            assert t.cy0 - t.y0 <= 8 and t.y1 - t.cy1 <= 8 and t.cy1 - t.cy0 <= 16
            covered[t.cy0 : t.cy1, t.cx0 : t.cx1] += 1
        assert bool((covered == 1).all())
    with pytest.raises(ValueError):
        tile_layout(8, 8, 0, 4)


def test_receptive_field_of_the_sdxl_up_path_fits_the_default_overlap(vae):
    assert vae_tiling.receptive_radius(vae) == pytest.approx(12.25)  # same block structure as the SDXL VAE
    assert vae_tiling.receptive_radius(vae) <= 16


def test_memory_estimates(vae):
    small, big = untiled_decode_bytes(vae, 32, 32), untiled_decode_bytes(vae, 128, 128)
    assert 0 < small < big and big == pytest.approx(16 * small, rel=0.01)
    assert untiled_decode_bytes(vae, 128, 128, batch=2) == pytest.approx(2 * big, abs=2)
    assert untiled_decode_bytes(vae, 128, 128, dtype_bytes=2) == pytest.approx(big / 2, abs=2)
    tiled = tiled_decode_bytes(vae, 64, 16, latent_h=512, latent_w=512)
    assert tiled < untiled_decode_bytes(vae, 512, 512) / 4
    assert tiled_decode_bytes(vae, 32, 8) < tiled_decode_bytes(vae, 64, 16)


def test_auto_mode_tiles_only_when_the_untiled_decode_does_not_fit(vae, monkeypatch):
    z = latents(17, 20, seed=10)
    calls = []
    real = vae_tiling.tiled_decode
    monkeypatch.setattr(vae_tiling, "tiled_decode", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    need = untiled_decode_bytes(vae, 17, 20)
    full = decode(vae, z, mode="auto", budget_bytes=need)
    assert calls == []
    assert torch.equal(full, untiled(vae, z))
    tiled = decode(vae, z, mode="auto", budget_bytes=need - 1, tile=TILE, overlap=OVERLAP)
    assert calls and calls[0]["tile"] == TILE
    assert tiled.shape == full.shape
    decode(vae, z, mode="auto", budget_bytes=need // 2)  # picks a tile size itself
    assert calls[-1]["tile"] in vae_tiling._AUTO_TILES
    assert decode(vae, z, mode="full").shape == full.shape
    decode(vae, z)  # default budget: free memory, plenty for this latent
    assert len(calls) == 2
    with pytest.raises(ValueError):
        decode(vae, z, mode="sideways")
