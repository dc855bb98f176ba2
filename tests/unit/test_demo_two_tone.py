"""Two-tone demo data (model/demo/data.py draw_labels(two_tone=...)): an accent in another shade of the
main colour's family, for prompts like "beige poster with brown stripes" that the shipped data never has."""

from __future__ import annotations

import numpy as np
import pytest

from model.demo.data import family, render_sample, sample_labels
from model.training.config import StageConfig
from model.training.data import make_source


def test_without_two_tone_the_data_is_unchanged_and_accents_are_another_family():
    for index in range(60):
        plain, _ = sample_labels(0, index)
        assert plain == sample_labels(0, index, two_tone=0.0)[0]
        if plain["accent_colour"] is not None:
            assert family(plain["accent_colour"]) != plain["main_family"]


def test_two_tone_samples_pair_two_shades_of_one_family_and_draw_them():
    pairs = []
    for index in range(40):
        labels, _ = sample_labels(0, index, two_tone=1.0)
        if labels["accent_colour"] is None or labels["main_colour"] in ("black", "white"):
            continue
        assert family(labels["accent_colour"]) == labels["main_family"]
        assert labels["accent_colour"] != labels["main_colour"]
        pairs.append(index)
    assert len(pairs) >= 20
    sample = render_sample(0, pairs[0], 64, 64, two_tone=1.0)
    colours = {tuple(c) for c in np.asarray(sample.image).reshape(-1, 3)[::7]}
    assert len(colours) > 2  # both shades (and their antialiased edges) are in the picture
    main = sample.labels["main_colour"].split(" ")
    assert sample.labels["accent_colour"] in sample.caption or sample.labels["accent_colour"].split(" ")[-1] in sample.caption
    assert main[-1] in sample.caption


def test_the_training_config_takes_a_two_tone_share_and_refuses_a_bad_one():
    stage = StageConfig(name="base", kind="base")
    source = make_source({"kind": "demo", "seed": 0, "two_tone": 1.0}, stage)
    image, captions = source.item(3, (64, 48))
    labels, _ = sample_labels(0, 3, two_tone=1.0)
    assert image.shape == (48, 64, 3) and captions[0] == render_sample(0, 3, 64, 48, two_tone=1.0).caption
    if labels["accent_colour"] is not None and labels["main_colour"] not in ("black", "white"):  # no other shades
        assert family(labels["accent_colour"]) == labels["main_family"]
    assert make_source({"kind": "demo", "seed": 0, "two_tone": 0.2}, stage).two_tone == 0.2
    assert make_source({"kind": "demo", "seed": 0}, stage).two_tone == 0.0
    with pytest.raises(ValueError, match="two_tone 1.5"):
        make_source({"kind": "demo", "seed": 0, "two_tone": 1.5}, stage)
