"""Generation settings inside image files (docs/DESIGN.md, Contract 2): write them with the image, read them back.

PNG: a `parameters` text chunk in the A1111 format (read by other tools) and a `sigma-studio` iTXt
chunk holding our JSON. JPEG and WebP: the JSON in EXIF UserComment. Reading prefers our JSON, then
A1111 `parameters`; anything else is "no settings found" (None).

May import: Pillow, app.atomic, app.safejson, app.model_service (limits); no Qt, no torch. Text read from a file is bounded
(MAX_TEXT_CHARS, safejson) before it is parsed; any failure to read an image is a MetadataError.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from datetime import datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, PngImagePlugin, UnidentifiedImageError

from app.model_service import REFINE_STAGE_LIMITS, REFINE_STRENGTH_LIMITS, UPSCALERS

from . import safejson
from .atomic import atomic_write

SAMPLER = "DPM++ 2M"  # A1111's name for the DPM-Solver++ multistep sampler we use
PNG_JSON_KEY = "sigma-studio"
PNG_A1111_KEY = "parameters"
EXIF_USER_COMMENT = 0x9286
EXIF_SOFTWARE = 0x0131
EXIF_X_RESOLUTION, EXIF_Y_RESOLUTION, EXIF_RESOLUTION_UNIT = 0x011A, 0x011B, 0x0128
EXIF_UNIT_INCH = 2
FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}
# UserComment starts with an 8-byte character code naming the text's encoding (EXIF 2.3, 4.6.5)
_CHARSET_ASCII = b"ASCII\0\0\0"
_CHARSET_UNICODE = b"UNICODE\0"
_CHARSET_JIS = b"JIS\0\0\0\0\0"
_CHARSET_UNDEFINED = b"\0" * 8
MAX_TEXT_CHARS = 1_000_000  # our JSON and A1111 text are a few KB; longer text is not settings
MAX_SETTINGS_LINE = 8_000


class MetadataError(ValueError):
    """An image file that cannot be read or written; the message names the file."""


def _app_version() -> str:
    """The installed package's version, else the one in pyproject.toml next to the sources."""
    try:
        return importlib_metadata.version("sigma-studio")
    except importlib_metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(encoding="utf-8"), re.MULTILINE)
    except OSError:
        match = None
    return match[1] if match else "0+unknown"


APP_VERSION = _app_version()


# ---------------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------------


def build_params(
    prompt: str,
    negative: str,
    width: int,
    height: int,
    steps: int,
    guidance: float,
    seed: int | None,
    model: str | None,
    kv_compress: str,
    **extra: Any,
) -> dict[str, Any]:
    """The Contract-2 settings of one image, plus version, sampler, creation time and any extra keys."""
    return {
        "version": APP_VERSION,
        "prompt": prompt,
        "negative": negative,
        "width": width,
        "height": height,
        "steps": steps,
        "guidance": guidance,
        "seed": seed,
        "model": model,
        "kv_compress": kv_compress,
        "sampler": SAMPLER,
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        **extra,
    }


def _a1111_value(value: Any) -> str:
    """A value for the A1111 settings line, quoted as A1111 does when it holds , : or a newline."""
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ",:\n") else text


def _number(value: Any) -> str:
    """4.5 -> '4.5', 7.0 -> '7'."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def a1111_parameters(params: dict[str, Any]) -> str:
    """The A1111 `parameters` text: prompt, 'Negative prompt: ...', then the settings line."""
    seed = params.get("seed")
    settings = [
        ("Steps", params.get("steps")),
        ("Sampler", params.get("sampler") or SAMPLER),
        ("CFG scale", _number(params.get("guidance"))),
        ("Seed", -1 if seed is None else seed),
        ("Size", f"{params.get('width')}x{params.get('height')}"),
        ("Model", params.get("model")),
    ]
    line = ", ".join(f"{key}: {_a1111_value(value)}" for key, value in settings if value is not None)
    return f"{params.get('prompt', '')}\nNegative prompt: {params.get('negative') or ''}\n{line}"


# one "Key: value" of the settings line; values with commas are JSON-quoted
_A1111_PAIR = re.compile(r'\s*([\w][\w \-/]*):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_A1111_KEYS = {
    "Steps": "steps",
    "Sampler": "sampler",
    "CFG scale": "guidance",
    "Seed": "seed",
    "Model": "model",
}
_A1111_TYPES = {"steps": int, "guidance": float, "seed": int}
NEGATIVE_PREFIX = "Negative prompt:"


def _settings_pairs(line: str) -> list[tuple[str, str]]:
    """The (key, value) pairs of an A1111 settings line (one longer than MAX_SETTINGS_LINE has none)."""
    pairs: list[tuple[str, str]] = []
    if len(line) > MAX_SETTINGS_LINE:  # the pattern backtracks on long lines without a colon
        return pairs
    for key, value in _A1111_PAIR.findall(line):
        value = value.strip()
        if value.startswith('"') and value.endswith('"') and len(value) > 1:
            with contextlib.suppress(ValueError):
                value = safejson.loads(value, MAX_SETTINGS_LINE, max_depth=0)
        pairs.append((key.strip(), value))
    return pairs


def parse_a1111(text: str) -> dict[str, Any]:
    """Our keys (prompt, negative, steps, sampler, guidance, seed, width, height, model) from A1111
    `parameters` text; other settings go under "extra" as text, values that do not parse too."""
    *lines, last = text.strip().replace("\r\n", "\n").split("\n")
    if len(_settings_pairs(last)) < 3:  # A1111's own rule: the settings line has at least 3 pairs
        lines.append(last)
        last = ""
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    for line in lines:
        if not negative_lines and line.startswith(NEGATIVE_PREFIX):
            negative_lines.append(line[len(NEGATIVE_PREFIX) :].strip())
        elif negative_lines:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    params: dict[str, Any] = {
        "prompt": "\n".join(prompt_lines).strip(),
        "negative": "\n".join(negative_lines).strip(),
    }
    extra: dict[str, str] = {}
    for key, value in _settings_pairs(last):
        if key == "Size" and re.fullmatch(r"\d+x\d+", value):
            params["width"], params["height"] = (int(side) for side in value.split("x"))
        elif key in _A1111_KEYS:
            name = _A1111_KEYS[key]
            try:
                params[name] = _A1111_TYPES.get(name, str)(value)
            except ValueError:
                extra[key] = value
        else:
            extra[key] = value
    if params.get("seed") == -1:
        params["seed"] = None
    if extra:
        params["extra"] = extra
    return params


def hires_settings(params: dict[str, Any] | None) -> dict[str, Any]:
    """The high-resolution path an image records, as generation settings to restore: every path
    setting (unset ones back to their defaults) when it records one, nothing when it has none."""
    kwargs = hires_request_kwargs(params)
    if not kwargs:
        return {}
    return {"refine_strength": None, "refine_stages": None, "upscaler": "latent", **kwargs}


def hires_request_kwargs(params: dict[str, Any] | None) -> dict[str, Any]:
    """The high-resolution path recorded in `hires` as GenerationRequest keywords (hires,
    refine_strength, refine_stages, upscaler), so the image can be made again; {} when absent or
    unusable. A refined image is recalled as `refine` (not `auto`), a direct one as `direct`."""
    hires = (params or {}).get("hires")
    if not isinstance(hires, dict) or hires.get("path") not in ("direct", "refine"):
        return {}
    if hires["path"] == "direct":
        return {"hires": "direct"}
    out: dict[str, Any] = {"hires": "refine"}
    strength, stages, upscaler = hires.get("strength"), hires.get("stages"), hires.get("upscaler")
    (low, high), (first, last) = REFINE_STRENGTH_LIMITS, REFINE_STAGE_LIMITS
    if isinstance(strength, (int, float)) and not isinstance(strength, bool) and low <= strength <= high:
        out["refine_strength"] = float(strength)
    if isinstance(stages, int) and not isinstance(stages, bool) and first <= stages <= last:
        out["refine_stages"] = stages
    if upscaler in UPSCALERS:
        out["upscaler"] = upscaler
    if hires.get("keep_composition") is False:  # recorded from issue 12's anchoring on; absent = kept
        out["keep_composition"] = False
    return out


def describe(params: dict[str, Any] | None) -> str:
    """A one-line summary: prompt start, size, steps, CFG, seed, model."""
    if not params:
        return "No settings found"
    prompt = " ".join(str(params.get("prompt") or "").split())
    parts = [f"“{prompt[:60]}…”" if len(prompt) > 60 else f"“{prompt}”"]
    if params.get("width") and params.get("height"):
        parts.append(f"{params['width']}×{params['height']}")
    if params.get("steps") is not None:
        parts.append(f"{params['steps']} steps")
    if params.get("guidance") is not None:
        parts.append(f"CFG {_number(params['guidance'])}")
    if params.get("seed") is not None:
        parts.append(f"seed {params['seed']}")
    if params.get("model"):
        parts.append(re.split(r"[\\/]", str(params["model"]).rstrip("/\\"))[-1])
    return " · ".join(parts)


# ---------------------------------------------------------------------------------------------------
# EXIF UserComment
# ---------------------------------------------------------------------------------------------------


def encode_user_comment(text: str) -> bytes:
    """UserComment bytes: ASCII when possible, else UNICODE as UTF-16 big-endian (the byte order Pillow
    writes EXIF in, and what piexif and A1111 use)."""
    if text.isascii():
        return _CHARSET_ASCII + text.encode("ascii")
    return _CHARSET_UNICODE + text.encode("utf-16-be")


def _decode_utf16(data: bytes) -> str:
    """UTF-16 of unknown byte order: a BOM decides, else where the zero bytes of ASCII characters sit."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    even_zeros, odd_zeros = data[0::2].count(0), data[1::2].count(0)
    return data.decode("utf-16-le" if odd_zeros > even_zeros else "utf-16-be", errors="replace")


def decode_user_comment(value: bytes | str) -> str:
    """The text of an EXIF UserComment, whatever its character code."""
    if isinstance(value, str):
        return value
    code, data = value[:8], value[8:]
    if code == _CHARSET_UNICODE:
        return _decode_utf16(data).rstrip("\0")
    if code in (_CHARSET_ASCII, _CHARSET_UNDEFINED, _CHARSET_JIS):
        return data.decode("utf-8", errors="replace").rstrip("\0").rstrip()
    return value.decode("utf-8", errors="replace").rstrip("\0").rstrip()  # no character code at all


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------


def _format_for(path: Path, fmt: str | None) -> str:
    """Pillow's format name for fmt, else for path's suffix; MetadataError when neither is supported."""
    name = (fmt or path.suffix).lower().lstrip(".")
    if name not in FORMATS:
        raise MetadataError(
            f"Cannot save {path.name} as {name or 'an unknown format'!r}: "
            "use a .png, .jpg/.jpeg or .webp file name"
        )
    return FORMATS[name]


def _exif(params_json: str, dpi: int | None) -> Image.Exif:
    """EXIF holding the JSON in UserComment, the app name and, for prints, the resolution in DPI."""
    exif = Image.Exif()
    exif[EXIF_SOFTWARE] = f"Sigma Studio {APP_VERSION}"
    if dpi:
        exif[EXIF_X_RESOLUTION] = float(dpi)
        exif[EXIF_Y_RESOLUTION] = float(dpi)
        exif[EXIF_RESOLUTION_UNIT] = EXIF_UNIT_INCH
    exif.get_ifd(ExifTags.IFD.Exif)[EXIF_USER_COMMENT] = encode_user_comment(params_json)
    return exif


def _without_alpha(image: Image.Image) -> Image.Image:
    """image as RGB, transparent parts on white (JPEG has no alpha)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def save_image(
    image: Image.Image,
    path: str | os.PathLike[str],
    params: dict[str, Any],
    fmt: str | None = None,
    quality: int = 95,
    dpi: int | None = None,
) -> Path:
    """Write image with its settings atomically (PNG, JPEG or WebP from fmt or the suffix); dpi for prints."""
    path = Path(path)
    pil_format = _format_for(path, fmt)
    params = {**params, "dpi": dpi} if dpi else dict(params)
    options: dict[str, Any] = {"dpi": (dpi, dpi)} if dpi else {}
    if pil_format == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text(PNG_A1111_KEY, a1111_parameters(params))
        info.add_itxt(PNG_JSON_KEY, json.dumps(params, ensure_ascii=False, default=str))
        options["pnginfo"] = info
    else:
        # ensure_ascii keeps UserComment ASCII, which every EXIF reader decodes the same way
        options["exif"] = _exif(json.dumps(params, ensure_ascii=True, default=str), dpi).tobytes()
        options["quality"] = quality
    if pil_format == "JPEG":
        image = _without_alpha(image)
        options["subsampling"] = 0 if quality >= 90 else 2  # full colour detail for high-quality prints
    elif pil_format == "WEBP":
        options["lossless"] = quality >= 100
    try:
        return atomic_write(path, lambda temp: image.save(temp, format=pil_format, **options))
    except (ValueError, TypeError) as exc:
        raise MetadataError(f"Cannot save {path.name} as {pil_format}: {exc}") from exc


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------


def _our_json(text: Any) -> dict[str, Any] | None:
    """Our settings dict from JSON text, or None when it is not ours."""
    if not isinstance(text, (str, bytes)):
        return None
    try:
        data = safejson.loads(text, MAX_TEXT_CHARS)
    except ValueError:  # too large, too deep, a huge number, not JSON: not settings we can use
        return None
    return data if isinstance(data, dict) and "prompt" in data else None


def _png_text(image: Image.Image) -> dict[str, Any]:
    """PNG text chunks; those after the pixel data need the image loaded, so only then is it loaded."""
    if PNG_JSON_KEY in image.info or PNG_A1111_KEY in image.info:
        return image.info
    text = getattr(image, "text", None)  # PngImageFile.text reads chunks after IDAT as well
    return text if isinstance(text, dict) else image.info


def _user_comment(image: Image.Image) -> str | None:
    """The EXIF UserComment text, or None."""
    try:
        value = image.getexif().get_ifd(ExifTags.IFD.Exif).get(EXIF_USER_COMMENT)
    except Exception:  # noqa: BLE001 - broken EXIF, whatever the break, means no settings, not a broken image
        return None
    if isinstance(value, (bytes, str)) and len(value) > MAX_TEXT_CHARS:
        return None
    return decode_user_comment(value) if isinstance(value, (bytes, str)) and value else None


def _params_of(image: Image.Image) -> dict[str, Any] | None:
    """Our JSON first (PNG chunk, then UserComment), else A1111 parameters, else None."""
    text = _png_text(image) if image.format == "PNG" else image.info
    comment = _user_comment(image)
    ours = _our_json(text.get(PNG_JSON_KEY)) or _our_json(comment)
    if ours is not None:
        return ours
    parameters = text.get(PNG_A1111_KEY)
    if isinstance(parameters, str) and parameters.strip() and len(parameters) <= MAX_TEXT_CHARS:
        return parse_a1111(parameters)
    if comment:
        parsed = parse_a1111(comment)
        if "steps" in parsed:  # a camera's comment is not generation settings
            return parsed
    return None


def read_params(source: str | os.PathLike[str] | Image.Image) -> dict[str, Any] | None:
    """The settings stored in an image file or opened image; None when it has none; MetadataError
    when the file is missing or not a readable image."""
    if isinstance(source, Image.Image):
        return _params_of(source)
    path = Path(source)
    try:
        with Image.open(path) as image:
            return _params_of(image)
    except FileNotFoundError:
        raise MetadataError(
            f"{path.name}: file not found ({path}); it may have been moved or deleted"
        ) from None
    except UnidentifiedImageError:
        raise MetadataError(f"{path.name}: not an image Sigma Studio can read (PNG, JPEG or WebP)") from None
    except Image.DecompressionBombError:
        raise MetadataError(
            f"{path.name}: the image is too large to open safely (over {Image.MAX_IMAGE_PIXELS * 2:,} pixels)"
        ) from None
    except OSError as exc:
        raise MetadataError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - a hostile file (text bomb, broken chunk) is refused by name
        raise MetadataError(f"{path.name}: cannot be read ({type(exc).__name__}: {exc})") from None
