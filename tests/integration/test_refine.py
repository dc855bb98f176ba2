"""The high-resolution path (model/inference/refine.py) and the direct-mode edge band (positions.py):
stages, labels, progress, cancel, out-of-memory step-down inside a refine stage, metadata round trip,
bit-identical direct images within the trained resolution, and no band on the demo model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.errors import BadRequest, Cancelled
from model.inference import refine
from model.inference.engine import Engine, GenerationRequest
from model.inference.positions import fit_positions, unfit_positions


@pytest.fixture
def engine(tiny_pipeline_dir, tmp_path):
    eng = Engine(device="cpu", cache_dir=tmp_path / "cache")
    eng.load(str(tiny_pipeline_dir))
    return eng


@pytest.fixture(scope="module")
def demo():
    eng = Engine(device="cpu")
    eng.load(None)
    return eng


def req(**kw) -> GenerationRequest:
    base = dict(prompt="teal poster with orange circles", width=256, height=256, steps=4, seed=7)
    base.update(kw)
    return GenerationRequest(**base)


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_trained_resolution_from_the_config_and_auto_choice(engine, demo):
    assert engine.info.trained_resolution == 64  # tiny: sample_size 8 x VAE 8
    assert demo.info.trained_resolution == 256  # the demo model
    assert not refine.chooses_refine("auto", (256, 256), 64)  # toy models below app sizes stay direct
    assert refine.chooses_refine("auto", (1920, 1088), 256) and not refine.chooses_refine("auto", (352, 352), 256)
    assert refine.chooses_refine("auto", (3840, 2160), 1024) and not refine.chooses_refine("auto", (1024, 1024), 1024)
    assert refine.chooses_refine("refine", (256, 256), 1024) and not refine.chooses_refine("direct", (4096, 4096), 256)


def test_stage_plans_keep_the_aspect_ratio_and_grow_geometrically():
    stages = refine.plan_stages((1920, 1088), 256, True)
    assert [s.label for s in stages] == ["composing 1/3", "refining 2/3", "refining 3/3"]
    assert (stages[0].width, stages[0].height) == (336, 192) and stages[0].strength == 1.0
    assert (stages[-1].width, stages[-1].height) == (1920, 1088)
    assert stages[0].width < stages[1].width < stages[2].width
    assert all(s.width % 16 == 0 and s.height % 16 == 0 for s in stages)
    four_k = refine.plan_stages((3840, 2160), 1024, True)
    assert len(four_k) == 2 and (four_k[0].width, four_k[0].height) == (1360, 768)  # x2.8 in one stage
    assert len(refine.plan_stages((3840, 2160), 256, True)) == 4  # x11.4: three refine stages
    assert len(refine.plan_stages((3840, 2160), 256, True, stages=1)) == 2
    assert refine.plan_stages((1024, 1024), 1024, False)[0].label == ""


@pytest.mark.parametrize(
    "bad", [dict(hires="fast"), dict(refine_strength=0.0), dict(refine_stages=9), dict(upscaler="esrgan")]
)
def test_bad_path_settings_are_refused_clearly(engine, bad):
    with pytest.raises(BadRequest) as info:
        engine.generate(req(**bad))
    assert any(word in str(info.value) for word in ("path", "strength", "stages", "upscaler"))


def test_refine_is_one_job_with_stage_labels_progress_and_eta(engine):
    infos = []
    result = engine.generate(req(hires="refine", refine_stages=2), on_step=infos.append)
    image = result.images[0]
    assert image.image.size == (256, 256)
    denoise = [i for i in infos if i.phase == "denoise"]
    labels = list(dict.fromkeys(i.stage for i in denoise))
    assert labels == ["composing 1/3", "refining 2/3", "refining 3/3"]
    total = denoise[0].total
    assert [i.step for i in denoise] == list(range(1, total + 1)) and all(i.total == total for i in denoise)
    assert total == 4 + 2 * round(4 * refine.DEFAULT_STRENGTH)
    assert all(i.preview is not None for i in denoise) and denoise[-1].eta_s == pytest.approx(0.0, abs=1e-6)
    assert all(i.eta_s >= 0 for i in denoise) and denoise[0].eta_s > 0
    hires = image.params["hires"]
    assert hires["path"] == "refine" and hires["stages"] == 2 and hires["sizes"][-1] == "256x256"
    assert pixels(image.image).std() > 0


def test_refine_is_deterministic_and_differs_from_direct(engine):
    first = engine.generate(req(hires="refine")).images[0]
    again = engine.generate(req(hires="refine")).images[0]
    direct = engine.generate(req(hires="direct")).images[0]
    assert np.array_equal(pixels(first.image), pixels(again.image))
    assert not np.array_equal(pixels(first.image), pixels(direct.image))
    assert direct.params["hires"] == {"mode": "direct", "path": "direct"}


def test_pixel_upscaler_runs_and_is_recorded(engine):
    image = engine.generate(req(hires="refine", upscaler="pixel", refine_strength=0.5)).images[0]
    assert image.image.size == (256, 256) and image.params["hires"]["upscaler"] == "pixel"
    assert image.params["hires"]["strength"] == 0.5


def test_cancel_inside_a_refine_stage_leaves_engine_usable(engine):
    seen = []

    def on_step(info):
        seen.append(info.stage)

    def cancel() -> bool:
        return any(stage.startswith("refining") for stage in seen)

    with pytest.raises(Cancelled):
        engine.generate(req(hires="refine"), on_step=on_step, should_cancel=cancel)
    assert seen.count("refining 2/2") == 1  # stopped right after the first refining step
    assert engine.generate(req(hires="refine")).images[0].image.size == (256, 256)


def test_out_of_memory_inside_a_refine_stage_steps_down_and_keeps_the_composition(engine, monkeypatch):
    calls = []
    denoise = engine._denoise

    def flaky(*args, **kwargs):
        calls.append(kwargs.get("start") is not None)
        if kwargs.get("start") is not None and calls.count(True) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return denoise(*args, **kwargs)

    monkeypatch.setattr(engine, "_denoise", flaky)
    before = engine.plan.vae_tiling
    result = engine.generate(req(hires="refine"))
    assert calls == [False, True, True]  # composed once; only the refine stage ran again
    assert any("out of memory" in note for note in result.notes)
    assert engine.plan.vae_tiling == "tiled" and before != "tiled"
    assert result.images[0].image.size == (256, 256)


def test_metadata_round_trip_restores_the_path(engine, tmp_path):
    from app.metadata import build_params, hires_request_kwargs, read_params, save_image

    made = engine.generate(req(hires="refine", refine_strength=0.6, refine_stages=2, upscaler="pixel")).images[0]
    params = build_params(width=256, height=256, **{k: v for k, v in made.params.items() if k not in ("width", "height")})
    path = save_image(made.image, tmp_path / "refined.png", params)
    read = read_params(path)
    assert read["hires"] == made.params["hires"]
    kwargs = hires_request_kwargs(read)
    assert kwargs == {"hires": "refine", "refine_strength": 0.6, "refine_stages": 2, "upscaler": "pixel"}
    again = engine.generate(req(**kwargs)).images[0]
    assert np.array_equal(pixels(again.image), pixels(made.image))


def test_forced_direct_within_the_trained_resolution_is_bit_identical_to_stock(demo):
    """256x256 is the demo model's own resolution: the fitted positions must not touch it."""
    ours = demo.generate(req(hires="direct", steps=3)).images[0].image
    auto = demo.generate(req(steps=3)).images[0].image
    unfit_positions(demo.pipe.transformer)
    try:
        stock = demo.generate(req(hires="direct", steps=3)).images[0].image
    finally:
        fit_positions(demo.pipe.transformer)
    assert np.array_equal(pixels(ours), pixels(stock)) and np.array_equal(pixels(auto), pixels(stock))


def test_direct_mode_has_no_right_edge_band(demo):
    """The band of issue 12 (vertical lines along the right edge beyond the trained grid) is gone."""
    from model.demo.scoring import edge_band

    wide = req(hires="direct", width=768, height=432, steps=8, seed=1)
    words, demo.words = demo.words, None  # the prompt as the issue typed it, not as the tables read it
    try:
        fixed = demo.generate(wide).images[0].image
        unfit_positions(demo.pipe.transformer)
        stock = demo.generate(wide).images[0].image
    finally:
        fit_positions(demo.pipe.transformer)
        demo.words = words
    assert edge_band(stock) > 4.0  # the test sees the band where it is
    assert edge_band(fixed) < 2.5


def test_cli_refines_and_records_the_path(tiny_pipeline_dir, tmp_path, capsys):
    from app.cli import run_cli
    from app.metadata import hires_request_kwargs, read_params

    out = tmp_path / "refined.png"
    args = ["generate", "teal poster", "--model", str(tiny_pipeline_dir), "--steps", "2", "--size", "320x256",
            "--seed", "3", "--hires", "refine", "--refine-strength", "0.5", "--out", str(out)]
    assert run_cli(args) == 0
    params = read_params(out)
    assert params["hires"]["path"] == "refine" and params["hires"]["sizes"][-1] == "320x256"
    assert hires_request_kwargs(params)["refine_strength"] == 0.5
    assert run_cli([*args[:-2], "--refine-stages", "7", "--out", str(tmp_path / "bad.png")]) == 2
    assert "refine stages 7" in capsys.readouterr().err and not (tmp_path / "bad.png").exists()


def test_demo_model_reads_everyday_words_and_says_so(demo):
    typed = demo.generate(req(prompt="teal poster with orange circles", steps=2))
    params = typed.images[0].params
    assert params["prompt"] == "teal poster with orange circles"
    assert params["understood"] == "a teal wallpaper with orange dots"
    assert any("read the prompt as: a teal wallpaper with orange dots" in note for note in typed.notes)
    canonical = demo.generate(req(prompt="a teal wallpaper with orange dots", steps=2))
    assert "understood" not in canonical.images[0].params
    assert np.array_equal(pixels(typed.images[0].image), pixels(canonical.images[0].image))
    assert "orange" in demo.info.understands["colours"] and demo.info.understands["examples"]


def test_demo_model_says_which_colours_it_stands_in_and_which_pairs_it_never_learned(demo):
    coffee = demo.generate(req(prompt="coffee wallpaper with white polka dots", steps=2))
    assert coffee.images[0].params["understood"] == "a dark brown wallpaper with white dots"
    assert any("cannot draw brown: drawn as dark brown" in note for note in coffee.notes)
    assert not any("two shades" in note for note in coffee.notes)
    beige = demo.generate(req(prompt="beige poster with brown stripes", steps=2))
    assert any("has not learned two shades of one colour" in note for note in beige.notes)


def test_keep_composition_takes_the_detail_and_keeps_the_low_frequencies():
    import torch.nn.functional as F

    torch.manual_seed(0)
    start = torch.randn(1, 4, 32, 48)
    detail = 0.3 * torch.randn(1, 4, 32, 48)
    refined = start + 0.5 + detail  # a colour drift (+0.5) plus new detail
    kept = refine.keep_composition(refined, start, (16, 24))
    down = lambda x: F.interpolate(x, size=(16, 24), mode="area")  # noqa: E731
    inner = lambda x: down(x)[..., 1:-1, 1:-1]  # noqa: E731  (the outer ring: see the next test)
    drift_before = (inner(refined) - inner(start)).abs().mean()
    drift_after = (inner(kept) - inner(start)).abs().mean()
    assert drift_after < drift_before / 5  # the drift is (nearly) gone
    added = (kept - start)[..., 3:-3, 3:-3].flatten()
    assert torch.corrcoef(torch.stack([added, detail[..., 3:-3, 3:-3].flatten()]))[0, 1] > 0.8  # the detail stays


def test_keep_composition_leaves_the_compositions_edge_latents_out():
    import torch.nn.functional as F

    torch.manual_seed(0)
    previous = torch.zeros(1, 4, 16, 24)
    previous[..., -1] = torch.tensor([0.6, 1.4, 1.1, -4.0])[:, None]  # the VAE encoder's edge column
    start = refine.upscale_latents(previous, (32, 48))
    refined = 0.1 * torch.randn(1, 4, 32, 48)  # the refine stage drew a clean edge
    kept = refine.keep_composition(refined, start, (16, 24))
    assert (kept[..., -3:] - refined[..., -3:]).abs().max() < 0.5  # no dark band stretched from it (4 before)
    wrapped = refine.keep_composition(refined, start, (16, 24), "x")  # a tileable edge is no edge: kept
    assert (wrapped[..., -1] - refined[..., -1]).abs().mean() > 1.0
    assert F.interpolate(kept, size=(16, 24), mode="area")[..., 2:-2].abs().max() < 0.1


def test_refine_without_keeping_the_composition_differs(engine):
    kept = engine.generate(req(hires="refine")).images[0].image
    free = engine.generate(req(hires="refine", keep_composition=False)).images[0].image
    assert not np.array_equal(pixels(kept), pixels(free))


def _low(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An image's mean colour per cell of a (w, h) grid."""
    import torch.nn.functional as F

    t = torch.from_numpy(array.astype(np.float32)).permute(2, 0, 1)[None]
    return F.interpolate(t, size=(size[1], size[0]), mode="area")[0].permute(1, 2, 0).numpy()


def test_anchor_colours_puts_the_detail_on_the_compositions_colours():
    from PIL import Image

    rng = np.random.default_rng(0)
    coarse = rng.integers(40, 200, (3, 5, 3)).astype(np.uint8)
    composition = np.asarray(Image.fromarray(coarse).resize((40, 24), Image.BILINEAR))  # the composed colours
    made = np.asarray(Image.fromarray(composition).resize((320, 192), Image.BILINEAR), dtype=np.float32)
    detail = rng.normal(0, 12, made.shape)
    drifted = (made + detail + np.array([-25.0, 30.0, -10.0])).clip(0, 255).astype(np.uint8)  # teal -> green
    out = pixels(refine.anchor_colours(Image.fromarray(drifted), Image.fromarray(composition)))
    assert out.shape == drifted.shape
    inner = (slice(refine.ANCHOR_EDGE_PX + 1, -refine.ANCHOR_EDGE_PX - 1),) * 2  # the edge ring: see inner_edges
    before = np.abs(_low(drifted, (40, 24)) - composition)[inner].mean()
    after = np.abs(_low(out, (40, 24)) - composition)[inner].mean()
    assert before > 15 and after < before / 8  # the drift is gone at the composition's resolution
    added = (out - made).ravel()
    assert np.corrcoef(added, detail.ravel())[0, 1] > 0.8  # the detail stays


def test_anchor_colours_wraps_on_tileable_axes():
    from PIL import Image

    from model.inference.seamless import seam_score

    rng = np.random.default_rng(1)
    base = rng.normal(0, 10, (96, 160, 3)) + 128
    tile = np.roll(base, (48, 80), axis=(0, 1))  # any tile: wrap-continuity comes from what is added
    composition = np.zeros((12, 20, 3), np.uint8)
    composition[:, :10] = (200, 40, 40)  # a hard edge at the wrap: a clamped upsample would break it
    composition[:, 10:] = (40, 40, 200)
    image = Image.fromarray(tile.clip(0, 255).astype(np.uint8))
    plain = pixels(refine.anchor_colours(image, Image.fromarray(composition), "off"))
    wrapped = pixels(refine.anchor_colours(image, Image.fromarray(composition), "x"))
    # across the x wrap the low band now matches a bilinear edge that continues around the image
    left, right = wrapped[:, 0].astype(float), wrapped[:, -1].astype(float)
    plain_jump = np.abs(plain[:, 0].astype(float) - plain[:, -1]).mean()
    assert np.abs(left - right).mean() < plain_jump
    assert seam_score(Image.fromarray(wrapped.astype(np.uint8)), "x") < 2.0
    assert seam_score(Image.fromarray(plain.astype(np.uint8)), "x") > 5.0


def test_a_tileable_anchor_keeps_the_compositions_colour_not_its_pixel_steps():
    """At full size the anchor printed the composition's own pixel-to-pixel steps (the one across the
    wrap too) on the final image; a tileable image's anchor is taken at a quarter of its size."""
    from PIL import Image

    composition = np.zeros((16, 16, 3), np.uint8)
    composition[:, 0::2] = (190, 60, 60)  # a column pattern at the composition's own pixel pitch
    composition[:, 1::2] = (150, 40, 40)
    flat = Image.fromarray(np.full((64, 64, 3), 128, np.uint8))
    plain = pixels(refine.anchor_colours(flat, Image.fromarray(composition), "off")).astype(float)
    tiled = pixels(refine.anchor_colours(flat, Image.fromarray(composition), "both")).astype(float)
    assert np.abs(tiled.mean((0, 1)) - composition.reshape(-1, 3).mean(0)).max() < 1.0  # the colour is kept
    steps = lambda image: np.abs(np.diff(image[8:-8, 8:-8], axis=1)).mean()  # noqa: E731
    assert steps(plain) > 3 and steps(tiled) < 0.3  # the pixel steps are not


def test_refine_keeps_the_compositions_colours(engine, monkeypatch):

    seen = {}
    real = refine.anchor_colours

    def spy(image, anchor, tileable="off"):
        seen["anchor"], seen["raw"] = anchor.copy(), image.copy()
        return real(image, anchor, tileable)

    monkeypatch.setattr(refine, "anchor_colours", spy)
    made = engine.generate(req(hires="refine", width=512, height=320)).images[0].image
    anchor = seen["anchor"]
    assert anchor.size[0] * anchor.size[1] < made.size[0] * made.size[1] / 2  # the composing stage's size
    kept = np.abs(_low(pixels(made), anchor.size) - pixels(anchor)).mean()
    drifted = np.abs(_low(pixels(seen["raw"]), anchor.size) - pixels(anchor)).mean()
    assert kept < drifted / 2, (kept, drifted)  # the refined image's colours are the composition's
