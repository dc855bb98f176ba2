"""KV token compression: exactness against hand-written attention, learned weights, sidecar, settings."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from model.build import build_transformer
from model.configs import Tiny
from model.errors import BadRequest, SourceError
from model.inference.kv_compress import (
    AUTO_KV_TOKENS,
    KVCompressAttnProcessor,
    KVCompressor,
    attach,
    avg_compress,
    kv_settings,
    kv_state_dict,
    load_kv_compression,
    load_kv_state,
    remove_kv_compression,
    resolve_kv_factor,
    save_kv_compression,
)


@pytest.fixture
def tf():
    """A fresh tiny PixArt transformer (2 blocks, hidden 32, 2 heads), same weights every time."""
    return build_transformer(Tiny(), seed=0).eval()


def inputs(grid: tuple[int, int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Latent (2, 4, 2H, 2W) for an H x W token grid, caption embeddings (2, 5, 32), timesteps."""
    g = torch.Generator().manual_seed(seed)
    h, w = grid
    latent = torch.randn(2, 4, 2 * h, 2 * w, generator=g)
    caption = torch.randn(2, 5, 32, generator=g)
    return latent, caption, torch.tensor([10, 500])


def run(transformer, grid: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Transformer output for random inputs on the token grid."""
    latent, caption, t = inputs(grid, seed)
    with torch.no_grad():
        return transformer(latent, encoder_hidden_states=caption, timestep=t, return_dict=False)[0]


def capture(module: torch.nn.Module, store: list) -> torch.utils.hooks.RemovableHandle:
    """Record (first input, output) of every call of `module`."""
    return module.register_forward_hook(
        lambda m, args, kwargs, out: store.append((args[0], out)), with_kwargs=True
    )


def manual_pool(x: torch.Tensor, grid: tuple[int, int], s: int) -> torch.Tensor:
    """(B, N, C) -> (B, N', C): mean of each s x s window's valid tokens, row-major windows."""
    b, _, c = x.shape
    h, w = grid
    cells = x.reshape(b, h, w, c)
    out = [
        cells[:, i : i + s, j : j + s].reshape(b, -1, c).mean(1)
        for i in range(0, h, s)
        for j in range(0, w, s)
    ]
    return torch.stack(out, 1)


def manual_attention(attn, x: torch.Tensor, compress_kv) -> torch.Tensor:
    """Self-attention written out: projections, compress k/v, softmax(q k^T / sqrt(d)) v, out proj."""
    q, k, v = attn.to_q(x), compress_kv(attn.to_k(x)), compress_kv(attn.to_v(x))  # (B, N, C), (B, N', C)
    b, n, c = q.shape
    heads, d = attn.heads, c // attn.heads
    q = q.reshape(b, n, heads, d).transpose(1, 2)  # (B, h, N, d)
    k = k.reshape(b, -1, heads, d).transpose(1, 2)  # (B, h, N', d)
    v = v.reshape(b, -1, heads, d).transpose(1, 2)  # (B, h, N', d)
    weights = torch.softmax(q @ k.transpose(-1, -2) / d**0.5, dim=-1)  # (B, h, N, N')
    out = (weights @ v).transpose(1, 2).reshape(b, n, c)  # (B, N, C)
    return attn.to_out[0](out)


def test_factor_one_is_exactly_uncompressed(tf):
    base = run(tf, (6, 10))
    attach(tf, 1)
    assert kv_settings(tf) is None
    assert torch.equal(run(tf, (6, 10)), base)
    attach(tf, 2)
    attach(tf, 1)
    assert torch.equal(run(tf, (6, 10)), base)


@pytest.mark.parametrize("grid", [(7, 9), (6, 10)])
def test_avg_mode_matches_manual_attention(tf, grid):
    attach(tf, 2, mode="avg")
    attn = tf.transformer_blocks[1].attn1
    seen = []
    capture(attn, seen)
    run(tf, grid)
    x, out = seen[0]
    with torch.no_grad():
        expected = manual_attention(attn, x, lambda t: manual_pool(t, grid, 2))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_fresh_conv_is_average_then_layernorm(tf):
    k = torch.randn(2, 8 * 12, 32)  # (B, N, C) on an even 8 x 12 grid
    for s in (2, 4):
        comp = KVCompressor(32, s)
        grid_k = k.transpose(1, 2).reshape(2, 32, 8, 12)
        torch.testing.assert_close(comp.sr(grid_k), F.avg_pool2d(grid_k, s), atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(avg_compress(k, (8, 12), s), manual_pool(k, (8, 12), s))

    # whole block, odd grid: with s=2 replicate padding equals the valid-token average
    grid = (7, 9)
    attach(tf, 2, mode="conv")
    attn = tf.transformer_blocks[1].attn1
    assert isinstance(attn.kv_compress, KVCompressor)
    seen = []
    capture(attn, seen)
    run(tf, grid)
    x, out = seen[0]
    with torch.no_grad():
        expected = manual_attention(attn, x, lambda t: F.layer_norm(manual_pool(t, grid, 2), (32,)))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_conv_pads_odd_grid_by_replication():
    comp = KVCompressor(32, 4)
    x = torch.randn(1, 7 * 9, 32)
    cells = x.reshape(1, 7, 9, 32)
    padded = torch.cat([cells, cells[:, -1:]], 1)  # 8 rows
    padded = torch.cat([padded, padded[:, :, -1:].expand(-1, -1, 3, -1)], 2)  # 12 columns
    expected = F.layer_norm(manual_pool(padded.reshape(1, -1, 32), (8, 12), 4), (32,))
    with torch.no_grad():
        torch.testing.assert_close(comp(x, (7, 9)), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("grid", [(6, 10), (7, 9)])
def test_full_forward_changes_only_from_compressed_blocks(tf, factor, grid):
    block_outs = []
    handles = [capture(tf.transformer_blocks[i], block_outs) for i in range(2)]
    base = run(tf, grid)
    attach(tf, factor)  # default blocks: the second half = [1]
    assert kv_settings(tf) == {"factor": factor, "blocks": [1], "mode": "avg"}
    out = run(tf, grid)
    for h in handles:
        h.remove()
    assert out.shape == base.shape == (2, 8, 2 * grid[0], 2 * grid[1])
    assert torch.isfinite(out).all()
    assert torch.equal(block_outs[2][1], block_outs[0][1])  # block 0: untouched
    assert not torch.allclose(block_outs[3][1], block_outs[1][1], atol=1e-4)  # block 1: compressed
    assert not torch.allclose(out, base, atol=1e-4)


def randomize(transformer) -> None:
    """Give every learned compressor random sr/norm weights."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in (p for n, p in transformer.named_parameters() if ".kv_compress." in n):
            p.copy_(torch.randn(p.shape, generator=g))


def test_learned_weights_round_trip_sidecar(tf, tmp_path):
    folder = tmp_path / "transformer"
    attach(tf, 2, blocks=[0, 1], mode="conv")
    fresh = run(tf, (7, 9))
    randomize(tf)
    learned = run(tf, (7, 9))
    assert not torch.allclose(learned, fresh, atol=1e-4)

    save_kv_compression(tf, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["kv_compress.json", "kv_compress.safetensors"]
    config = json.loads((folder / "kv_compress.json").read_text())
    assert config == {
        "format": "sigma-studio-kv",
        "version": 1,
        "factor": 2,
        "blocks": [0, 1],
        "mode": "conv",
    }

    other = build_transformer(Tiny(), seed=0).eval()
    assert load_kv_compression(other, folder) == {"factor": 2, "blocks": [0, 1], "mode": "conv"}
    assert kv_settings(other) == {"factor": 2, "blocks": [0, 1], "mode": "conv"}
    assert torch.equal(run(other, (7, 9)), learned)
    assert load_kv_compression(build_transformer(Tiny()), tmp_path / "nothing-here") is None

    remove_kv_compression(tf, drop_weights=True)
    save_kv_compression(tf, folder)  # nothing learned any more: no stale sidecar left behind
    assert list(folder.iterdir()) == []


def test_learned_weights_round_trip_state_dict(tf):
    attach(tf, 4, mode="conv")
    randomize(tf)
    learned = run(tf, (6, 10))
    state = kv_state_dict(tf)
    prefix = "transformer_blocks.1.attn1.kv_compress."
    assert sorted(state) == [prefix + k for k in ("norm.bias", "norm.weight", "sr.bias", "sr.weight")]
    assert all(k in tf.state_dict() for k in state)  # .to(), state_dict() and optimizers see them

    other = build_transformer(Tiny(), seed=0).eval()
    assert load_kv_state(other, state, 4) == [1]
    assert torch.equal(run(other, (6, 10)), learned)


def test_bad_weights_name_the_key(tf):
    attach(tf, 2, mode="conv")
    state = kv_state_dict(tf)
    key = "transformer_blocks.1.attn1.kv_compress.sr.weight"

    with pytest.raises(SourceError, match=r"sr\.weight.*\(32, 1, 2, 2\).*\(32, 1, 4, 4\)"):
        load_kv_state(tf, state, 4)  # factor-2 kernels where factor 4 is expected
    bad = {**state, key: torch.zeros(16, 1, 2, 2)}
    with pytest.raises(
        SourceError, match=r"transformer_blocks\.1\.attn1\.kv_compress\.sr\.weight.*\(16, 1, 2, 2\)"
    ):
        load_kv_state(tf, bad, 2)
    unknown = {k.replace("blocks.1.", "blocks.5."): v for k, v in state.items()}
    with pytest.raises(SourceError, match=r"transformer_blocks\.5\.attn1"):
        load_kv_state(tf, unknown, 2)
    with pytest.raises(SourceError, match="kv_compress.norm.bias"):
        load_kv_state(tf, {k: v for k, v in state.items() if not k.endswith("norm.bias")}, 2)
    with pytest.raises(SourceError, match="attn2"):
        load_kv_state(tf, {"transformer_blocks.1.attn2.to_q.weight": torch.zeros(1)}, 2)


def test_corrupt_sidecar_names_the_file(tf, tmp_path):
    attach(tf, 2, mode="conv")
    save_kv_compression(tf, tmp_path)
    (tmp_path / "kv_compress.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(SourceError, match="kv_compress.safetensors"):
        load_kv_compression(build_transformer(Tiny()), tmp_path)
    (tmp_path / "kv_compress.json").write_text("{broken")
    with pytest.raises(SourceError, match="kv_compress.json"):
        load_kv_compression(build_transformer(Tiny()), tmp_path)
    (tmp_path / "kv_compress.json").unlink()
    with pytest.raises(SourceError, match="kv_compress.json"):
        load_kv_compression(build_transformer(Tiny()), tmp_path)


def test_apply_twice_replaces_cleanly(tf):
    from diffusers.models.attention_processor import AttnProcessor2_0

    hooks = len(tf._forward_pre_hooks)
    attach(tf, 2)
    attach(tf, 2)
    attach(tf, 4, blocks=[0], mode="conv")
    assert len(tf._forward_pre_hooks) == hooks + 1
    assert kv_settings(tf) == {"factor": 4, "blocks": [0], "mode": "conv"}
    p0, p1 = (tf.transformer_blocks[i].attn1.processor for i in range(2))
    assert isinstance(p0, KVCompressAttnProcessor) and (p0.factor, p0.mode) == (4, "conv")
    assert type(p1) is AttnProcessor2_0
    run(tf, (5, 7))

    remove_kv_compression(tf)
    assert len(tf._forward_pre_hooks) == hooks and kv_settings(tf) is None
    assert all(type(b.attn1.processor) is AttnProcessor2_0 for b in tf.transformer_blocks)
    assert hasattr(tf.transformer_blocks[0].attn1, "kv_compress")  # learned weights kept
    remove_kv_compression(tf, drop_weights=True)
    assert kv_state_dict(tf) == {}


def test_gradients_reach_kv_compress(tf):
    attach(tf, 2, mode="conv")
    latent, caption, t = inputs((6, 10))
    tf(latent, encoder_hidden_states=caption, timestep=t, return_dict=False)[0].square().mean().backward()
    comp = tf.transformer_blocks[1].attn1.kv_compress
    for name, p in comp.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_resolve_kv_factor():
    big, small = AUTO_KV_TOKENS, AUTO_KV_TOKENS - 1
    assert [resolve_kv_factor(s, small) for s in ("off", "0", "1", 0, 1, " OFF ")] == [1] * 6
    assert [resolve_kv_factor(s, small) for s in ("2", "4", 2, 4)] == [2, 4, 2, 4]
    assert resolve_kv_factor("auto", big) == 2
    assert resolve_kv_factor("Auto", small) == 1
    assert resolve_kv_factor("auto", (4096 // 16) * (4096 // 16)) == 2  # 4K
    assert resolve_kv_factor("auto", (1024 // 16) ** 2) == 1  # 1K
    for bad in ("3", 8, "yes", "", None, True, 2.0):
        with pytest.raises(BadRequest):
            resolve_kv_factor(bad, big)
