"""A refined image in the studio (issue 12): one job with stage labels, previews and an ETA over all
stages, cancel at any point, the path's settings recorded in the image and restored on recall."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.jobs import JobState
from app.metadata import hires_request_kwargs, read_params
from tests.fake_engine import FAKE_MODEL
from tests.unit.test_main_window import FAKE, load_model, make_window, prepare, wait_finished, wait_first_step


@pytest.fixture
def window(qtbot):
    win = make_window(qtbot, FAKE)
    load_model(qtbot, win, FAKE)
    yield win
    win.close()


def choose(combo, value) -> None:
    combo.setCurrentIndex(combo.findData(value))


def test_a_refined_image_is_one_job_with_stage_labels_and_an_eta(qtbot, window):
    prepare(qtbot, window, "teal poster with orange circles", steps=10)
    choose(window.gen_settings.hires, "refine")
    window.gen_settings.refine_stages.setValue(2)
    window.gen_settings.refine_strength.setValue(0.5)
    seen: list[tuple] = []
    texts: list[str] = []
    window.runner.preview_ready.connect(lambda *args: (seen.append(args), texts.append(window.live_view.status.text())))
    job = window.generate()
    wait_finished(qtbot, job)
    assert job.state is JobState.done, job.error
    assert len(window.queue) == 1 and len(job.record_ids) == 1  # one job, one image
    stages = list(dict.fromkeys(args[7] for args in seen if args[6] == "denoise"))
    assert stages == ["composing 1/3", "refining 2/3", "refining 3/3"]
    denoise = [args for args in seen if args[6] == "denoise"]
    assert all(args[3] == 10 + 5 + 5 for args in denoise)  # steps counted over all stages
    assert denoise[0][4] > 0 and all(args[5] is not None for args in denoise)  # ETA over all stages, previews
    assert any(text.startswith("Composing 1/3 · Step") for text in texts)
    assert any(text.startswith("Refining 3/3 · Step") for text in texts)
    params = read_params(window.gallery.get(job.record_ids[0]).path)
    assert hires_request_kwargs(params) == {"hires": "refine", "refine_strength": 0.5, "refine_stages": 2,
                                            "upscaler": "latent"}


def test_cancel_while_refining(qtbot, window):
    prepare(qtbot, window, "cancel me while refining", steps=100)
    choose(window.gen_settings.hires, "refine")
    stages: list[str] = []
    window.runner.preview_ready.connect(lambda *args: stages.append(args[7]))
    job = window.generate()
    wait_first_step(qtbot, window, job)
    qtbot.waitUntil(lambda: "refining 2/2" in stages, timeout=30_000)
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    wait_finished(qtbot, job)
    assert job.state is JobState.cancelled and not job.record_ids and window.gallery.count() == 0


def test_recall_restores_the_path_and_leaves_it_for_images_without_one(qtbot, window, tmp_path):
    from PIL import Image

    from app.metadata import build_params, save_image

    params = build_params(prompt="recalled", negative="", width=320, height=288, steps=11, guidance=3.5,
                          seed=77, model="fake", kv_compress="off",
                          hires={"mode": "auto", "path": "refine", "strength": 0.3, "stages": 3, "upscaler": "pixel"})
    path = save_image(Image.new("RGB", (320, 288), "teal"), tmp_path / "refined.png", params)
    window.open_file(str(path))
    values = window.gen_settings.values()
    assert (values["hires"], values["refine_strength"], values["refine_stages"], values["upscaler"]) == (
        "refine", 0.3, 3, "pixel")
    plain = build_params(prompt="plain", negative="", width=320, height=288, steps=11, guidance=3.5, seed=1,
                         model="fake", kv_compress="off")
    old = save_image(Image.new("RGB", (320, 288), "red"), tmp_path / "old.png", plain)
    window.open_file(str(old))
    assert window.gen_settings.values()["hires"] == "refine"  # an image without a path changes nothing
    direct = dict(plain, hires={"mode": "direct", "path": "direct"})
    window.open_file(str(save_image(Image.new("RGB", (320, 288), "red"), tmp_path / "direct.png", direct)))
    values = window.gen_settings.values()
    assert values["hires"] == "direct" and values["refine_strength"] is None and values["refine_stages"] is None


def test_the_demo_model_shows_what_it_understands_and_examples_fill_the_prompt(qtbot):
    from tests.fake_engine import DEMO_UNDERSTANDS

    win = make_window(qtbot, FAKE)
    try:
        win.start(None)  # the demo model carries word tables
        qtbot.waitUntil(lambda: win.runner.model_info is not None, timeout=10_000)
        hint = win.side_panel.vocabulary
        assert hint.isVisible() and "teal" in hint.words.text() and "dots" in hint.words.text()
        assert "nearby shade</b>: light brown → brown" in hint.words.text()
        assert "<b>Not learned</b>: two shades of one colour" in hint.words.text()
        assert [b.text() for b in hint.buttons] == DEMO_UNDERSTANDS["examples"]
        qtbot.mouseClick(hint.buttons[0], Qt.MouseButton.LeftButton)
        assert win.editor.prompt_text() == "teal poster with orange dots"
        win.start(FAKE_MODEL)  # a model without tables: no box
        qtbot.waitUntil(lambda: not hint.isVisible(), timeout=10_000)
    finally:
        win.close()


def test_export_can_refine_to_each_size_as_queued_jobs(qtbot, window, tmp_path):
    prepare(qtbot, window, "teal poster with orange dots", steps=3)
    choose(window.gen_settings.hires, "direct")
    first = window.generate()
    wait_finished(qtbot, first)
    record = window.gallery.get(first.record_ids[0])
    dialog = window.open_export([record])
    dialog.set_out_dir(tmp_path)
    dialog.set_sizes([])
    dialog.add_custom_size(512, 512)
    dialog.add_custom_size(256, 128)
    dialog.update_plan()
    assert dialog.upscale_label.text() == "Upscaled by a plain resize: 512x512 ×2.0"  # 256x128 is not
    assert not dialog.refine_box.isChecked()  # plain resize stays the default
    dialog.refine_box.setChecked(True)
    assert dialog.update_plan() == 2 and "2 refine jobs will be queued" in dialog.plan_label.text()
    stages: list[str] = []
    window.runner.preview_ready.connect(lambda *args: stages.append(args[7]))
    assert dialog.start()
    jobs = [job for job in window.queue if job is not first]
    assert len(jobs) == 2 and all(job.request.hires == "refine" for job in jobs)
    assert {(job.request.width, job.request.height) for job in jobs} == {(512, 512), (256, 128)}
    assert all(job.request.seed == first.seeds[0] and job.request.prompt == record.prompt for job in jobs)
    window.runner.cancel(jobs[1].id)  # cancel works as for any job
    wait_finished(qtbot, *jobs)
    assert jobs[0].state is JobState.done and jobs[1].state is JobState.cancelled
    made = window.gallery.get(jobs[0].record_ids[0])
    assert (made.width, made.height) == (512, 512) and made.params["hires"]["path"] == "refine"
    assert "composing 1/2" in stages and "refining 2/2" in stages
    assert not list(tmp_path.glob("*.png"))  # refining writes no plain-resized files
