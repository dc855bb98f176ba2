"""PixArt-Sigma KV token compression for the self-attention of a diffusers PixArtTransformer2DModel.

In a compressed block the queries are left alone while keys and values, laid out on the H x W token
grid, are downsampled by a factor s: attention then runs over ceil(H/s) * ceil(W/s) keys. Two modes:

- "avg": training-free average pooling (kernel = stride = s); a window that sticks out of the grid
  (a side not divisible by s) is averaged over its valid tokens only. No LayerNorm.
- "conv": the official learned compressor, a depthwise conv `sr` (kernel = stride = s, initialised
  to the average) followed by `norm = LayerNorm(C)`, the same pair for keys and values. The grid is
  replicate-padded at the bottom/right to a multiple of s first, so odd sides work; for s = 2 a
  fresh conv then equals the valid-token average, for larger s a border window repeats its last
  row/column.

The processors need the token grid, which a forward pre-hook on the transformer reads from the
latent `hidden_states` (B, C, h, w) on every call. Learned compressors live as submodules
`transformer_blocks[i].attn1.kv_compress` and are saved next to a diffusers transformer folder in a
sidecar (`kv_compress.safetensors` + `kv_compress.json`), since diffusers' loader ignores them.

`attach` is the one function that installs, changes or removes compression: the engine (per request),
the loaders (learned weights via load_kv_state) and the trainer all go through it.
May import: model.errors, torch, diffusers, safetensors. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import BadRequest, SourceError

# Chosen from `python benchmarks/kv_compress.py --threads 1 --sizes 256,512,768,1024` (mid DiT, hidden
# 384, 12 blocks, s on blocks 6..11, avg mode, CPU, one CFG step, CPU-time medians): s=2 saves ~9% at
# 256-1024 tokens (within noise), 14% at 2304 and 22% at 4096 tokens; the saving grows with the
# share of self-attention, i.e. with tokens / hidden width. The XL model (hidden 1152) reaches the
# mid DiT's 4096-token share at ~12k tokens, so on it s=2 pays off clearly from ~2048^2 = 16384
# tokens, which is also where the paper uses compression (2K/4K). Below that the time saved is small
# and the released models (trained without compression) lose a little fidelity for it.
AUTO_KV_TOKENS: int = 16384

SIDECAR_WEIGHTS = "kv_compress.safetensors"
SIDECAR_CONFIG = "kv_compress.json"
SIDECAR_FORMAT = "sigma-studio-kv"
SIDECAR_VERSION = 1

MODES = ("avg", "conv")
_KEY = re.compile(
    r"^transformer_blocks\.(\d+)\.attn1\.kv_compress\.(sr\.weight|sr\.bias|norm\.weight|norm\.bias)$"
)
_PARTS = ("sr.weight", "sr.bias", "norm.weight", "norm.bias")


class KVCompressor(nn.Module):
    """Learned KV compressor of one block: depthwise strided conv `sr` then LayerNorm `norm`."""

    def __init__(self, channels: int, factor: int) -> None:
        """Build for `channels` features and stride `factor`; sr starts as the s x s average."""
        super().__init__()
        if factor < 2:
            raise ValueError(f"KV compression factor must be 2 or more, got {factor}")
        self.factor = factor
        self.sr = nn.Conv2d(channels, channels, kernel_size=factor, stride=factor, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """sr = average pooling (weight 1/s^2, bias 0), norm = identity affine."""
        with torch.no_grad():
            self.sr.weight.fill_(1.0 / self.factor**2)
            self.sr.bias.zero_()
        self.norm.reset_parameters()

    def forward(self, x: Tensor, grid_hw: tuple[int, int]) -> Tensor:
        """(B, N, C) tokens on an H x W grid -> (B, ceil(H/s) * ceil(W/s), C)."""
        b, _, c = x.shape
        h, w = grid_hw
        s = self.factor
        x = x.transpose(1, 2).reshape(b, c, h, w)  # (B, C, H, W)
        pad_h, pad_w = -h % s, -w % s
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")  # (B, C, H', W'), multiples of s
        x = self.sr(x)  # (B, C, H'/s, W'/s)
        x = x.flatten(2).transpose(1, 2)  # (B, N', C)
        return self.norm(x)


def avg_compress(x: Tensor, grid_hw: tuple[int, int], factor: int) -> Tensor:
    """(B, N, C) -> (B, N', C): s x s average over the grid, border windows over valid tokens only."""
    b, _, c = x.shape
    h, w = grid_hw
    x = x.transpose(1, 2).reshape(b, c, h, w)  # (B, C, H, W)
    # without padding, ceil_mode clips the last window to the grid and divides by its valid size
    x = F.avg_pool2d(x, factor, factor, ceil_mode=True)  # (B, C, ceil(H/s), ceil(W/s))
    return x.flatten(2).transpose(1, 2)  # (B, N', C)


def _compress_mask(mask: Tensor, grid_hw: tuple[int, int], factor: int) -> Tensor:
    """Key mask/bias (..., N) -> (..., N'): a compressed key is kept when any of its tokens is."""
    h, w = grid_hw
    lead = mask.shape[:-1]
    is_bool = mask.dtype == torch.bool
    m = mask.reshape(-1, 1, h, w)  # (B*M, 1, H, W)
    m = m.float() if is_bool else m
    m = F.max_pool2d(m, factor, factor, ceil_mode=True)  # bias 0 = keep beats -10000 = drop
    m = m.reshape(*lead, -1)  # (..., N')
    return m > 0 if is_bool else m


class _KVState:
    """Token grid of the forward in progress, written by the transformer hook, read by processors."""

    def __init__(self) -> None:
        self.grid: tuple[int, int] | None = None


def _grid_hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
    """Forward pre-hook: record the latent's token grid (h // patch, w // patch)."""
    latent = args[0] if args else kwargs.get("hidden_states")
    state = module.__dict__.get("_kv_state")
    if state is not None and latent is not None and latent.ndim == 4:
        patch = module.config.patch_size
        state.grid = (latent.shape[-2] // patch, latent.shape[-1] // patch)


class KVCompressAttnProcessor:
    """diffusers attention processor (as AttnProcessor2_0) with keys/values compressed over the grid."""

    def __init__(self, factor: int, mode: str = "avg", state: _KVState | None = None) -> None:
        """Compress by `factor` with `mode` "avg" or "conv"; `state` supplies the token grid."""
        if mode not in MODES:
            raise ValueError(f"KV compression mode must be one of {MODES}, got {mode!r}")
        self.factor = factor
        self.mode = mode
        self.state = state if state is not None else _KVState()

    def _grid(self, n: int) -> tuple[int, int]:
        """The current token grid, checked against the sequence length."""
        grid = self.state.grid
        if grid is None or grid[0] * grid[1] != n:
            raise RuntimeError(
                f"KV compression needs the token grid of the {n} image tokens (have {grid}); "
                "install it with attach() so the transformer records it"
            )
        return grid

    def _compress(self, attn, x: Tensor, grid: tuple[int, int]) -> Tensor:
        """(B, N, C) -> (B, N', C) with this processor's mode."""
        if self.mode == "avg":
            return avg_compress(x, grid, self.factor)
        compressor = getattr(attn, "kv_compress", None)
        if compressor is None:
            raise RuntimeError(
                "conv KV compression needs attn.kv_compress: use attach(mode='conv')"
            )
        return compressor(x, grid)

    def __call__(
        self,
        attn,
        hidden_states: Tensor,
        encoder_hidden_states: Tensor | None = None,
        attention_mask: Tensor | None = None,
        temb: Tensor | None = None,
        *args,
        **kwargs,
    ) -> Tensor:
        """Self-attention with compressed keys/values; cross-attention runs uncompressed."""
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)

        input_ndim = hidden_states.ndim
        grid = None
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            grid = (height, width)
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(
                1, 2
            )  # (B, N, C)

        compress = encoder_hidden_states is None and self.factor > 1
        batch_size, n, _ = hidden_states.shape
        if compress:
            grid = grid or self._grid(n)
            key_length = -(-grid[0] // self.factor) * -(-grid[1] // self.factor)
        else:
            key_length = n if encoder_hidden_states is None else encoder_hidden_states.shape[1]

        if attention_mask is not None:
            if compress and attention_mask.shape[-1] == n:
                attention_mask = _compress_mask(attention_mask, grid, self.factor)
            attention_mask = attn.prepare_attention_mask(attention_mask, key_length, batch_size)
            attention_mask = attention_mask.view(batch_size, attn.heads, -1, attention_mask.shape[-1])

        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        hidden_states = self._attend(attn, hidden_states, encoder_hidden_states, attention_mask, compress, grid)

        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor

    def _attend(
        self,
        attn,
        hidden_states: Tensor,
        encoder_hidden_states: Tensor | None,
        attention_mask: Tensor | None,
        compress: bool,
        grid: tuple[int, int] | None,
    ) -> Tensor:
        """Projections, (compressed) keys/values, SDPA and the output projection: (B, N, C) -> (B, N, C)."""
        batch_size = hidden_states.shape[0]
        query = attn.to_q(hidden_states)  # (B, N, C)

        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)

        key = attn.to_k(encoder_hidden_states)  # (B, N, C)
        value = attn.to_v(encoder_hidden_states)  # (B, N, C)
        if compress:
            # one pass for both: the same sr/norm apply to keys and values
            key, value = self._compress(attn, torch.cat([key, value]), grid).chunk(2)  # (B, N', C) each

        inner_dim = key.shape[-1]
        head_dim = inner_dim // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)  # (B, h, N, d)
        key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)  # (B, h, N', d)
        value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)  # (B, h, N', d)

        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        hidden_states = F.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False
        )  # (B, h, N, d)
        hidden_states = hidden_states.transpose(1, 2).reshape(
            batch_size, -1, attn.heads * head_dim
        )  # (B, N, C)
        hidden_states = hidden_states.to(query.dtype)

        hidden_states = attn.to_out[0](hidden_states)
        return attn.to_out[1](hidden_states)


# ---------------------------------------------------------------- install / remove


def _attn1(transformer: nn.Module, i: int):
    """Self-attention module of block i."""
    return transformer.transformer_blocks[i].attn1


def _uninstall(transformer: nn.Module) -> None:
    """Default processors back on every compressed block and the grid hook removed."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    for block in transformer.transformer_blocks:
        if isinstance(block.attn1.processor, KVCompressAttnProcessor):
            block.attn1.set_processor(AttnProcessor2_0())
    handle = transformer.__dict__.pop("_kv_hook", None)
    if handle is not None:
        handle.remove()
    # a copied transformer may carry our hook without its handle: never leave one behind
    for key, fn in list(transformer._forward_pre_hooks.items()):
        if fn is _grid_hook:
            del transformer._forward_pre_hooks[key]
            transformer._forward_pre_hooks_with_kwargs.pop(key, None)
    transformer.__dict__.pop("_kv_state", None)
    transformer.__dict__.pop("_kv_settings", None)


def _check_blocks(transformer: nn.Module, blocks: list[int] | None) -> list[int]:
    """Validated, sorted, unique block indices; None -> the second half."""
    n = len(transformer.transformer_blocks)
    if blocks is None:
        return list(range(n // 2, n))
    out = sorted({int(i) for i in blocks})
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise BadRequest(f"KV compression blocks {bad} do not exist: the transformer has blocks 0-{n - 1}")
    return out


def attach(
    transformer: nn.Module, factor: int, blocks: list[int] | None = None, mode: str = "avg"
) -> dict | None:
    """THE place KV compression is switched on, changed or off (factor 1); returns kv_settings().

    Compresses self-attention keys/values by `factor` in `blocks` (default: the second half) with
    `mode` "avg" or "conv". Idempotent: asking for what is already installed changes nothing.
    Otherwise it replaces any earlier setting (one hook, processors swapped). In "conv" mode every
    listed block gets a `kv_compress` submodule (an existing one with the same factor is kept, a new
    one starts as the average); compressors on unlisted blocks or with another factor are dropped,
    so the learned modules always match the setting and kv_state_dict() saves exactly what runs.
    Factor 1 restores diffusers' processors and keeps learned compressors.
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise BadRequest(f"KV compression factor must be a whole number >= 1, got {factor!r}")
    if mode not in MODES:
        raise BadRequest(f"KV compression mode must be one of {', '.join(MODES)}, got {mode!r}")
    chosen = _check_blocks(transformer, blocks)
    if factor == 1 or not chosen:
        _uninstall(transformer)
        return None
    if _installed(transformer, factor, chosen, mode):
        return kv_settings(transformer)
    _uninstall(transformer)
    if mode == "conv":
        _fit_compressors(transformer, factor, chosen)
    state = _KVState()
    transformer._kv_state = state
    for i in chosen:
        _attn1(transformer, i).set_processor(KVCompressAttnProcessor(factor, mode, state))
    transformer._kv_hook = transformer.register_forward_pre_hook(_grid_hook, with_kwargs=True)
    transformer._kv_settings = {"factor": factor, "blocks": chosen, "mode": mode}
    return kv_settings(transformer)


def _installed(transformer: nn.Module, factor: int, chosen: list[int], mode: str) -> bool:
    """True when exactly this setting is in place (settings, hook, processors and compressors)."""
    if transformer.__dict__.get("_kv_settings") != {"factor": factor, "blocks": chosen, "mode": mode}:
        return False
    if transformer.__dict__.get("_kv_hook") is None:
        return False
    for i in chosen:
        attn = _attn1(transformer, i)
        processor = attn.processor
        if not isinstance(processor, KVCompressAttnProcessor) or processor.state is not transformer._kv_state:
            return False
        compressor = getattr(attn, "kv_compress", None)
        if mode == "conv" and (compressor is None or compressor.factor != factor):
            return False
    return True


def _fit_compressors(transformer: nn.Module, factor: int, chosen: list[int]) -> None:
    """Conv mode: a compressor with `factor` on every chosen block (kept if it fits), none elsewhere."""
    for i, block in enumerate(transformer.transformer_blocks):
        attn = block.attn1
        old = getattr(attn, "kv_compress", None)
        if i not in chosen or (old is not None and old.factor != factor):
            if old is not None:
                del attn.kv_compress
            old = None
        if i in chosen and old is None:
            ref = attn.to_k.weight
            attn.kv_compress = KVCompressor(attn.to_k.out_features, factor).to(ref.device, ref.dtype)


def remove_kv_compression(transformer: nn.Module, drop_weights: bool = False) -> None:
    """attach(transformer, 1): diffusers' processors, no hook; learned compressors go only with drop_weights."""
    attach(transformer, 1)
    if drop_weights:
        for block in transformer.transformer_blocks:
            if getattr(block.attn1, "kv_compress", None) is not None:
                del block.attn1.kv_compress


def kv_settings(transformer: nn.Module) -> dict | None:
    """{"factor", "blocks", "mode"} currently applied, or None when compression is off."""
    settings = transformer.__dict__.get("_kv_settings")
    return None if settings is None else {**settings, "blocks": list(settings["blocks"])}


# ---------------------------------------------------------------- weights


def kv_state_dict(transformer: nn.Module) -> dict[str, Tensor]:
    """Weights of every learned compressor, keyed as in the transformer's state_dict."""
    out: dict[str, Tensor] = {}
    for i, block in enumerate(transformer.transformer_blocks):
        compressor = getattr(block.attn1, "kv_compress", None)
        if compressor is None:
            continue
        for name, tensor in compressor.state_dict().items():
            out[f"transformer_blocks.{i}.attn1.kv_compress.{name}"] = tensor.detach()
    return out


def _expected_shape(part: str, channels: int, factor: int) -> tuple[int, ...]:
    """Shape of one compressor tensor."""
    return (channels, 1, factor, factor) if part == "sr.weight" else (channels,)


def load_kv_state(transformer: nn.Module, state: dict[str, Tensor], factor: int) -> list[int]:
    """Install conv-mode compression on the blocks in `state`, load its weights; returns the blocks."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
        raise SourceError(f"KV compression weights need a factor of 2 or more, got {factor!r}")
    if not state:
        raise SourceError(
            "no KV compression weights found (expected transformer_blocks.N.attn1.kv_compress.*)"
        )
    n = len(transformer.transformer_blocks)
    found: dict[int, dict[str, Tensor]] = {}
    for key, tensor in state.items():
        match = _KEY.match(key)
        if match is None:
            raise SourceError(f"unexpected key {key!r} in KV compression weights")
        i = int(match.group(1))
        if i >= n:
            raise SourceError(
                f"KV compression weights {key!r} name block {i}, but the transformer has blocks 0-{n - 1}"
            )
        part = match.group(2)
        channels = _attn1(transformer, i).to_k.out_features
        expected = _expected_shape(part, channels, factor)
        if tuple(tensor.shape) != expected:
            raise SourceError(
                f"KV compression weight {key!r} has shape {tuple(tensor.shape)}, expected {expected} "
                f"(factor {factor}, {channels} channels)"
            )
        found.setdefault(i, {})[part] = tensor
    for i, parts in found.items():
        for part in _PARTS:
            if part not in parts:
                raise SourceError(
                    f"KV compression weights miss 'transformer_blocks.{i}.attn1.kv_compress.{part}'"
                )

    blocks = sorted(found)
    attach(transformer, factor, blocks, mode="conv")
    for i in blocks:
        transformer.transformer_blocks[i].attn1.kv_compress.load_state_dict(found[i])
    return blocks


def save_kv_compression(transformer: nn.Module, folder: str | os.PathLike) -> None:
    """Write the sidecar (kv_compress.safetensors + .json) next to a saved transformer, atomically."""
    # Without learned compressors a stale sidecar in `folder` is removed, so it never lies.
    from safetensors.torch import save_file

    folder = Path(folder)
    state = kv_state_dict(transformer)
    if not state:
        for name in (SIDECAR_WEIGHTS, SIDECAR_CONFIG):
            (folder / name).unlink(missing_ok=True)
        return
    factors = {
        block.attn1.kv_compress.factor
        for block in transformer.transformer_blocks
        if getattr(block.attn1, "kv_compress", None) is not None
    }
    if len(factors) != 1:
        raise ValueError(f"KV compressors with mixed factors {sorted(factors)} cannot be saved together")
    blocks = sorted({int(_KEY.match(key).group(1)) for key in state})
    config = {
        "format": SIDECAR_FORMAT,
        "version": SIDECAR_VERSION,
        "factor": factors.pop(),
        "blocks": blocks,
        "mode": "conv",
    }

    folder.mkdir(parents=True, exist_ok=True)
    tmp_weights = folder / (SIDECAR_WEIGHTS + ".tmp")
    tmp_config = folder / (SIDECAR_CONFIG + ".tmp")
    try:
        save_file(
            {k: v.cpu().contiguous() for k, v in state.items()}, str(tmp_weights), metadata={"format": "pt"}
        )
        tmp_config.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp_weights, folder / SIDECAR_WEIGHTS)
        os.replace(tmp_config, folder / SIDECAR_CONFIG)
    finally:
        tmp_weights.unlink(missing_ok=True)
        tmp_config.unlink(missing_ok=True)


def load_kv_compression(transformer: nn.Module, folder: str | os.PathLike) -> dict | None:
    """Install the sidecar in `folder` (conv mode) and return its settings; None when there is none."""
    from safetensors.torch import load_file

    folder = Path(folder)
    weights_path, config_path = folder / SIDECAR_WEIGHTS, folder / SIDECAR_CONFIG
    if not weights_path.exists() and not config_path.exists():
        return None
    for path in (config_path, weights_path):
        if not path.is_file():
            raise SourceError(
                f"{path} is missing: the KV compression sidecar needs both {SIDECAR_CONFIG} "
                f"and {SIDECAR_WEIGHTS}"
            )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"{config_path} is not a readable KV compression file: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != SIDECAR_FORMAT:
        raise SourceError(f"{config_path} is not a KV compression file (format {SIDECAR_FORMAT!r} expected)")
    version = config.get("version")
    if not isinstance(version, int) or version > SIDECAR_VERSION:
        raise SourceError(f"{config_path} has version {version!r}; this app reads version {SIDECAR_VERSION}")
    factor, blocks, mode = config.get("factor"), config.get("blocks"), config.get("mode")
    if (
        isinstance(factor, bool)
        or not isinstance(factor, int)
        or factor < 2
        or mode != "conv"
        or not isinstance(blocks, list)
        or not all(isinstance(i, int) for i in blocks)
    ):
        raise SourceError(
            f"{config_path} has invalid settings (factor {factor!r}, blocks {blocks!r}, mode {mode!r})"
        )
    try:
        state = load_file(str(weights_path))
    except Exception as exc:  # safetensors raises its own error types for truncated/garbled files
        raise SourceError(f"{weights_path} is not a readable safetensors file: {exc}") from exc
    try:
        loaded = load_kv_state(transformer, state, factor)
    except SourceError as exc:
        raise SourceError(f"{weights_path}: {exc}") from exc
    if loaded != sorted(blocks):
        remove_kv_compression(transformer, drop_weights=True)
        raise SourceError(
            f"{config_path} lists blocks {blocks} but {weights_path.name} holds blocks {loaded}"
        )
    return {"factor": factor, "blocks": loaded, "mode": "conv"}


# ---------------------------------------------------------------- settings


def resolve_kv_factor(setting: str | int, tokens: int) -> int:
    """Setting auto|off|2|4 (or 0/1/2/4) -> factor; auto = 2 from AUTO_KV_TOKENS image tokens up."""
    value = setting.strip().lower() if isinstance(setting, str) else setting
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRequest(f"KV compression {setting!r} is not one of auto, off, 2, 4")
    if value == "auto":
        return 2 if tokens >= AUTO_KV_TOKENS else 1
    if value in ("off", "0", "1", 0, 1):
        return 1
    if value in ("2", "4", 2, 4):
        return int(value)
    raise BadRequest(f"KV compression {setting!r} is not one of auto, off, 2, 4")
