"""Model catalogue: released PixArt-Σ variants, hub ids, the demo model, and resolving a --model spec.

A *source* says where the transformer comes from; its *base* gives the parts it is used with
(T5 text encoder, tokenizer, VAE, scheduler). Resolving checks that a local folder or file has what
its layout needs; nothing is downloaded or loaded here.

May import: model.errors, model.loading.defaults, model.loading.file_check, the top-level `resources`
package, huggingface_hub
(id validation only). Never Qt, app/ or ui/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import resources

from ..errors import SourceError
from .defaults import read_json
from .file_check import check_checkpoint_file

DEMO_DIR = resources.root() / "demo_model"
DEMO_NAME = "Demo model (built-in)"
BASE_REPO = "PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers"
# Honest on-disk figure: the hub stores the T5-v1.1-XXL encoder in fp32 (9.99 + 9.06 GB shards) next to
# the 0.33 GB SDXL VAE; loaded in fp16/bf16 the encoder takes about half of that in memory.
BASE_DOWNLOAD_GB = 19.4
HEAD_DIM = 72  # attention head size of the released XL/2 models (1152 = 16 x 72)

TRANSFORMER_PATTERNS = [
    "transformer/config.json",
    "transformer/diffusion_pytorch_model*.safetensors",
    "transformer/diffusion_pytorch_model.safetensors.index.json",
    "transformer/kv_compress.*",
    "config.json",
    "diffusion_pytorch_model*.safetensors",
    "diffusion_pytorch_model.safetensors.index.json",
    "kv_compress.*",
]
BASE_PATTERNS = [
    "model_index.json",
    "text_encoder/*.json",
    "text_encoder/*.safetensors",
    "tokenizer/*",
    "vae/*.json",
    "vae/diffusion_pytorch_model.safetensors",
    "scheduler/*.json",
]
TRANSFORMER_CLASSES = ("PixArtTransformer2DModel", "Transformer2DModel")
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")
# folder part -> (file that must be there, what it is)
PARTS = {
    "transformer": ("config.json", "the PixArt transformer"),
    "text_encoder": ("config.json", "the T5 text encoder"),
    "tokenizer": (None, "the T5 tokenizer"),
    "vae": ("config.json", "the VAE"),
    "scheduler": ("scheduler_config.json", "the scheduler"),
}
BASE_PARTS = ("text_encoder", "tokenizer", "vae", "scheduler")
# resolution -> (sample_size, interpolation_scale) of the released configs
RESOLUTION_CONFIG = {256: (32, 0.5), 512: (64, 1), 1024: (128, 2), 2048: (256, 4)}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class Variant:
    """A released PixArt-Σ transformer on the Hugging Face hub."""

    name: str
    hub_id: str
    resolution: int
    download_gb: float  # transformer/ only: one fp32 safetensors file
    description: str


VARIANTS: list[Variant] = [
    Variant(
        "PixArt-Sigma-XL-2-512-MS",
        "PixArt-alpha/PixArt-Sigma-XL-2-512-MS",
        512,
        2.44,
        "512 px model: fastest, least detail; good for drafts",
    ),
    Variant(
        "PixArt-Sigma-XL-2-1024-MS",
        "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS",
        1024,
        2.44,
        "1024 px model: the recommended default; 4K with KV compression",
    ),
    Variant(
        "PixArt-Sigma-XL-2-2K-MS",
        "PixArt-alpha/PixArt-Sigma-XL-2-2K-MS",
        2048,
        2.44,
        "2048 px model: most detail for 2K-4K posters and wallpapers; slowest",
    ),
]


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: kind is hub, pipeline_folder, transformer_folder, single_file or demo."""

    kind: str
    location: str
    base: ModelSource | None = None
    name: str = ""


# ---------------------------------------------------------------- variants and resolving


def _aliases(variant: Variant) -> set[str]:
    """Lower-case names a variant answers to: its name, hub id, resolution, and 1K/2K."""
    names = {variant.name.lower(), variant.hub_id.lower(), str(variant.resolution)}
    if variant.resolution >= 1024:
        names.add(f"{variant.resolution // 1024}k")
    return names


def find_variant(name: str) -> Variant | None:
    """The released variant called `name` ("512", "1024", "2K", its name or hub id), else None."""
    key = name.strip().lower()
    return next((v for v in VARIANTS if key in _aliases(v)), None)


def resolve_source(spec: str | None, base: str | None = None, default: str | None = None) -> ModelSource:
    """Turn a --model value into a validated ModelSource; None means `default`, else the demo model."""
    if spec is None or not str(spec).strip():
        if default:
            return resolve_source(default, base)
        return demo_source()
    spec = str(spec).strip()
    if spec.lower() == "demo":
        return demo_source()
    variant = find_variant(spec)
    if variant is not None:
        return ModelSource("hub", variant.hub_id, _resolve_base(base), variant.name)
    path = Path(spec).expanduser()
    if path.exists():
        return _local_source(path, base)
    if looks_like_path(spec):
        raise SourceError(f"{spec}: no such file or folder")
    if is_hub_id(spec):
        return ModelSource("hub", spec, _resolve_base(base), spec)
    raise SourceError(
        f"{spec!r} is not a model: expected a hub id (owner/name), a diffusers folder, "
        "a .pth or .safetensors file, 512/1024/2K or demo"
    )


def demo_source() -> ModelSource:
    """The embedded demo model, if it is installed."""
    if not (DEMO_DIR / "model_index.json").is_file():
        raise SourceError(
            f"the built-in demo model is not installed (expected {DEMO_DIR}/model_index.json): "
            "choose a model with --model, for example 1024"
        )
    return ModelSource("demo", str(DEMO_DIR), None, DEMO_NAME)


def is_hub_id(text: str) -> bool:
    """True for a syntactically valid `owner/name` hub id."""
    if not _HUB_ID.fullmatch(text):
        return False
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def looks_like_path(text: str) -> bool:
    """True when `text` is meant as a file system path rather than a hub id."""
    return (
        text.startswith(("/", ".", "~"))
        or "\\" in text
        or text.count("/") > 1
        or re.match(r"[A-Za-z]:", text) is not None
        or Path(text).suffix.lower() in CHECKPOINT_SUFFIXES + (".bin", ".ckpt", ".gguf")
    )


def _local_source(path: Path, base: str | None) -> ModelSource:
    """Classify an existing file or folder, checking it has what its layout needs."""
    path = path.resolve()
    if path.is_file():
        if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise SourceError(
                f"{path}: unsupported file type {path.suffix or '(no extension)'!r}: expected a .pth or "
                ".safetensors transformer checkpoint, or a diffusers folder"
            )
        check_checkpoint_file(path)  # before the base: a bad file must not wait for a 19 GB download
        return ModelSource("single_file", str(path), _resolve_base(base), path.name)
    if not path.is_dir():
        raise SourceError(f"{path}: not a regular file or folder")
    if (path / "model_index.json").is_file():
        check_parts(path, tuple(PARTS))
        return ModelSource("pipeline_folder", str(path), _resolve_base(base) if base else None, path.name)
    if (path / "config.json").is_file():
        check_transformer_config(path)
        return ModelSource("transformer_folder", str(path), _resolve_base(base), path.name)
    if (path / "transformer" / "config.json").is_file():  # a downloaded variant repo: only transformer/
        check_transformer_config(path / "transformer")
        return ModelSource("transformer_folder", str(path / "transformer"), _resolve_base(base), path.name)
    raise SourceError(
        f"{path} is neither a diffusers pipeline folder (model_index.json with transformer/, text_encoder/, "
        "tokenizer/, vae/, scheduler/) nor a PixArt transformer folder (config.json + weights)"
    )


def check_transformer_config(folder: Path) -> None:
    """Raise unless folder/config.json describes a PixArt transformer and weights are next to it."""
    config = read_json(folder / "config.json")
    cls = config.get("_class_name")
    if cls not in TRANSFORMER_CLASSES:
        raise SourceError(
            f"{folder / 'config.json'} describes a {cls or 'model of unknown class'}, "
            "expected _class_name PixArtTransformer2DModel"
        )
    _check_weights(folder, "the PixArt transformer")


def _check_weights(folder: Path, what: str) -> None:
    """Raise unless `folder` holds safetensors (or .bin) weights."""
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise SourceError(f"{folder} has no weights for {what}: expected a .safetensors file there")


def check_parts(folder: Path, parts: tuple[str, ...]) -> None:
    """Raise naming the first part of a diffusers folder that is missing or incomplete."""
    for part in parts:
        marker, what = PARTS[part]
        sub = folder / part
        if not sub.is_dir():
            raise SourceError(f"{folder} is missing {part}/ ({what}): the folder is incomplete")
        if marker is not None and not (sub / marker).is_file():
            raise SourceError(f"{sub} has no {marker} ({what}): the folder is incomplete")
        if marker is None and not any(sub.iterdir()):
            raise SourceError(f"{sub} is empty ({what}): the folder is incomplete")
        if part in ("transformer", "text_encoder", "vae"):
            _check_weights(sub, what)


def _resolve_base(base: str | None) -> ModelSource:
    """The source of T5, tokenizer, VAE and scheduler: a hub id or pipeline folder; default BASE_REPO."""
    spec = (base or BASE_REPO).strip()
    if spec.lower() == "demo":
        return demo_source()
    path = Path(spec).expanduser()
    if path.is_dir():
        check_parts(path.resolve(), BASE_PARTS)
        return ModelSource("pipeline_folder", str(path.resolve()), None, path.name)
    if path.exists() or looks_like_path(spec):
        where = "is not a folder" if path.exists() else "does not exist"
        raise SourceError(
            f"base {spec} {where}: expected a diffusers pipeline folder (text_encoder/, tokenizer/, vae/, "
            f"scheduler/) or a hub id such as {BASE_REPO}"
        )
    if not is_hub_id(spec):
        raise SourceError(f"base {spec!r}: expected a diffusers pipeline folder or a hub id (owner/name)")
    return ModelSource("hub", spec, None, spec)
