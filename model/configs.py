"""Named model configurations: the released PixArt-Sigma sizes and the small ones we build ourselves.

Each preset is a tiny function returning the diffusers config dicts (DiT-style named presets), so
a folder written with `save_pretrained` fully describes the model.

May import: nothing (the standard library). Never torch, Qt, app/ or ui/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Facts about the released models (docs/DESIGN.md): one source of truth.
T5_TOKENS = 300
SDXL_VAE_SCALING = 0.13025


@dataclass(frozen=True)
class PipelineConfig:
    """Configs of the four learned parts of a PixArt-Sigma pipeline."""

    transformer: dict
    vae: dict
    text_encoder: dict = field(default_factory=dict)


def transformer_config(
    hidden: int, depth: int, heads: int, caption_channels: int, sample_size: int, interpolation_scale: float
) -> dict:
    """PixArtTransformer2DModel config for a Sigma-style DiT (patch 2, learned sigma, no micro-conditions)."""
    return dict(
        num_attention_heads=heads,
        attention_head_dim=hidden // heads,
        in_channels=4,
        out_channels=8,
        num_layers=depth,
        cross_attention_dim=hidden,
        caption_channels=caption_channels,
        sample_size=sample_size,
        patch_size=2,
        interpolation_scale=interpolation_scale,
        use_additional_conditions=False,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
        activation_fn="gelu-approximate",
        attention_bias=True,
        num_embeds_ada_norm=1000,
    )


def vae_config(channels: tuple[int, ...], groups: int, layers_per_block: int = 2) -> dict:
    """AutoencoderKL config with 4 latent channels; len(channels) blocks -> 2**(len-1) downsampling."""
    n = len(channels)
    return dict(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * n,
        up_block_types=["UpDecoderBlock2D"] * n,
        block_out_channels=list(channels),
        layers_per_block=layers_per_block,
        latent_channels=4,
        norm_num_groups=groups,
        sample_size=1024,
        scaling_factor=SDXL_VAE_SCALING,
        force_upcast=True,
    )


def t5_config(d_model: int, layers: int, heads: int, d_ff: int, vocab_size: int = 384) -> dict:
    """T5EncoderModel config (vocab 384 = ByT5's byte-level vocabulary)."""
    return dict(
        vocab_size=vocab_size,
        d_model=d_model,
        d_kv=d_model // heads,
        d_ff=d_ff,
        num_layers=layers,
        num_heads=heads,
        relative_attention_num_buckets=32,
        dropout_rate=0.0,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        use_cache=False,
    )


# ---------------------------------------------------------------- presets


def SigmaXL2(resolution: int = 1024) -> PipelineConfig:
    """The released PixArt-Sigma XL/2 (0.6B): 28 blocks, hidden 1152, T5-v1.1-XXL, SDXL VAE."""
    sample = {512: 64, 1024: 128, 2048: 256}[resolution]
    scale = {512: 1, 1024: 2, 2048: 4}[resolution]
    return PipelineConfig(
        transformer=transformer_config(1152, 28, 16, 4096, sample, scale),
        vae=vae_config((128, 256, 512, 512), 32),
        text_encoder=t5_config(4096, 24, 64, 10240, vocab_size=32128),
    )


def Demo() -> PipelineConfig:
    """The embedded demo model (1.8M DiT, 0.9M VAE, 0.4M T5): 1024^2 in 20 steps within ~30 s on 2 CPU cores."""
    # Sized by measurement (docs/TRAINING.md): at 1024^2 the DiT sees 4096 tokens, so self-attention
    # dominates and cost ~ depth x hidden; hidden 128 x depth 6 (head dim 64) costs ~0.9 s per CFG step.
    # The VAE skips its mid-block attention (16384 latent tokens at 1024^2 would double the decode).
    # sample_size/interpolation_scale are the final (512 px) ones: training steps them up from 256 px.
    return PipelineConfig(
        transformer=transformer_config(128, 6, 2, 128, 64, 2),
        vae={**vae_config((16, 32, 64, 64), 8, layers_per_block=1), "mid_block_add_attention": False},
        text_encoder=t5_config(128, 2, 4, 256),
    )


def Tiny() -> PipelineConfig:
    """A few-thousand-parameter pipeline for tests: every code path, no waiting."""
    return PipelineConfig(
        transformer=transformer_config(32, 2, 2, 32, 8, 1),
        vae=vae_config((8, 8, 16, 16), 4, layers_per_block=1),
        text_encoder=t5_config(32, 2, 4, 64),
    )
