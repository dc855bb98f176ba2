"""Model sources: resolving specs, loading every on-disk layout, official checkpoint conversion, hub cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from model.errors import Cancelled, SourceError
from model.loading import catalog, components, hub
from model.loading.catalog import BASE_REPO, DEMO_NAME, VARIANTS, resolve_source
from model.loading.components import load_components
from model.loading.hub import download, installed_models, is_downloaded
from model.loading.single_file import (
    convert_official_state_dict,
    infer_transformer_config,
    load_single_file,
    to_official_state_dict,
)

HINT = {"head_dim": 16, "sample_size": 8, "interpolation_scale": 1}  # Tiny(): hidden 32 = 2 heads x 16


class CodeInPickle:
    """Unpickling this would create `path`: the loader must refuse it without running it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def diffusers_sd(tiny_pipe) -> dict:
    """The tiny transformer's diffusers state dict (cloned: tests may not alter the session model)."""
    return {k: v.clone() for k, v in tiny_pipe.transformer.state_dict().items()}


@pytest.fixture
def official_sd(diffusers_sd) -> dict:
    """The tiny transformer in the official PixArt-Σ key layout."""
    return to_official_state_dict(diffusers_sd)


@pytest.fixture
def tiny_pth(tmp_path, official_sd) -> Path:
    """An official-layout .pth of the tiny transformer, with the documented "config" hint."""
    path = tmp_path / "tiny-sigma.pth"
    torch.save({"state_dict": official_sd, "config": HINT}, path)
    return path


@pytest.fixture
def tiny_safetensors(tmp_path, official_sd) -> Path:
    """The same checkpoint as .safetensors; the hint travels as JSON metadata."""
    from safetensors.torch import save_file

    path = tmp_path / "tiny-sigma.safetensors"
    save_file(
        {k: v.contiguous() for k, v in official_sd.items()}, path, metadata={"config": json.dumps(HINT)}
    )
    return path


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything asks huggingface_hub to go online."""
    import huggingface_hub

    real = huggingface_hub.snapshot_download
    calls = []

    def guarded(*args, **kwargs):
        calls.append(kwargs)
        if not kwargs.get("local_files_only"):
            raise AssertionError("snapshot_download tried to reach the network")
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", guarded)
    return calls


def fake_hub_repo(repo: str, files: dict[str, Path]) -> Path:
    """Put `files` (repo path -> local file) into the HF cache as a downloaded snapshot of `repo`."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    storage = hub.hub_cache_dir() / f"models--{repo.replace('/', '--')}"
    snapshot = storage / "snapshots" / commit
    for name, src in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, snapshot / name)
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / "main").write_text(commit)
    return snapshot


def tree(folder: Path, prefix: str = "") -> dict[str, Path]:
    """Every file under `folder`, keyed by `prefix` + relative path."""
    return {prefix + p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}


def forward(transformer) -> torch.Tensor:
    """A fixed forward pass of a tiny transformer."""
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 8, 8, generator=gen)
    text = torch.randn(1, 5, 32, generator=gen)
    with torch.no_grad():
        return transformer(
            latents,
            encoder_hidden_states=text,
            timestep=torch.tensor([500]),
            added_cond_kwargs={"resolution": None, "aspect_ratio": None},
        ).sample


# ---------------------------------------------------------------- conversion


def test_round_trip_is_exact(diffusers_sd, official_sd):
    back, kv = convert_official_state_dict(official_sd)
    assert kv == {}
    assert set(back) == set(diffusers_sd)
    assert all(torch.equal(back[k], diffusers_sd[k]) for k in diffusers_sd)


def test_official_layout_matches_design(official_sd):
    assert official_sd["blocks.0.attn.qkv.weight"].shape == (96, 32)
    assert official_sd["blocks.1.cross_attn.kv_linear.bias"].shape == (64,)
    for key in (
        "x_embedder.proj.weight",
        "y_embedder.y_proj.fc1.weight",
        "y_embedder.y_proj.fc2.bias",
        "t_embedder.mlp.0.weight",
        "t_embedder.mlp.2.weight",
        "t_block.1.weight",
        "blocks.0.attn.proj.weight",
        "blocks.0.cross_attn.q_linear.weight",
        "blocks.0.cross_attn.proj.bias",
        "blocks.0.mlp.fc1.weight",
        "blocks.0.mlp.fc2.weight",
        "blocks.0.scale_shift_table",
        "final_layer.linear.weight",
        "final_layer.scale_shift_table",
    ):
        assert key in official_sd, key
    assert not any(k.startswith(("transformer_blocks", "pos_embed", "adaln", "caption")) for k in official_sd)


def test_conversion_drops_non_weights_and_splits_kv(official_sd):
    extra = dict(official_sd)
    extra["pos_embed"] = torch.zeros(1, 16, 32)
    extra["y_embedder.y_embedding"] = torch.zeros(300, 32)
    extra["blocks.1.attn.sr.weight"] = torch.ones(32, 1, 2, 2)
    extra["blocks.1.attn.norm.bias"] = torch.ones(32)
    sd, kv = convert_official_state_dict(extra)
    assert "pos_embed" not in sd and "y_embedder.y_embedding" not in sd
    assert set(kv) == {
        "transformer_blocks.1.attn1.kv_compress.sr.weight",
        "transformer_blocks.1.attn1.kv_compress.norm.bias",
    }
    official = to_official_state_dict(sd, kv)
    assert torch.equal(official["blocks.1.attn.sr.weight"], extra["blocks.1.attn.sr.weight"])
    assert set(official) == set(extra) - {"pos_embed", "y_embedder.y_embedding"}


def test_infer_config_from_weights_and_name(diffusers_sd):
    cfg = infer_transformer_config(diffusers_sd, {"head_dim": 16}, "my-finetune-2K.pth")
    assert (cfg["num_layers"], cfg["num_attention_heads"], cfg["attention_head_dim"]) == (2, 2, 16)
    assert (cfg["caption_channels"], cfg["sample_size"], cfg["interpolation_scale"]) == (32, 256, 4)
    assert infer_transformer_config(diffusers_sd, {"head_dim": 16}, "x-512.pth")["sample_size"] == 64
    assert infer_transformer_config(diffusers_sd, {"head_dim": 16}, "x.pth")["sample_size"] == 128
    with pytest.raises(SourceError, match="head_dim"):
        infer_transformer_config(diffusers_sd, {}, "x.pth")  # 32 is not a multiple of 72


def test_released_sizes_are_inferred_from_weights():
    from accelerate import init_empty_weights
    from diffusers import PixArtTransformer2DModel

    from model.configs import SigmaXL2

    for resolution in (512, 1024, 2048):
        expected = SigmaXL2(resolution).transformer
        with init_empty_weights():  # meta tensors: shapes only, no memory
            sd = PixArtTransformer2DModel(**expected).state_dict()
        name = {512: "PixArt-Sigma-XL-2-512-MS.pth", 1024: "x.pth", 2048: "PixArt-Sigma-XL-2-2K-MS.pth"}
        converted, _ = convert_official_state_dict(to_official_state_dict(sd))
        assert infer_transformer_config(converted, None, name[resolution]) == expected


# ---------------------------------------------------------------- single files


def test_pth_transformer_is_identical(tiny_pipe, tiny_pth):
    transformer, kv = load_single_file(tiny_pth)
    assert kv is None
    assert transformer.config.sample_size == 8 and transformer.config.attention_head_dim == 16
    assert torch.equal(forward(transformer), forward(tiny_pipe.transformer))


def test_safetensors_single_file(tiny_pipe, tiny_safetensors):
    transformer, _ = load_single_file(tiny_safetensors, dtype=torch.bfloat16)
    assert transformer.dtype == torch.bfloat16
    ref = {k: v.to(torch.bfloat16) for k, v in tiny_pipe.transformer.state_dict().items()}
    assert all(torch.equal(v, ref[k]) for k, v in transformer.state_dict().items())


def test_diffusers_named_single_file(tmp_path, diffusers_sd, tiny_pipe):
    path = tmp_path / "tiny.pth"
    torch.save({"state_dict": diffusers_sd, "config": HINT}, path)
    transformer, _ = load_single_file(path)
    assert torch.equal(forward(transformer), forward(tiny_pipe.transformer))


def test_single_file_with_base_loads_all_parts(tiny_pth, tiny_pipeline_dir):
    source = resolve_source(str(tiny_pth), base=str(tiny_pipeline_dir))
    assert source.kind == "single_file" and source.base.kind == "pipeline_folder"
    stages = []
    model = load_components(
        source, on_progress=lambda stage, done, total: stages.append((stage, done, total))
    )
    assert model.name == "tiny-sigma.pth" and model.kv is None
    assert model.tokenizer("a cat").input_ids
    assert stages[-1] == ("Loading scheduler", 5, 5)


def test_kv_weights_in_pth_load_in_conv_mode(tmp_path, official_sd):
    from model.inference.kv_compress import kv_state_dict

    gen = torch.Generator().manual_seed(1)
    sd = dict(official_sd)
    for i in (0, 1):
        sd[f"blocks.{i}.attn.sr.weight"] = torch.randn(32, 1, 2, 2, generator=gen)
        sd[f"blocks.{i}.attn.sr.bias"] = torch.randn(32, generator=gen)
        sd[f"blocks.{i}.attn.norm.weight"] = torch.randn(32, generator=gen)
        sd[f"blocks.{i}.attn.norm.bias"] = torch.randn(32, generator=gen)
    path = tmp_path / "tiny-kv.pth"
    torch.save({"state_dict": sd, "config": HINT}, path)
    transformer, kv = load_single_file(path)
    assert kv == {"factor": 2, "blocks": [0, 1], "mode": "conv"}
    state = kv_state_dict(transformer)
    assert torch.equal(
        state["transformer_blocks.1.attn1.kv_compress.sr.weight"], sd["blocks.1.attn.sr.weight"]
    )
    assert forward(transformer).shape == (1, 8, 8, 8)


def test_pickle_with_code_is_refused_unexecuted(tmp_path, official_sd):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": official_sd, "extra": CodeInPickle(marker)}, path)
    with pytest.raises(SourceError, match="contains Python code, refusing") as err:
        load_single_file(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def _truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d, sd: _truncated(_save(d / "cut.pth", {"state_dict": sd})), "truncated"),
        (lambda d, sd: _truncated(_save_st(d / "cut.safetensors", sd)), "truncated"),
        (lambda d, sd: _save(d / "other.pth", {"encoder.layer.0.weight": torch.ones(3)}), "missing key"),
        (lambda d, sd: _save(d / "list.pth", [torch.ones(3)]), "expected a dict of tensors"),
        (
            lambda d, sd: _save(d / "wide.pth", _with(sd, "blocks.1.mlp.fc1.weight", torch.ones(64, 32))),
            "(64, 32)",
        ),
        (
            lambda d, sd: _save(d / "qkv.pth", _with(sd, "blocks.0.attn.qkv.weight", torch.ones(95, 32))),
            "qkv",
        ),
        (
            lambda d, sd: _save(d / "short.pth", _without(sd, "blocks.1.mlp.fc2.bias")),
            "blocks.1.mlp.fc2.bias",
        ),
        (
            lambda d, sd: _save(d / "alpha.pth", _with(sd, "csize_embedder.mlp.0.weight", torch.ones(2))),
            "unexpected",
        ),
    ],
)
def test_bad_checkpoints_name_the_file(tmp_path, official_sd, make, expected):
    path = make(tmp_path, official_sd)
    with pytest.raises(SourceError) as err:
        load_single_file(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def _save(path: Path, obj) -> Path:
    torch.save(
        {"state_dict": obj, "config": HINT} if isinstance(obj, dict) and "state_dict" not in obj else obj,
        path,
    )
    return path


def _save_st(path: Path, sd: dict) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in sd.items()}, path)
    return path


def _with(sd: dict, key: str, value: torch.Tensor) -> dict:
    return {**sd, key: value}


def _without(sd: dict, key: str) -> dict:
    return {k: v for k, v in sd.items() if k != key}


# ---------------------------------------------------------------- folders


def test_pipeline_folder_loads(tiny_pipeline_dir, tiny_pipe):
    source = resolve_source(str(tiny_pipeline_dir))
    assert source.kind == "pipeline_folder" and source.base is None
    model = load_components(source)
    assert torch.equal(forward(model.transformer), forward(tiny_pipe.transformer))
    assert type(model.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert model.vae.config.scaling_factor == tiny_pipe.vae.config.scaling_factor


def test_transformer_folder_with_base(tiny_transformer_dir, tiny_pipeline_dir):
    assert resolve_source(str(tiny_transformer_dir)).base.location == BASE_REPO
    source = resolve_source(str(tiny_transformer_dir), base=str(tiny_pipeline_dir))
    assert source.kind == "transformer_folder"
    model = load_components(source)
    assert model.kv is None and model.text_encoder is not None


def test_transformer_folder_kv_sidecar(tmp_path, tiny_transformer_dir, tiny_pipeline_dir):
    from diffusers import PixArtTransformer2DModel

    from model.inference.kv_compress import attach, save_kv_compression

    folder = tmp_path / "kv-transformer"
    shutil.copytree(tiny_transformer_dir, folder)
    transformer = PixArtTransformer2DModel.from_pretrained(folder)
    attach(transformer, 2, [1], mode="conv")
    save_kv_compression(transformer, folder)
    model = load_components(resolve_source(str(folder), base=str(tiny_pipeline_dir)))
    assert model.kv == {"factor": 2, "blocks": [1], "mode": "conv"}


def test_missing_part_of_pipeline_folder(tmp_path, tiny_pipeline_dir):
    folder = tmp_path / "broken"
    shutil.copytree(tiny_pipeline_dir, folder)
    shutil.rmtree(folder / "vae")
    with pytest.raises(SourceError, match="missing vae/") as err:
        resolve_source(str(folder))
    assert str(folder) in str(err.value)


def test_damaged_weights_in_folder(tmp_path, tiny_pipeline_dir):
    folder = tmp_path / "damaged"
    shutil.copytree(tiny_pipeline_dir, folder)
    weights = next((folder / "vae").glob("*.safetensors"))
    _truncated(weights)
    with pytest.raises(SourceError, match="could not load the VAE") as err:
        load_components(resolve_source(str(folder)))
    assert str(folder / "vae") in str(err.value)


def test_sentencepiece_tokenizer_folder(tmp_path, tiny_pipeline_dir):
    import sentencepiece

    folder = tmp_path / "spm-pipeline"
    shutil.copytree(tiny_pipeline_dir, folder)
    shutil.rmtree(folder / "tokenizer")
    (folder / "tokenizer").mkdir()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a cat on a mat\na neon city poster at night\nmountain lake at sunrise\n" * 20)
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "tokenizer" / "spiece"), vocab_size=28,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False, minloglevel=2,
    )  # fmt: skip
    (folder / "tokenizer" / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "T5Tokenizer"})
    )
    source = resolve_source(str(folder))
    if components._has_protobuf():
        assert load_components(source).tokenizer("a cat").input_ids[-1] == 1  # </s>
    else:
        with pytest.raises(SourceError, match="needs the protobuf package"):
            load_components(source)


@pytest.mark.parametrize(
    "setup, expected",
    [
        (lambda d: d / "nope" / "model.pth", "no such file or folder"),
        (lambda d: d / "missing-folder", "no such file or folder"),
        (lambda d: _touch(d / "model.ckpt"), "unsupported file type '.ckpt'"),
        (lambda d: _mkdir(d / "empty"), "neither a diffusers pipeline folder"),
        (lambda d: _config(d / "unet", {"_class_name": "UNet2DConditionModel"}), "UNet2DConditionModel"),
        (lambda d: _config(d / "noweights", {"_class_name": "PixArtTransformer2DModel"}), "has no weights"),
    ],
)
def test_bad_local_specs(tmp_path, setup, expected):
    path = setup(tmp_path)
    with pytest.raises(SourceError) as err:
        resolve_source(str(path))
    assert expected in str(err.value) and str(path) in str(err.value)


def _touch(path: Path) -> Path:
    path.write_bytes(b"\0")
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _config(path: Path, config: dict) -> Path:
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    return path


# ---------------------------------------------------------------- resolving


def test_none_is_default_then_demo(monkeypatch, tiny_pipeline_dir, tmp_path):
    monkeypatch.setattr(catalog, "DEMO_DIR", tiny_pipeline_dir)
    demo = resolve_source(None)
    assert (demo.kind, demo.name, demo.location) == ("demo", DEMO_NAME, str(tiny_pipeline_dir))
    assert resolve_source(None, default="2K").location == "PixArt-alpha/PixArt-Sigma-XL-2-2K-MS"
    assert load_components(demo).name == DEMO_NAME
    monkeypatch.setattr(catalog, "DEMO_DIR", tmp_path / "absent")
    with pytest.raises(SourceError, match="demo model is not installed"):
        resolve_source(None)


@pytest.mark.parametrize(
    "spec, hub_id",
    [
        ("512", "PixArt-alpha/PixArt-Sigma-XL-2-512-MS"),
        ("1024", "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS"),
        ("2k", "PixArt-alpha/PixArt-Sigma-XL-2-2K-MS"),
        ("2048", "PixArt-alpha/PixArt-Sigma-XL-2-2K-MS"),
        ("PixArt-Sigma-XL-2-1024-MS", "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS"),
        ("PixArt-alpha/PixArt-Sigma-XL-2-512-MS", "PixArt-alpha/PixArt-Sigma-XL-2-512-MS"),
        ("someone/my-sigma-finetune", "someone/my-sigma-finetune"),
    ],
)
def test_hub_specs(spec, hub_id):
    source = resolve_source(spec)
    assert (source.kind, source.location) == ("hub", hub_id)
    assert source.base == catalog.ModelSource("hub", BASE_REPO, None, BASE_REPO)


def test_bad_specs_and_bases(tmp_path, tiny_pth, tiny_transformer_dir):
    with pytest.raises(SourceError, match="is not a model"):
        resolve_source("not a model!")
    with pytest.raises(SourceError, match="base .* is not a folder"):
        resolve_source(str(tiny_transformer_dir), base=str(tiny_pth))
    with pytest.raises(SourceError, match="missing text_encoder/"):
        resolve_source(str(tiny_pth), base=str(tiny_transformer_dir.parent))
    assert [v.resolution for v in VARIANTS] == [512, 1024, 2048]


# ---------------------------------------------------------------- hub and cache


def test_hub_model_offline_is_a_clear_error(no_network):
    for spec, repo in [
        ("1024", "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS"),
        ("someone/model", "someone/model"),
    ]:
        with pytest.raises(SourceError, match="is not downloaded and the hub cannot be reached") as err:
            load_components(resolve_source(spec))
        assert repo in str(err.value) and "choose a local model" in str(err.value)
    assert not is_downloaded("1024") and not is_downloaded(BASE_REPO)


def test_download_refuses_without_disk_space(monkeypatch, no_network):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    usage = shutil.disk_usage(Path(__file__).resolve().parent)  # any folder on this disk
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=10**9))
    with pytest.raises(SourceError, match=r"needs 2\.9 GB free .* only 1\.0 GB is free"):
        download("1024")
    with pytest.raises(SourceError, match=r"needs 19\.9 GB free"):
        download(BASE_REPO)
    assert no_network and all(call["local_files_only"] for call in no_network)


def test_download_offline(no_network):
    with pytest.raises(SourceError, match="PixArt-alpha/PixArt-Sigma-XL-2-2K-MS is not downloaded"):
        download(VARIANTS[2])


def test_cached_hub_models_load_offline(monkeypatch, tiny_transformer_dir, tiny_pipeline_dir, no_network):
    snap = fake_hub_repo("PixArt-alpha/PixArt-Sigma-XL-2-1024-MS", tree(tiny_transformer_dir, "transformer/"))
    base_files = {k: v for k, v in tree(tiny_pipeline_dir).items() if not k.startswith("transformer/")}
    fake_hub_repo(BASE_REPO, base_files)
    assert is_downloaded("1024") and is_downloaded(BASE_REPO) and not is_downloaded("512")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: pytest.fail("no disk check for a cached model"))
    assert download("1024") == snap
    model = load_components(resolve_source("1024"))
    assert model.name == "PixArt-Sigma-XL-2-1024-MS"
    rows = {row["hub_id"]: row for row in installed_models()}
    assert rows["PixArt-alpha/PixArt-Sigma-XL-2-1024-MS"]["path"] == str(snap)
    assert rows[BASE_REPO]["downloaded"] and not rows["PixArt-alpha/PixArt-Sigma-XL-2-512-MS"]["downloaded"]


def test_installed_models_lists_everything(monkeypatch, tiny_pipeline_dir, tiny_pth, tmp_path):
    monkeypatch.setattr(catalog, "DEMO_DIR", tiny_pipeline_dir)
    rows = installed_models([str(tiny_pth), str(tmp_path / "gone")])
    kinds = [row["kind"] for row in rows]
    assert kinds == ["variant", "variant", "variant", "base", "demo", "local", "local"]
    assert rows[0]["download_gb"] > 2 and rows[3]["download_gb"] > 19
    assert rows[5]["layout"] == "single_file" and rows[5]["error"] is None
    assert not rows[6]["downloaded"] and "no such file" in rows[6]["error"]


def test_download_progress_and_cancel():
    seen = []
    bar_class = hub.progress_tqdm("x/y", lambda *a: seen.append(a), None)
    bar = bar_class(total=100, unit="B", desc="Reconstructing")
    bar.update(40)
    assert seen == [("Downloading x/y", 40, 100)]
    cancel = hub.progress_tqdm("x/y", None, lambda: True)(total=1, unit="B")
    with pytest.raises(Cancelled):
        cancel.update(1)


def test_model_defaults_file(tmp_path):
    from model.errors import SourceError
    from model.loading.defaults import read_model_defaults

    assert read_model_defaults(tmp_path) == {}
    f = tmp_path / "sigma_studio.json"
    f.write_text('{"format": "sigma-studio-model", "version": 1, "defaults": {"guidance": 1.5, "steps": 12}}')
    assert read_model_defaults(tmp_path) == {"guidance": 1.5, "steps": 12}
    for bad, words in [
        ('{"format": "other"}', "not a Sigma Studio model file"),
        ('{"format": "sigma-studio-model", "defaults": {"seed": 3}}', "unknown default"),
        ('{"format": "sigma-studio-model", "defaults": {"steps": 0}}', "steps must be a number"),
        ("not json", "cannot be read as JSON"),
    ]:
        f.write_text(bad)
        with pytest.raises(SourceError, match=words):
            read_model_defaults(tmp_path)


def test_the_shipped_demo_model_asks_for_its_measured_guidance():
    from model.loading.catalog import DEMO_DIR
    from model.loading.defaults import read_model_defaults

    assert read_model_defaults(DEMO_DIR) == {"guidance": 2.0}
