"""Contract 3: preset files read, validated and written; default presets and styles."""

from __future__ import annotations

import json

import pytest

from app.presets import (
    PRESET_FORMAT,
    Preset,
    PresetError,
    apply_style,
    default_presets,
    load_presets,
    load_styles,
    parse_presets,
    preset_filename,
    preset_to_dict,
    save_preset,
    save_presets,
)


def _preset(**changes):
    data = {
        "format": PRESET_FORMAT,
        "version": 1,
        "name": "Neon city",
        "prompt": "a neon city at night",
        "negative": "blurry",
        "size": "3840x2160",
        "steps": 20,
        "guidance": 4.5,
        "seed": None,
        "style": None,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def _write(folder, name, data):
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_load_single_preset(tmp_path):
    (preset,) = load_presets(_write(tmp_path, "neon.preset.json", _preset(seed=42, style="Cinematic")))
    assert preset == Preset(
        "Neon city", "a neon city at night", "blurry", "3840x2160", 20, 4.5, 42, "Cinematic"
    )


def test_load_list_of_presets(tmp_path):
    path = _write(tmp_path, "two.preset.json", [_preset(name="One"), _preset(name="Two", size="A3 portrait")])
    assert [(p.name, p.size) for p in load_presets(path)] == [("One", "3840x2160"), ("Two", "A3 portrait")]


def test_defaults_for_optional_keys(tmp_path):
    (preset,) = load_presets(
        _write(tmp_path, "Minimal.preset.json", {"format": PRESET_FORMAT, "prompt": "dunes"})
    )
    assert preset == Preset("Minimal", "dunes")


def test_unicode_names_and_prompts(tmp_path):
    path = _write(tmp_path, "tokyo.preset.json", _preset(name="Néon 東京 🌃", prompt="夜の東京, neon"))
    (preset,) = load_presets(path)
    assert preset.name == "Néon 東京 🌃" and preset.prompt == "夜の東京, neon"
    saved = save_preset(preset, tmp_path / "out")
    assert load_presets(saved) == [preset]


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.preset.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_preset()).encode())
    assert load_presets(path)[0].name == "Neon city"


def test_unknown_keys_ignored(tmp_path):
    path = _write(tmp_path, "x.preset.json", _preset(sampler="euler", tags=["a"], future={"x": 1}))
    assert load_presets(path)[0].prompt == "a neon city at night"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"format": ...}, 'missing "format"'),
        ({"format": "krita-preset"}, "not a Sigma Studio preset"),
        ({"prompt": ...}, 'missing "prompt"'),
        ({"prompt": "   "}, '"prompt" is empty'),
        ({"prompt": 5}, '"prompt" must be text'),
        ({"version": 2}, "newer Sigma Studio"),
        ({"version": "1"}, '"version"'),
        ({"steps": "20"}, '"steps" must be a whole number'),
        ({"steps": 0}, '"steps"'),
        ({"steps": True}, '"steps"'),
        ({"guidance": "high"}, '"guidance" must be a number'),
        ({"seed": -1}, '"seed" must be null'),
        ({"seed": 1.5}, '"seed"'),
        ({"name": 3}, '"name" must be text'),
        ({"negative": ["a"]}, '"negative" must be text'),
        ({"style": "Nope"}, "unknown style 'Nope'; choose one of: Cinematic"),
        ({"size": "1024x5000"}, "height 5000 is outside 256-4096"),
        ({"size": "huge"}, "size 'huge' is not WxH"),
        ({"size": 1024}, '"size" must be text'),
    ],
)
def test_invalid_presets_are_refused_with_file_name(tmp_path, changes, expected):
    path = _write(tmp_path, "bad.preset.json", _preset(**changes))
    with pytest.raises(PresetError) as info:
        load_presets(path)
    assert str(info.value).startswith("bad.preset.json")
    assert expected in str(info.value)


def test_invalid_json(tmp_path):
    with pytest.raises(PresetError, match=r"broken\.preset\.json: not valid JSON \(line 1"):
        load_presets(_write(tmp_path, "broken.preset.json", '{"format": "sigma-studio-preset", '))


@pytest.mark.parametrize(
    ("text", "expected"), [("[]", "empty list"), ('"x"', "holds text"), ("[1]", "preset 1 of 1")]
)
def test_wrong_shapes(text, expected):
    with pytest.raises(PresetError, match=expected):
        parse_presets(text, "dropped text")


def test_error_names_which_preset_in_a_list(tmp_path):
    path = _write(tmp_path, "list.preset.json", [_preset(), _preset(steps=-1)])
    with pytest.raises(PresetError, match=r"list\.preset\.json, preset 2 of 2"):
        load_presets(path)


def test_binary_missing_and_non_utf8_files(tmp_path):
    binary = tmp_path / "image.preset.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    with pytest.raises(PresetError, match=r"image\.preset\.json: is a binary file"):
        load_presets(binary)
    latin = tmp_path / "latin.preset.json"
    latin.write_bytes(json.dumps(_preset(name="Café")).replace("é", "\\u00e9").encode() + b" \xe9")
    with pytest.raises(PresetError, match="not UTF-8"):
        load_presets(latin)
    with pytest.raises(PresetError, match=r"gone\.preset\.json: cannot be read"):
        load_presets(tmp_path / "gone.preset.json")
    with pytest.raises(PresetError, match="cannot be read"):
        load_presets(tmp_path)


def test_save_load_round_trip(tmp_path):
    preset = Preset("Poster", "a botanical print", "text", "a3-portrait", 28, 5.0, 1234567, "Watercolor")
    path = save_preset(preset, tmp_path / "poster.preset.json")
    assert load_presets(path) == [preset]
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == preset_to_dict(preset)
    assert list(data)[:3] == ["format", "version", "name"]


def test_save_into_folder_uses_safe_name(tmp_path):
    path = save_preset(Preset("Neon: city/night?", "x"), tmp_path)
    assert path.parent == tmp_path and path.name == preset_filename("Neon: city/night?")


def test_save_presets_list_round_trip(tmp_path):
    presets = [Preset("A", "one"), Preset("B", "two", seed=3)]
    assert load_presets(save_presets(presets, tmp_path / "all.preset.json")) == presets


def test_saving_an_invalid_preset_is_refused(tmp_path):
    with pytest.raises(PresetError, match='"size"'):
        save_preset(Preset("Bad", "x", size="1x1"), tmp_path / "bad.preset.json")
    assert not (tmp_path / "bad.preset.json").exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Neon city", "Neon city.preset.json"),
        ("Néon 東京", "Néon 東京.preset.json"),
        ('a/b\\c:d*e?f"g<h>i|j', "a-b-c-d-e-f-g-h-i-j.preset.json"),
        ("  ..hidden.  ", "hidden.preset.json"),
        ("CON", "CON_.preset.json"),
        ("", "preset.preset.json"),
        ("///", "preset.preset.json"),
        ("x" * 300, "x" * 100 + ".preset.json"),
    ],
)
def test_preset_filename_is_safe(name, expected):
    assert preset_filename(name) == expected


def test_default_presets_load_and_are_valid():
    presets = default_presets()
    assert len(presets) >= 5
    assert len({p.name for p in presets}) == len(presets)
    assert all(p.prompt.strip() for p in presets)


def test_styles():
    styles = load_styles()
    for name in ("Cinematic", "Watercolor", "Minimal flat", "Synthwave", "Photographic"):
        assert styles[name]
    assert apply_style("a cat", "Cinematic") == f"a cat, {styles['Cinematic']}"
    assert apply_style("a cat,", "watercolor") == f"a cat, {styles['Watercolor']}"
    assert apply_style("a cat", None) == "a cat"
    with pytest.raises(PresetError, match="unknown style"):
        apply_style("a cat", "Cubism 3000")


def test_load_styles_from_file(tmp_path):
    path = tmp_path / "styles.json"
    path.write_text(
        json.dumps({"format": "sigma-studio-styles", "version": 1, "styles": {"X": "a photo of {prompt}"}})
    )
    assert load_styles(path) == {"X": "a photo of {prompt}"}
    path.write_text("[]")
    with pytest.raises(PresetError, match="not a styles file"):
        load_styles(tmp_path / "styles.json")
    with pytest.raises(PresetError, match="cannot read the styles"):
        load_styles(tmp_path / "missing.json")


def test_preset_list_makes_its_drag_folder_on_the_first_drag_and_removes_it(qtbot, tmp_path, monkeypatch):
    """A preset list used to leave an empty sigma-presets-* folder in the temp dir at every start."""
    import tempfile

    from ui.prompt_editor import PresetList

    tmp_path = tmp_path / "temp"
    tmp_path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    presets = PresetList()
    qtbot.addWidget(presets)
    presets.set_presets(default_presets())
    assert list(tmp_path.iterdir()) == []  # nothing until something is dragged
    item = presets.item(0)
    (url,) = presets.mimeData([item]).urls()
    dragged = url.toLocalFile()
    assert dragged.startswith(str(tmp_path)) and load_presets(dragged)[0].name == item.text()
    assert presets.mimeData([item]).urls()[0].toLocalFile().startswith(str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 1  # one folder for every drag
    presets.deleteLater()
    qtbot.waitUntil(lambda: list(tmp_path.iterdir()) == [], timeout=2000)
