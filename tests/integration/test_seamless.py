"""Tileable generation: the rolling hook, the wrapping VAE decode (untiled and tiled), the seam score,
and the engine end to end with KV compression (tiny random models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from model.errors import BadRequest
from model.inference import seamless
from model.inference.engine import Engine
from model.request import GenerationRequest, validate_request


@pytest.fixture(scope="module")
def vae():
    from diffusers import AutoencoderKL

    from model.configs import vae_config

    torch.manual_seed(0)
    return AutoencoderKL(**vae_config((8, 8, 16, 16), 4, layers_per_block=1)).eval()


class Recorder(nn.Module):
    """A stand-in DiT: records what it was given, returns it times two (so rolling back is checkable)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, hidden_states, encoder_hidden_states=None, return_dict=False):
        self.seen.append(hidden_states.clone())
        return (hidden_states * 2,)


def test_rolling_latents_rolls_the_input_per_call_and_rolls_the_output_back():
    model = Recorder()
    x = torch.arange(2 * 4 * 16 * 16, dtype=torch.float32).reshape(2, 4, 16, 16)
    with seamless.rolling_latents(model, "both", seed=3):
        outs = [model(x, encoder_hidden_states=None)[0] for _ in range(6)]
    for out in outs:
        assert torch.equal(out, x * 2)  # rolled back exactly
    shifts = set()
    for seen in model.seen:
        found = [(dy, dx) for dy in range(16) for dx in range(16) if torch.equal(torch.roll(x, (dy, dx), (-2, -1)), seen)]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) >= 5  # the offset changes from call to call
    assert not model._forward_hooks and not model._forward_pre_hooks  # removed afterwards
    model(x)
    assert torch.equal(model.seen[-1], x)


def test_one_axis_rolls_only_along_it():
    model = Recorder()
    x = torch.randn(1, 4, 16, 16)
    with seamless.rolling_latents(model, "x"):
        for _ in range(4):
            model(hidden_states=x)
    for seen in model.seen:
        assert any(torch.equal(torch.roll(x, dx, -1), seen) for dx in range(16))


def test_off_changes_nothing_and_bad_axes_are_refused():
    model = Recorder()
    with seamless.rolling_latents(model, "off") as roller:
        assert roller is None
        assert not model._forward_pre_hooks
    with pytest.raises(BadRequest, match="tileable 'diagonal' is not one of off, x, y, both"):
        validate_request(GenerationRequest("a", width=256, height=256, tileable="diagonal"))


@pytest.mark.parametrize("mode", ["full", "tiled"])
def test_wrapping_decode_is_shift_equivariant(vae, mode):
    """Decoding a rolled latent gives the rolled image: the decode has no edges on the wrapped axes."""
    torch.manual_seed(1)
    z = torch.randn(1, 4, 24, 24)
    kw = {"tile": 16, "overlap": 8} if mode == "tiled" else {}
    with torch.no_grad():
        a = seamless.wrapping_decode(vae, z, "both", mode=mode, **kw)
        b = seamless.wrapping_decode(vae, torch.roll(z, (5, 7), (-2, -1)), "both", mode=mode, **kw)
    assert a.shape == (1, 3, 192, 192)
    error = (torch.roll(a, (40, 56), (-2, -1)) - b).abs().max().item()
    assert error < (1e-4 if mode == "full" else 0.05), error
    for conv in vae.modules():  # patches removed
        assert "_conv_forward" not in vars(conv)


def test_wrapping_decode_x_only_keeps_zero_padding_on_y(vae):
    z = torch.randn(1, 4, 16, 16)
    with torch.no_grad():
        a = seamless.wrapping_decode(vae, z, "x", mode="full")
        b = seamless.wrapping_decode(vae, torch.roll(z, 4, -1), "x", mode="full")
        c = seamless.wrapping_decode(vae, torch.roll(z, 4, -2), "x", mode="full")
    assert (torch.roll(a, 32, -1) - b).abs().max() < 1e-4
    assert (torch.roll(a, 32, -2) - c).abs().max() > 1e-2  # y has edges


def test_seam_score_is_one_for_a_periodic_image_and_large_for_a_gradient():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(256, 256))
    fy, fx = np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij")
    smooth = np.real(np.fft.ifft2(np.fft.fft2(noise) * np.exp(-(fx**2 + fy**2) * 400)))  # periodic blur
    pixels = (127 + 100 * smooth / np.abs(smooth).max()).astype(np.uint8)
    scores = [seamless.seam_score(Image.fromarray(np.roll(pixels, (k, 3 * k), (0, 1)))) for k in range(0, 256, 4)]
    assert np.mean(scores) == pytest.approx(1.0, abs=0.05)  # the wrap is like any other column/row
    assert max(scores) < 1.6
    cut = Image.fromarray(np.ascontiguousarray(pixels[:, 40:200]))  # not periodic any more
    assert seamless.seam_score(cut, "x") > 3
    ramp = Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1)))
    assert seamless.seam_score(ramp, "x") > 50
    with pytest.raises(ValueError):
        seamless.seam_score(ramp, "z")


def test_engine_makes_a_tileable_image_with_kv_compression_and_records_it(tiny_pipeline_dir, tmp_path):
    engine = Engine(device="cpu", cache_dir=tmp_path / "cache")
    engine.load(str(tiny_pipeline_dir))
    calls = []
    transformer = engine.pipe.transformer
    handle = transformer.register_forward_pre_hook(lambda m, a, k: calls.append(1), with_kwargs=True)
    request = GenerationRequest("a pattern", width=256, height=256, steps=3, seed=5, kv_compress="2", tileable="both")
    result = engine.generate(request)
    handle.remove()
    image = result.images[0]
    assert image.image.size == (256, 256)
    assert image.params["tileable"] == "both" and result.kv_factor == 2
    assert len(calls) == 3
    assert not transformer._forward_hooks
    assert all("Roller" not in repr(hook) for hook in transformer._forward_pre_hooks.values())  # ours removed
    plain = engine.generate(GenerationRequest("a pattern", width=256, height=256, steps=3, seed=5, kv_compress="2"))
    assert "tileable" not in plain.images[0].params
    assert not np.array_equal(np.asarray(plain.images[0].image), np.asarray(image.image))


def test_generate_tileable_on_the_command_line_is_recorded(tiny_pipeline_dir, tmp_path, capsys):
    from app.cli import run_cli
    from app.metadata import read_params

    out = tmp_path / "tile.png"
    args = ["generate", "tiles", "--model", str(tiny_pipeline_dir), "--steps", "2", "--size", "256x256",
            "--seed", "3", "--tileable", "y", "--out", str(out)]
    assert run_cli(args) == 0
    assert read_params(out)["tileable"] == "y"
    assert run_cli(args[:-4] + ["--tileable", "diagonal"]) == 2
    assert "invalid choice: 'diagonal'" in capsys.readouterr().err


def test_wrapping_resize_keeps_a_periodic_image_periodic():
    rng = np.random.default_rng(2)
    noise = rng.normal(size=(128, 128))
    fy, fx = np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128), indexing="ij")
    smooth = np.real(np.fft.ifft2(np.fft.fft2(noise) * np.exp(-(fx**2 + fy**2) * 300)))
    tile = Image.fromarray((127 + 120 * smooth / np.abs(smooth).max()).astype(np.uint8)).convert("RGB")
    wrapped = seamless.wrapping_resize(tile, (100, 90), "both")
    plain = tile.resize((100, 90), Image.LANCZOS)
    assert wrapped.size == (100, 90)
    assert seamless.seam_score(wrapped) < seamless.seam_score(plain)
    assert seamless.seam_score(wrapped) < 1.6
    assert np.abs(np.asarray(wrapped, float)[20:70, 20:80] - np.asarray(plain, float)[20:70, 20:80]).max() <= 1
    assert seamless.wrapping_resize(tile, (64, 64), "off").size == (64, 64)


def _tiled_oracle(x: torch.Tensor, size_hw: tuple[int, int], mode: str) -> torch.Tensor:
    """The resize of a periodic latent computed the slow way: interpolate a 3x3 tiling, keep the middle."""
    h, w = size_hw
    big = F.interpolate(x.repeat(1, 1, 3, 3), size=(3 * h, 3 * w), mode=mode, align_corners=False)
    return big[..., h: 2 * h, w: 2 * w]


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
@pytest.mark.parametrize("size", [(48, 40), (37, 53)])
def test_wrapping_interpolate_reads_across_the_wrap(mode, size):
    torch.manual_seed(4)
    x = torch.randn(2, 4, 16, 20)
    wrapped = seamless.wrapping_interpolate(x, size, mode, "both")
    plain = F.interpolate(x, size=size, mode=mode, align_corners=False)
    assert (wrapped - _tiled_oracle(x, size, mode)).abs().max() < 1e-4  # periodic everywhere
    assert (wrapped - plain)[..., 4:-4, 4:-4].abs().max() < 1e-4  # interpolate itself inside
    assert (wrapped - plain).abs().max() > 0.1  # the edges are what changed
    only_x = seamless.wrapping_interpolate(x, size, mode, "x")
    oracle_x = F.interpolate(x.repeat(1, 1, 1, 3), size=(size[0], 3 * size[1]), mode=mode, align_corners=False)
    assert (only_x - oracle_x[..., size[1]: 2 * size[1]]).abs().max() < 1e-4  # clamped like interpolate on y
    assert torch.equal(seamless.wrapping_interpolate(x, size, mode, "off"), plain)


def test_refine_resizes_wrap_for_tileable_images_and_are_unchanged_otherwise():
    """The cause of the visible wraps at 512^2 and 1024^2: the refine path's upscale and keep_composition
    clamped at the edges. Tileable: equal to the periodic oracle; off: exactly the old interpolate."""
    from model.inference import refine

    torch.manual_seed(5)
    x, refined = torch.randn(1, 4, 16, 24), torch.randn(1, 4, 32, 48)
    up = refine.upscale_latents(x, (32, 48), "both")
    assert (up - _tiled_oracle(x, (32, 48), "bicubic")).abs().max() < 1e-4
    assert torch.equal(refine.upscale_latents(x, (32, 48)),
                       F.interpolate(x, size=(32, 48), mode="bicubic", align_corners=False))
    kept = refine.keep_composition(refined, up, (16, 24), "both")

    def low(t: torch.Tensor) -> torch.Tensor:
        return _tiled_oracle(F.interpolate(t, size=(16, 24), mode="area"), (32, 48), "bilinear")

    assert (kept - (refined - low(refined) + low(up))).abs().max() < 1e-4
    shifted = refine.keep_composition(torch.roll(refined, (6, 10), (-2, -1)), torch.roll(up, (6, 10), (-2, -1)),
                                      (16, 24), "both")
    assert (torch.roll(kept, (6, 10), (-2, -1)) - shifted).abs().max() < 1e-4  # no edges on the wrap
    plain = refine.keep_composition(refined, up, (16, 24))
    assert (plain - kept).abs().max() > 0.05 and (plain - kept)[..., 4:-4, 4:-4].abs().max() < 1e-4


def test_circular_convs_make_the_encoder_shift_equivariant(vae):
    """The pixel upscaler encodes a tileable image: its Downsample2D zero-pads right and bottom itself."""
    torch.manual_seed(6)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        with seamless.circular_convs(vae.encoder, "both"):
            a = vae.encode(x).latent_dist.mean
            b = vae.encode(torch.roll(x, (8, 16), (-2, -1))).latent_dist.mean
        plain = vae.encode(torch.roll(x, (8, 16), (-2, -1))).latent_dist.mean
    assert (torch.roll(a, (1, 2), (-2, -1)) - b).abs().max() < 1e-4
    assert (torch.roll(a, (1, 2), (-2, -1)) - plain).abs().max() > 1e-2  # restored afterwards: edges again
    assert all("_conv_forward" not in vars(conv) for conv in vae.modules())


def test_engine_refine_stages_upscale_across_the_wrap(tiny_pipeline_dir, tmp_path, monkeypatch):
    """A tileable image on the refine path: the latents each refine stage starts from are the periodic
    upscale of the stage before (both upscalers run); a normal image keeps the plain upscale."""
    from model.inference import refine

    engine = Engine(device="cpu", cache_dir=tmp_path / "cache")
    engine.load(str(tiny_pipeline_dir))
    seen = []
    real = refine.upscale_latents

    def spy(latents, size_hw, tileable="off"):
        out = real(latents, size_hw, tileable)
        seen.append((latents.clone(), out.clone(), tileable))
        return out

    monkeypatch.setattr(refine, "upscale_latents", spy)
    for tileable in ("both", "off"):
        request = GenerationRequest("tiles", width=512, height=256, steps=4, seed=2, hires="refine",
                                    tileable=tileable)
        assert engine.generate(request).images[0].params["hires"]["path"] == "refine"
    (small, up, mode), (small_off, up_off, mode_off) = seen
    assert mode == "both" and mode_off == "off"
    scale = small.abs().max()  # a random tiny model's latents are large: tolerances relative to them
    assert (up - _tiled_oracle(small.float(), tuple(up.shape[-2:]), "bicubic")).abs().max() < 1e-5 * scale
    assert (up_off - _tiled_oracle(small_off.float(), tuple(up_off.shape[-2:]), "bicubic")).abs().max() > 1e-2 * scale
    pixel = GenerationRequest("tiles", width=512, height=256, steps=4, seed=2, hires="refine", upscaler="pixel",
                              tileable="both")
    assert engine.generate(pixel).images[0].image.size == (512, 256)


def test_interior_scores_are_the_seam_score_at_inner_boundaries():
    rng = np.random.default_rng(7)
    pixels = rng.integers(100, 110, size=(64, 96, 3)).astype(np.uint8)
    pixels[:, 40:] += 60  # a step between columns 39 and 40 (a boundary: 40 = 5 x 8)
    scores = seamless.interior_scores(pixels, "x")
    assert len(scores) == 11  # columns 7|8 ... 87|88
    assert scores[4] == max(scores) > 10
    rolled = np.roll(pixels, -40, axis=1)  # that step is now the wrap
    assert seamless.seam_score(rolled, "x") == pytest.approx(scores[4], rel=0.01)  # inner set differs by one pair
    assert seamless.interior_scores(pixels, "y").max() < 2
    with pytest.raises(ValueError):
        seamless.interior_scores(pixels, "both")
