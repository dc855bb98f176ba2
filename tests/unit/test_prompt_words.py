"""The demo model's prompt tables (model/inference/prompt_words.py + resources/demo_model/prompt_words.json):
everyday words read as the model's colours, patterns and placements. These are the tuning phrasings;
the held-out ones live in benchmarks/demo_everyday_prompts.json and are only measured
(benchmarks/demo_eval.py --everyday)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.inference.prompt_words import PromptWords

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def words() -> PromptWords:
    return PromptWords.load(ROOT / "resources" / "demo_model")


@pytest.mark.parametrize("prompt, main, accent, pattern, layout", [
    ("sky blue wallpaper with lots of white bubbles", "light blue", "white", "dots", "full"),
    ("polka dot poster, red dots on cream", "white", "red", "dots", "full"),
    ("gold moon on a midnight blue background", "dark blue", "yellow", "circle", "center"),
    ("hot pink and black checkers", "pink", "black", "checkerboard", "full"),
    ("rolling grey hills beneath a peach sky", "light orange", "grey", "mountains", "full"),
    ("pale green backdrop, dark green grid lines on the left", "light green", "dark green", "grid", "left"),
    ("orange circles", "white", "orange", "dots", "full"),
    ("plain navy", "dark blue", None, "solid", "full"),
    ("sunrise with a magenta sky and a yellow sun", "dark pink", "yellow", "sunset", "center"),
    ("black backdrop with gray ripples along the bottom", "black", "grey", "waves", "bottom"),
])
def test_everyday_words_are_read_as_what_the_model_draws(words, prompt, main, accent, pattern, layout):
    reading = words.read(prompt)
    assert (reading.main, reading.accent, reading.pattern, reading.layout) == (main, accent, pattern, layout)
    assert reading.changed


def test_the_caption_uses_the_trained_grammar_and_unknown_prompts_pass_through(words):
    assert words.read("teal poster with orange circles").text == "a teal wallpaper with orange dots"
    assert words.read("orange mountains under a blue sky").text == "orange mountains under a blue sky"
    assert words.read("a castle in the clouds").text == "a castle in the clouds"
    assert not words.read("a castle in the clouds").changed
    # a placement the pattern cannot take falls back to one it can
    assert words.read("red sunset at the top, purple sky").layout == "center"


def test_summary_lists_what_it_understands_and_examples(words):
    summary = words.summary()
    assert "teal" in summary["colours"] and "checkerboard" in summary["patterns"] and len(summary["examples"]) >= 4
    for example in summary["examples"]:  # every example reads as itself or close to it
        assert words.read(example).pattern is not None


def test_a_bad_tables_file_is_refused_clearly(tmp_path):
    (tmp_path / "prompt_words.json").write_text(json.dumps({"format": "other"}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a prompt-words file"):
        PromptWords.load(tmp_path)
    (tmp_path / "prompt_words.json").write_text(
        json.dumps({"format": "sigma-studio-prompt-words", "patterns": {"stars": "stars"}}), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown pattern"):
        PromptWords.load(tmp_path)
    assert PromptWords.load(tmp_path / "nowhere") is None


def _tables_with(tmp_path, **extra) -> PromptWords:
    data = json.loads((ROOT / "resources" / "demo_model" / "prompt_words.json").read_text(encoding="utf-8"))
    data.update(extra)
    (tmp_path / "prompt_words.json").write_text(json.dumps(data), encoding="utf-8")
    return PromptWords.load(tmp_path)


def test_a_colour_the_model_cannot_draw_goes_to_its_stand_in(tmp_path):
    words = _tables_with(tmp_path, drawn_as={"light brown": "brown", "dark grey": "grey"})
    reading = words.read("beige wallpaper with white polka dots")
    assert reading.text == "a brown wallpaper with white dots"
    assert reading.main == "light brown" and reading.stand_ins == (("light brown", "brown"),)
    both = words.read("charcoal background, beige slanted stripes")
    assert both.text == "a grey wallpaper with brown diagonal stripes"
    assert both.stand_ins == (("dark grey", "grey"), ("light brown", "brown"))
    assert words.read("plain navy").stand_ins == ()  # colours it draws are untouched


def test_a_stand_in_never_merges_the_two_colours_asked_for(tmp_path):
    words = _tables_with(tmp_path, drawn_as={"light brown": "brown"})
    reading = words.read("beige poster with brown horizontal stripes")
    assert reading.text == "a light brown wallpaper with brown horizontal bands"
    assert reading.stand_ins == ()


def test_stand_ins_naming_unknown_colours_are_refused(tmp_path):
    with pytest.raises(ValueError, match="drawn_as names colour.*mauve-ish"):
        _tables_with(tmp_path, drawn_as={"light brown": "mauve-ish"})


def test_two_shades_of_one_family_are_flagged_for_a_model_that_never_learned_them(words, tmp_path):
    assert words.read("beige poster with brown horizontal stripes").two_tone
    assert words.read("a gradient from pale blue to navy").two_tone
    assert not words.read("teal poster with orange circles").two_tone
    assert not words.read("plain lavender wallpaper").two_tone
    learned = _tables_with(tmp_path, two_tone=True)
    assert not learned.read("beige poster with brown horizontal stripes").two_tone
