"""Tileable generation: the rolling hook, the wrapping VAE decode (untiled and tiled), the seam score,
and the engine end to end with KV compression (tiny random models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
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
