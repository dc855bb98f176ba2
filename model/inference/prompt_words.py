"""Prompt normalisation for a model that ships its own word tables (`prompt_words.json` in its folder).

The demo model learned a small caption grammar (model/demo/data.py: a main colour, an accent colour,
a pattern, a placement). People type other words ("teal poster with orange circles", "navy", "polka
dots", "left-hand side"). `PromptWords.read(text)` finds the colours, pattern and placement in
everyday words through the model's tables and writes them back as a caption in the trained grammar;
a prompt with no colour it knows is passed through unchanged. The engine applies it when the loaded
model carries the file, and records what it read (`understood`).

Roles: a colour right before a pattern word ("orange circles") is the accent; one before a ground
word ("teal background", "orange sky") or after on/over/against/from is the main colour; otherwise
the first colour is the main one (the background: the largest area) and the next is the accent.

Stand-ins: a model may not draw every colour of its palette (the demo model gets plain brown right in
44% of its pictures, dark brown in 94%). `drawn_as` in the file, written by benchmarks/demo_drawable.py
from what the model actually draws, routes such a colour to a sibling shade it does draw ("coffee" ->
brown -> dark brown). A
stand-in is skipped when it would make the main and accent colours the same: the prompt asked for
two colours, and one picture of one colour would lose its pattern. A model whose file says
`"two_tone": false` never saw two shades of one family in one picture ("beige with brown stripes");
the reading flags such prompts (`two_tone`) so the engine can say what to expect.

May import: the standard library. Never torch, Qt, app/ or ui/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

WORDS_FILE = "prompt_words.json"
WORDS_FORMAT = "sigma-studio-prompt-words"
_MAX_PHRASE = 4
_LAYOUTS_OF = {  # as model/demo/data.py PATTERN_LAYOUTS (the first is the default)
    "solid": ("full",), "gradient": ("full",), "sunset": ("center", "left", "right"),
    "bands": ("full", "top", "bottom"), "vertical_stripes": ("full", "center", "left", "right"),
    "diagonal_stripes": ("full", "center", "left", "right", "top", "bottom"),
    "circle": ("center", "left", "right", "top", "bottom"),
    "dots": ("full", "center", "left", "right", "top", "bottom"), "waves": ("full", "top", "bottom"),
    "mountains": ("full",), "grid": ("full", "center", "left", "right"),
    "checkerboard": ("full", "center", "left", "right", "top", "bottom"),
}
_SCENES = ("sunset", "gradient", "mountains")  # name the whole picture: they win over a shape word
_THING = {
    "bands": "horizontal bands", "vertical_stripes": "vertical stripes", "diagonal_stripes": "diagonal stripes",
    "dots": "dots", "waves": "waves", "grid": "grid", "checkerboard": "checkerboard",
}
_WHERE = {"center": " in the center", "left": " on the left", "right": " on the right", "top": " at the top",
          "bottom": " at the bottom", "full": ""}
_MAIN_AFTER = {"on", "over", "against", "from", "behind"}


@dataclass
class Reading:
    """What a prompt was read as: the labels found and the caption in the model's grammar."""

    text: str  # the caption (the prompt itself when nothing was recognised)
    main: str | None = None
    accent: str | None = None
    pattern: str | None = None
    layout: str = "full"
    changed: bool = False
    stand_ins: tuple[tuple[str, str], ...] = ()  # (asked, drawn) colours routed through drawn_as
    two_tone: bool = False  # main and accent are shades of one family and the model never learned that


class PromptWords:
    """A model's word tables: colours, shades, patterns, placements, ground words, example prompts."""

    def __init__(self, data: dict, where: str = "prompt_words.json") -> None:
        if data.get("format") != WORDS_FORMAT:
            raise ValueError(f"{where} is not a prompt-words file (format {WORDS_FORMAT!r} expected)")
        self.colours: dict[str, str] = dict(data.get("colours", {}))
        self.shades: dict[str, str] = dict(data.get("shades", {}))
        self.patterns: dict[str, str] = dict(data.get("patterns", {}))
        self.placements: dict[str, str] = dict(data.get("placements", {}))
        self.grounds: set[str] = set(data.get("grounds", []))
        self.examples: list[str] = [str(e) for e in data.get("examples", [])]
        self.drawn_as: dict[str, str] = dict(data.get("drawn_as", {}))
        self.knows_two_tone = bool(data.get("two_tone", True))  # false: never trained on two shades of one family
        unknown = sorted(set(self.patterns.values()) - set(_LAYOUTS_OF))
        if unknown:
            raise ValueError(f"{where}: unknown pattern(s) {', '.join(unknown)}")
        known = set(self.colours.values())
        strays = sorted(c for pair in self.drawn_as.items() for c in pair if c not in known)
        if strays:
            raise ValueError(f"{where}: drawn_as names colour(s) the tables do not have: {', '.join(strays)}")

    @classmethod
    def load(cls, folder: str | Path) -> PromptWords | None:
        """The tables of a model folder, or None when it has none."""
        path = Path(folder) / WORDS_FILE
        if not path.is_file():
            return None
        return cls(json.loads(path.read_text(encoding="utf-8")), str(path))

    def summary(self) -> dict:
        """What the model understands, for the studio: colour families, patterns, placements, examples."""
        families = sorted({_family(c) for c in self.colours.values()})
        return {
            "colours": families,
            "shades": ["light", "dark"],
            "patterns": sorted({p.replace("_", " ") for p in self.patterns.values()}),
            "placements": ["center", "left", "right", "top", "bottom"],
            "examples": list(self.examples),
            "drawn_as": dict(self.drawn_as),
            "two_tone": self.knows_two_tone,
        }

    # ------------------------------------------------------------------ reading

    def _tokens(self, text: str) -> list[tuple[str, str]]:
        """(kind, value) per phrase, longest match first: colour, shade, pattern, place, ground, word."""
        words = re.sub(r"[^a-z0-9 ]+", " ", text.lower().replace("-", " ")).split()
        tables = (("colour", self.colours), ("pattern", self.patterns), ("place", self.placements))
        out, i = [], 0
        while i < len(words):
            for size in range(min(_MAX_PHRASE, len(words) - i), 0, -1):
                phrase = " ".join(words[i : i + size])
                hit = next(((kind, table[phrase]) for kind, table in tables if phrase in table), None)
                if hit is None and phrase in self.grounds:
                    hit = ("ground", phrase)
                if hit is None and size == 1 and phrase in self.shades:
                    hit = ("shade", self.shades[phrase])
                if hit is not None:
                    out.append(hit)
                    i += size
                    break
            else:
                out.append(("word", words[i]))
                i += 1
        return _apply_shades(out)

    def read(self, text: str) -> Reading:
        """The prompt read through the tables (see the module docstring for the rules)."""
        tokens = self._tokens(text)
        colours = [(k, v) for k, (kind, v) in enumerate(tokens) if kind == "colour"]
        if not colours:
            return Reading(text)
        pattern = _pattern(tokens)
        main, accent = _roles(tokens, colours, pattern)
        places = [v for kind, v in tokens if kind == "place"]
        layout = next((p for p in places if p != "full"), "full")
        pattern = pattern or ("solid" if accent is None else "gradient")
        allowed = _LAYOUTS_OF[pattern]
        layout = layout if layout in allowed else allowed[0]
        if pattern != "solid" and accent is None:
            accent = "black" if main in ("white", "yellow") or main.startswith("light") else "white"
        drawn_main, drawn_accent = self.drawn_as.get(main, main), self.drawn_as.get(accent, accent)
        if accent is not None and drawn_main == drawn_accent:
            drawn_main, drawn_accent = main, accent  # a stand-in must not merge the two colours asked for
        stand_ins = tuple((a, d) for a, d in ((main, drawn_main), (accent, drawn_accent)) if a != d)
        caption = _caption(drawn_main, drawn_accent, pattern, layout)
        two_tone = not self.knows_two_tone and accent is not None and _family(drawn_main) == _family(drawn_accent)
        return Reading(caption, main, accent, pattern, layout, caption != text.strip(), stand_ins, two_tone)


def _apply_shades(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A shade word before a plain colour family makes it light/dark ("pale green" -> light green)."""
    out: list[tuple[str, str]] = []
    for kind, value in tokens:
        if kind == "colour" and out and out[-1][0] == "shade":
            shade = out.pop()[1]
            family = _family(value)
            if shade and family not in ("black", "white"):
                value = f"{shade} {family}"
        out.append((kind, value))
    return [(k, v) for k, v in out if k != "shade"]


def _pattern(tokens: list[tuple[str, str]]) -> str | None:
    found = [v for kind, v in tokens if kind == "pattern"]
    scenes = [p for p in found if p in _SCENES]
    return scenes[0] if scenes else (found[0] if found else None)


def _roles(tokens, colours, pattern) -> tuple[str, str | None]:
    """(main, accent) from the colours' neighbours, then their order."""
    main = accent = None
    for k, value in colours:
        after = [kind for kind, _ in tokens[k + 1 : k + 3]]
        before = tokens[k - 1][1] if k > 0 and tokens[k - 1][0] == "word" else ""
        before2 = tokens[k - 2][1] if k > 1 and tokens[k - 2][0] == "word" and before in ("a", "an", "the") else ""
        if after[:1] == ["pattern"] or (after[:1] == ["word"] and after[1:2] == ["pattern"]):
            accent = accent or value
        elif after[:1] == ["ground"] or (after[:1] == ["word"] and after[1:2] == ["ground"]):
            main = main or value
        elif before in _MAIN_AFTER or before2 in _MAIN_AFTER:
            main = main or value
    if pattern == "gradient":  # "from X to Y": the order is the meaning
        main, accent = colours[0][1], (colours[1][1] if len(colours) > 1 else accent)
    for _, value in colours:
        if value in (main, accent):
            continue
        if main is None:
            main = value
        elif accent is None:
            accent = value
    if main is None:  # only an accent was named ("orange circles"): a plain ground behind it
        main = "black" if accent in ("white", "yellow") or (accent or "").startswith("light") else "white"
    return main, accent


def _family(colour: str) -> str:
    """'light brown' -> 'brown'."""
    return colour.split(" ")[-1]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _caption(main: str, accent: str | None, pattern: str, layout: str) -> str:
    """The labels as a caption in the demo model's trained grammar (model/demo/data.py make_caption)."""
    where = _WHERE[layout]
    a_main = f"{_article(main)} {main}"
    if pattern == "solid":
        return f"a plain {main} wallpaper"
    if pattern == "gradient":
        return f"a gradient from {main} to {accent}"
    if pattern == "sunset":
        return f"{main} sky with {_article(accent)} {accent} setting sun{where}"
    if pattern == "mountains":
        return f"{accent} mountains under {a_main} sky"
    if pattern == "circle":
        return f"{a_main} wallpaper with {_article(accent)} {accent} circle{where}"
    return f"{a_main} wallpaper with {accent} {_THING[pattern]}{where}"
