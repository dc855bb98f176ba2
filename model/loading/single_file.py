"""Single-file checkpoints: official PixArt-Σ .pth/.safetensors files, their key conversion to diffusers
naming and back, config inference from the weights, and loading one as a PixArtTransformer2DModel.

May import: model.errors, model.configs, model.loading.catalog, model.inference.kv_compress (to attach
learned KV compressors), torch, safetensors, accelerate, diffusers. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import SourceError, first_line
from ..inference.kv_compress import load_kv_state
from .catalog import HEAD_DIM, RESOLUTION_CONFIG, TRANSFORMER_CLASSES

_TOP = {
    "x_embedder.proj": "pos_embed.proj",
    "y_embedder.y_proj.fc1": "caption_projection.linear_1",
    "y_embedder.y_proj.fc2": "caption_projection.linear_2",
    "t_embedder.mlp.0": "adaln_single.emb.timestep_embedder.linear_1",
    "t_embedder.mlp.2": "adaln_single.emb.timestep_embedder.linear_2",
    "t_block.1": "adaln_single.linear",
    "final_layer.linear": "proj_out",
}
_BLOCK = {
    "attn.proj": "attn1.to_out.0",
    "cross_attn.q_linear": "attn2.to_q",
    "cross_attn.proj": "attn2.to_out.0",
    "mlp.fc1": "ff.net.0.proj",
    "mlp.fc2": "ff.net.2",
}
_SPLIT = {
    "attn.qkv": ("attn1.to_q", "attn1.to_k", "attn1.to_v"),
    "cross_attn.kv_linear": ("attn2.to_k", "attn2.to_v"),
}
_KV = {"attn.sr": "sr", "attn.norm": "norm"}
_DROPPED = ("pos_embed", "y_embedder.y_embedding")
_BLOCK_KEY = re.compile(r"blocks\.(\d+)\.(.+)")
_DIFFUSERS_BLOCK_KEY = re.compile(r"transformer_blocks\.(\d+)\.(.+)")
_KV_KEY = re.compile(r"transformer_blocks\.(\d+)\.attn1\.kv_compress\.(sr|norm)\.(weight|bias)")


def convert_official_state_dict(sd: dict) -> tuple[dict, dict]:
    """Official PixArt-Σ keys -> (diffusers transformer state dict, KV state in kv_compress naming).

    Keys outside the mapping (including keys already in diffusers naming) pass through unchanged;
    `pos_embed` and `y_embedder.y_embedding` are dropped (not weights of the diffusers model).
    """
    out: dict = {}
    kv: dict = {}
    for key, value in sd.items():
        if key in _DROPPED:
            continue
        if key == "final_layer.scale_shift_table":
            out["scale_shift_table"] = value
            continue
        if _KV_KEY.fullmatch(key):
            kv[key] = value
            continue
        match = _BLOCK_KEY.fullmatch(key)
        if match is None:
            module, _, param = key.rpartition(".")
            out[f"{_TOP[module]}.{param}" if module in _TOP else key] = value
            continue
        prefix, rest = f"transformer_blocks.{match[1]}", match[2]
        module, _, param = rest.rpartition(".")
        if rest == "scale_shift_table":
            out[f"{prefix}.scale_shift_table"] = value
        elif module in _BLOCK:
            out[f"{prefix}.{_BLOCK[module]}.{param}"] = value
        elif module in _SPLIT:
            names = _SPLIT[module]
            if value.ndim == 0 or value.shape[0] % len(names):
                raise SourceError(
                    f"{key} has shape {tuple(value.shape)}: its first dimension must split into "
                    f"{len(names)} equal parts"
                )
            for name, part in zip(names, value.chunk(len(names), dim=0), strict=True):
                out[f"{prefix}.{name}.{param}"] = part
        elif module in _KV:
            kv[f"{prefix}.attn1.kv_compress.{_KV[module]}.{param}"] = value
        else:
            out[key] = value
    return out, kv


def to_official_state_dict(diffusers_sd: dict, kv_state: dict | None = None) -> dict:
    """The exact inverse of convert_official_state_dict (no pos_embed / y_embedding: the diffusers model lacks them)."""
    top = {v: k for k, v in _TOP.items()}
    block = {v: k for k, v in _BLOCK.items()}
    split_of = {name: (module, names) for module, names in _SPLIT.items() for name in names}
    out: dict = {}
    pending: dict[tuple[str, str, str], dict[str, torch.Tensor]] = {}
    for key, value in diffusers_sd.items():
        if key == "scale_shift_table":
            out["final_layer.scale_shift_table"] = value
            continue
        match = _DIFFUSERS_BLOCK_KEY.fullmatch(key)
        if match is None:
            module, _, param = key.rpartition(".")
            out[f"{top[module]}.{param}" if module in top else key] = value
            continue
        prefix, rest = f"blocks.{match[1]}", match[2]
        module, _, param = rest.rpartition(".")
        if rest == "scale_shift_table":
            out[f"{prefix}.scale_shift_table"] = value
        elif module in block:
            out[f"{prefix}.{block[module]}.{param}"] = value
        elif module in split_of:
            pending.setdefault((prefix, split_of[module][0], param), {})[module] = value
        else:
            out[key] = value
    for (prefix, official, param), parts in pending.items():
        names = _SPLIT[official]
        if set(parts) == set(names):
            out[f"{prefix}.{official}.{param}"] = torch.cat([parts[n] for n in names], dim=0)
        else:  # an incomplete q/k/v set cannot be fused: keep the parts under their diffusers names
            index = prefix.split(".")[1]
            out.update({f"transformer_blocks.{index}.{n}.{param}": v for n, v in parts.items()})
    for key, value in (kv_state or {}).items():
        match = _KV_KEY.fullmatch(key)
        out[f"blocks.{match[1]}.attn.{match[2]}.{match[3]}" if match else key] = value
    return out


def _official_name(key: str) -> str:
    """The official checkpoint key a diffusers key comes from (for error messages)."""
    empty = torch.empty(0)
    if _KV_KEY.fullmatch(key):
        return next(iter(to_official_state_dict({}, {key: empty})))
    match = _DIFFUSERS_BLOCK_KEY.fullmatch(key)
    if match is not None:
        for module, names in _SPLIT.items():
            for part in names:
                if match[2].startswith(part + "."):
                    letter = part.rsplit("_", 1)[-1]
                    return f"blocks.{match[1]}.{module}.{match[2].rsplit('.', 1)[-1]} ({letter} part)"
    return next(iter(to_official_state_dict({key: empty})))


# ---------------------------------------------------------------- single-file checkpoints


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and config hint of a .pth/.safetensors file; refuses pickles that need code.

    The state dict may be the file itself or sit under "state_dict". The optional hint is a
    "config" dict entry (.pth) or a JSON "config" metadata string (.safetensors).
    """
    path = Path(path)
    hint: dict = {}
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        try:
            raw: Any = load_file(path)
            with safe_open(path, framework="pt") as handle:
                meta = handle.metadata() or {}
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:  # header or data unreadable
            raise SourceError(
                f"{path} cannot be read as a safetensors file ({first_line(exc)}): it may be truncated "
                "or not a checkpoint; download it again"
            ) from None
        if meta.get("config"):
            try:
                hint = json.loads(meta["config"])
            except json.JSONDecodeError:
                hint = None
            if not isinstance(hint, dict):
                raise SourceError(f"{path}: the 'config' metadata is not a JSON object") from None
    else:
        import pickle

        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if "weights only load failed" in str(exc).lower():
                raise SourceError(
                    f"{path} contains Python code, refusing to load it: only plain tensor checkpoints are "
                    "accepted (re-save it as a state dict of tensors or as .safetensors)"
                ) from None
            raise SourceError(f"{path} cannot be read ({first_line(exc)}): it may be truncated") from None
        except Exception as exc:  # noqa: BLE001 - truncated zip, not a torch file, I/O error: all unreadable
            raise SourceError(
                f"{path} cannot be read as a PyTorch checkpoint ({type(exc).__name__}: {first_line(exc)}): "
                "it may be truncated or not a checkpoint; download it again"
            ) from None
    if not isinstance(raw, dict):
        raise SourceError(f"{path} holds a {type(raw).__name__}, expected a dict of tensors (a state dict)")
    if isinstance(raw.get("config"), dict):
        hint = raw["config"]
    if isinstance(raw.get("state_dict"), dict):
        raw = raw["state_dict"]
    tensors = {str(k): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise SourceError(f"{path} holds no tensors: expected a PixArt-Σ state dict")
    if all(k.startswith("module.") for k in tensors):  # saved from a DistributedDataParallel wrapper
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors, hint


def _sibling_hint(path: Path) -> dict:
    """Config next to a checkpoint: NAME.json or config.json describing a PixArt transformer."""
    for candidate in (path.with_suffix(".json"), path.parent / "config.json"):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(data, dict) and data.get("_class_name") in TRANSFORMER_CLASSES:
                return data
    return {}


def _resolution_from_name(name: str) -> int | None:
    """512/1024/2048 from a file name such as PixArt-Sigma-XL-2-2K-MS.pth, else None."""
    match = re.search(r"(?<![0-9])(256|512|1024|2048|1k|2k)(?![0-9])", name.lower())
    if match is None:
        return None
    return {"1k": 1024, "2k": 2048}.get(match[1]) or int(match[1])


def infer_transformer_config(sd: dict, hint: dict | None = None, file_name: str = "") -> dict:
    """PixArtTransformer2DModel config for a diffusers-named state dict.

    Sizes come from the weights: hidden from pos_embed.proj, depth from the block count, caption
    channels from caption_projection.linear_1, heads = hidden / 72 as in the released models. The
    hint (a checkpoint's "config" entry or a sibling config.json) may give `head_dim` (or
    `attention_head_dim`), `num_attention_heads`, `sample_size`, `interpolation_scale` or
    `resolution`; otherwise sample size follows the file name (512/1024/2K), default 1024.
    """
    from ..configs import transformer_config

    hint = hint or {}
    weight = sd["pos_embed.proj.weight"]
    if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
        raise SourceError(
            f"x_embedder.proj.weight has shape {tuple(weight.shape)}, expected (hidden, 4, 2, 2)"
        )
    hidden, in_channels, patch = int(weight.shape[0]), int(weight.shape[1]), int(weight.shape[2])
    blocks = sorted({int(m[1]) for k in sd if (m := _DIFFUSERS_BLOCK_KEY.fullmatch(k))})
    if not blocks or blocks != list(range(len(blocks))):
        gap = next(i for i in range(len(blocks) + 1) if i not in blocks)
        raise SourceError(f"missing key blocks.{gap}.attn.qkv.weight: the transformer blocks are incomplete")
    head_dim = hint.get("head_dim") or hint.get("attention_head_dim")
    if not head_dim and hint.get("num_attention_heads"):
        head_dim = hidden // int(hint["num_attention_heads"])
    if not head_dim:
        if hidden % HEAD_DIM:
            raise SourceError(
                f"cannot tell the number of attention heads: hidden size {hidden} is not a multiple of "
                f"{HEAD_DIM}; add a 'config' entry {{'head_dim': N}} to the checkpoint"
            )
        head_dim = HEAD_DIM
    head_dim = int(head_dim)
    if head_dim <= 0 or hidden % head_dim:
        raise SourceError(f"head_dim {head_dim} does not divide the hidden size {hidden}")
    resolution = hint.get("resolution") or _resolution_from_name(file_name) or 1024
    sample, scale = RESOLUTION_CONFIG.get(int(resolution), RESOLUTION_CONFIG[1024])
    sample = hint.get("sample_size", sample)
    scale = hint.get("interpolation_scale", scale)
    caption = sd["caption_projection.linear_1.weight"]
    out_channels = int(sd["proj_out.weight"].shape[0]) // (patch * patch)
    config = transformer_config(
        hidden, len(blocks), hidden // head_dim, int(caption.shape[-1]), sample, scale
    )
    config.update(in_channels=in_channels, out_channels=out_channels, patch_size=patch)
    return config


_REQUIRED = (
    "pos_embed.proj.weight",
    "caption_projection.linear_1.weight",
    "adaln_single.linear.weight",
    "proj_out.weight",
    "transformer_blocks.0.attn1.to_q.weight",
)


def load_single_file(path: str | Path, dtype: torch.dtype = torch.float32) -> tuple[Any, dict | None]:
    """(PixArtTransformer2DModel, kv info or None) from an official or diffusers-named single file."""
    from accelerate import init_empty_weights
    from diffusers import PixArtTransformer2DModel

    path = Path(path)
    raw, hint = read_checkpoint(path)
    try:
        sd, kv_state = convert_official_state_dict(raw)
        missing = [k for k in _REQUIRED if k not in sd]
        if missing:
            sample = ", ".join(list(raw)[:3])
            raise SourceError(
                f"not a PixArt-Σ checkpoint: missing key {_official_name(missing[0])} (it holds keys like {sample})"
            )
        config = infer_transformer_config(sd, hint or _sibling_hint(path), path.name)
    except SourceError as exc:
        raise SourceError(f"{path}: {exc}") from None
    with init_empty_weights(include_buffers=False):  # parameters come from the file: skip random init
        model = PixArtTransformer2DModel(**config)
    expected = model.state_dict()
    _check_state(path, sd, expected, config)
    model.load_state_dict(sd, strict=True, assign=True)
    model = model.to(dtype).eval()
    kv = _load_kv_state(path, model, kv_state, config) if kv_state else None
    return model, kv


def _check_state(path: Path, sd: dict, expected: dict, config: dict) -> None:
    """Raise one SourceError naming a missing, unexpected or wrong-shaped tensor."""
    what = (
        f"a PixArt-Σ transformer with hidden size {config['num_attention_heads'] * config['attention_head_dim']}"
        f" and {config['num_layers']} blocks"
    )
    missing = [k for k in expected if k not in sd]
    if missing:
        raise SourceError(f"{path}: missing key {_official_name(missing[0])} for {what}")
    unexpected = [k for k in sd if k not in expected]
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        raise SourceError(
            f"{path}: unexpected key {_official_name(unexpected[0])}{more}: not {what} "
            "(PixArt-α or other DiT checkpoints are not supported)"
        )
    for key, tensor in sd.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise SourceError(
                f"{path}: {_official_name(key)} has shape {tuple(tensor.shape)}, expected "
                f"{tuple(expected[key].shape)} for {what}; the file may be damaged or from another model"
            )
        if not tensor.is_floating_point():
            raise SourceError(f"{path}: {_official_name(key)} holds {tensor.dtype}, expected floating point")


def _load_kv_state(path: Path, model: Any, kv_state: dict, config: dict) -> dict:
    """Install learned KV-compression weights (conv mode); the factor is the sr conv kernel size."""
    hidden = config["num_attention_heads"] * config["attention_head_dim"]
    factors = set()
    for key, tensor in kv_state.items():
        match = _KV_KEY.fullmatch(key)
        if match is None or int(match[1]) >= config["num_layers"]:
            raise SourceError(f"{path}: unexpected KV-compression key {_official_name(key)}")
        if match[2] == "sr" and match[3] == "weight":
            if tensor.ndim != 4 or tensor.shape[:2] != (hidden, 1) or tensor.shape[2] != tensor.shape[3]:
                raise SourceError(
                    f"{path}: {_official_name(key)} has shape {tuple(tensor.shape)}, expected "
                    f"({hidden}, 1, k, k) (a depthwise conv)"
                )
            factors.add(int(tensor.shape[2]))
        elif tuple(tensor.shape) != (hidden,):
            raise SourceError(
                f"{path}: {_official_name(key)} has shape {tuple(tensor.shape)}, expected ({hidden},)"
            )
    if len(factors) != 1:
        found = sorted(factors) or "none"
        raise SourceError(f"{path}: KV-compression blocks need one sr kernel size, found {found}")
    factor = factors.pop()
    dtype = next(model.parameters()).dtype
    try:
        blocks = load_kv_state(model, {k: v.to(dtype) for k, v in kv_state.items()}, factor)
    except SourceError as exc:
        raise SourceError(f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure means the weights do not fit the model
        raise SourceError(f"{path}: the KV-compression weights do not fit ({first_line(exc)})") from None
    return {"factor": factor, "blocks": list(blocks), "mode": "conv"}
