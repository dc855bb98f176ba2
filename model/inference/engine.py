"""The engine: load a PixArt-Sigma pipeline from any source and generate images up to 4K.

Generation reads as the algorithm (numbered steps in `_generate_one`), built on diffusers'
PixArtSigmaPipeline with our additions plugged in through its seams: cached prompt embeddings
(`prompt_embeds=`), KV token compression (attention processors), `output_type="latent"` followed
by our seam-free tiled decode, and a memory plan with out-of-memory step-down.

Public entry: Engine.generate -> _with_step_down -> _generate_one -> _denoise -> PixArtSigmaPipeline.__call__.
May import: model.errors, model.request, model.resolution, model.configs, model.loading.*,
model.inference.*, torch, diffusers, Pillow. Never Qt, app/ or ui/.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from ..configs import T5_TOKENS
from ..errors import BadRequest, Cancelled, EngineError, SourceError
from ..request import (
    COUNT_LIMITS,
    SEED_LIMITS,
    STEPS_LIMITS,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    StepInfo,
    validate_request,
)
from ..resolution import snap_to_grid
from . import memory, refine, seamless
from .kv_compress import attach, resolve_kv_factor
from .positions import fit_positions
from .prompt_cache import PromptCache
from .prompt_words import PromptWords

MAX_STEPS = STEPS_LIMITS[1]
MAX_COUNT = COUNT_LIMITS[1]
MAX_SEED = SEED_LIMITS[1]


def _torch_dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


class Engine:
    """Owns one loaded pipeline and generates with it (not thread-safe: one caller at a time)."""

    def __init__(self, device: str = "auto", memory_mode: str = "auto", cache_dir: Path | str | None = None):
        self.requested_device = device
        self.memory_mode = memory_mode
        if memory_mode not in memory.USER_MODES:
            raise BadRequest(f"memory mode {memory_mode!r} is not one of {', '.join(memory.USER_MODES)}")
        self.device = memory.detect_device(device)
        self.cache = PromptCache(Path(cache_dir) / "embeddings" if cache_dir else None)
        self.pipe = None
        self.loaded = None  # sources.LoadedModel
        self.plan: memory.MemoryPlan | None = None
        self.info: ModelInfo | None = None
        self._preview_matrix: torch.Tensor | None = None
        self._applied_mode: str | None = None
        self.vae_budget_bytes: int | None = None  # None: the device's free memory decides
        self.words: PromptWords | None = None  # the loaded model's prompt tables, when it ships them

    # ------------------------------------------------------------------ loading

    def load(self, source: str | None = None, base: str | None = None, on_progress=None) -> ModelInfo:
        """Load a model (hub id, folder, .pth/.safetensors, None = demo) and place it per the memory plan."""
        from diffusers import PixArtSigmaPipeline

        from ..loading.catalog import resolve_source
        from ..loading.components import load_components

        resolved = resolve_source(source, base)
        self.unload()
        self.plan = memory.plan_memory(self.device, self.memory_mode, memory.free_memory(self.device))
        loaded = load_components(resolved, dtype=_torch_dtype(self.plan.dtype), on_progress=on_progress)
        pipe = PixArtSigmaPipeline(
            tokenizer=loaded.tokenizer,
            text_encoder=loaded.text_encoder,
            vae=loaded.vae,
            transformer=loaded.transformer,
            scheduler=loaded.scheduler,
        )
        pipe.set_progress_bar_config(disable=True)
        if pipe.vae.dtype != _torch_dtype(self.plan.vae_dtype):
            pipe.vae.to(dtype=_torch_dtype(self.plan.vae_dtype))
        for part in (pipe.transformer, pipe.vae, pipe.text_encoder):
            part.eval().requires_grad_(False)
        fit_positions(pipe.transformer)  # no edge band on grids beyond the trained one (positions.py)
        words = _prompt_words(resolved)
        self.pipe, self.loaded = pipe, loaded
        self._apply_plan(self.plan)
        self._preview_matrix = None
        self.info = ModelInfo(
            name=loaded.name,
            source=resolved.location,
            is_demo=resolved.kind == "demo",
            device=self.device,
            dtype=self.plan.dtype,
            memory_mode=self.plan.mode,
            plan=self.plan.describe(),
            learned_kv=loaded.kv,
            defaults=dict(loaded.defaults),
            trained_resolution=refine.trained_resolution(pipe, resolved),
            understands=words.summary() if words else None,
        )
        self.words = words
        return self.info

    def unload(self) -> None:
        """Drop the loaded model and free its memory."""
        self.pipe = self.loaded = self.info = self.words = None
        self._applied_mode = None
        _free_memory()

    def _apply_plan(self, plan: memory.MemoryPlan) -> None:
        """Place the parts on devices as the plan says (see model/memory.py's table)."""
        pipe = self.pipe
        if self._applied_mode == "sequential":
            # group offload hooks stay on a module: reload-free removal is not offered, so keep them
            self.plan = plan
            return
        if plan.mode in ("cpu",):
            pipe.to("cpu")
        elif plan.mode == "gpu":
            pipe.to(plan.device)
        elif plan.mode == "offload":
            _to(pipe.text_encoder, "cpu")
            pipe.transformer.to(plan.device)
            pipe.vae.to(plan.device)
        elif plan.mode == "sequential":
            _to(pipe.text_encoder, "cpu")
            pipe.vae.to(plan.device)
            pipe.transformer.to("cpu")
            pipe.transformer.enable_group_offload(
                onload_device=torch.device(plan.device),
                offload_device=torch.device("cpu"),
                offload_type="block_level",
                num_blocks_per_group=1,
            )
        self._applied_mode = plan.mode
        self.plan = plan
        _free_memory()

    # ------------------------------------------------------------------ prompts

    def count_tokens(self, text: str) -> int:
        """Tokens the T5 sees for a prompt (the limit is 300)."""
        if self.pipe is None:
            return len(text.split())
        return len(self.pipe.tokenizer(text, add_special_tokens=True).input_ids)

    def _model_key(self) -> str:
        loaded = self.loaded
        return f"{loaded.name}|{getattr(loaded.source, 'location', '')}|{loaded.text_encoder.config.d_model}"

    @torch.no_grad()
    def encode_prompt(self, prompt: str, negative: str) -> dict[str, torch.Tensor]:
        """T5 embeddings of prompt and negative prompt, from the cache when seen before."""
        key = self.cache.key(self._model_key(), prompt, negative)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        encoder = self.pipe.text_encoder
        device = next(encoder.parameters()).device
        embeds, mask, neg_embeds, neg_mask = self.pipe.encode_prompt(
            prompt,
            do_classifier_free_guidance=True,
            negative_prompt=negative,
            device=device,
            clean_caption=False,
            max_sequence_length=T5_TOKENS,
        )
        tensors = {"embeds": embeds, "mask": mask, "neg_embeds": neg_embeds, "neg_mask": neg_mask}
        self.cache.put(key, tensors)
        return self.cache.get(key)

    # ------------------------------------------------------------------ generation

    def generate(
        self,
        request: GenerationRequest,
        on_step: Callable[[StepInfo], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> GenerationResult:
        """Make request.count images (seeds seed, seed+1, ...); out of memory -> step down once."""
        if self.pipe is None:
            raise EngineError("no model is loaded: load one first (the demo model needs no download)")
        validate_request(request)
        if request.memory and request.memory not in memory.USER_MODES:
            raise BadRequest(f"memory mode {request.memory!r} is not one of {', '.join(memory.USER_MODES)}")
        if request.memory and request.memory not in ("auto", self.plan.mode) and self.device != "cpu":
            self._apply_plan(memory.plan_memory(self.device, request.memory))
        started = time.perf_counter()
        made_w, made_h = snap_to_grid(int(request.width), int(request.height))
        tokens = (made_w // 16) * (made_h // 16)
        kv_factor = resolve_kv_factor(request.kv_compress, tokens)
        notes: list[str] = []
        self._set_kv(kv_factor, notes)
        seed = int(request.seed) if request.seed is not None else random.randint(0, MAX_SEED - MAX_COUNT)
        if self.count_tokens(request.prompt) > T5_TOKENS:
            notes.append(f"the prompt is longer than {T5_TOKENS} tokens: the end was cut off")
        understood = self._understood(request.prompt, notes)
        embeds = self.encode_prompt(understood, request.negative or "")
        trained = self.info.trained_resolution
        stages = refine.plan_stages(
            (made_w, made_h), trained, refine.chooses_refine(request.hires, (made_w, made_h), trained),
            request.refine_strength, request.refine_stages,
        )
        images = []
        for index in range(int(request.count)):
            image_seed = (seed + index) % (MAX_SEED + 1)
            if len(stages) == 1:
                image = self._with_step_down(
                    lambda seed=image_seed, k=index: self._generate_one(
                        request, embeds, seed, (made_w, made_h), k, on_step, should_cancel
                    ),
                    notes,
                )
            else:
                image = self._generate_refined(request, embeds, image_seed, stages, index, on_step, should_cancel, notes)
            params = self._params(request, image_seed, kv_factor, (made_w, made_h), stages)
            if understood != request.prompt:
                params["understood"] = understood
            images.append(GeneratedImage(image=image, seed=image_seed, params=params))
        notes = list(dict.fromkeys(notes))  # a refined image's stages may repeat a note
        return GenerationResult(images, (made_w, made_h), kv_factor, notes, time.perf_counter() - started)

    def _understood(self, prompt: str, notes: list[str]) -> str:
        """The prompt through the model's own word tables (prompt_words.py), when it ships them."""
        if self.words is None:
            return prompt
        reading = self.words.read(prompt)
        if reading.changed:
            notes.append(f"{self.info.name} read the prompt as: {reading.text}")
        for asked, drawn in reading.stand_ins:
            notes.append(f"{self.info.name} cannot draw {asked}: drawn as {drawn}, its nearest shade")
        if reading.two_tone:
            notes.append(f"{self.info.name} has not learned two shades of one colour in one picture "
                         f"({reading.main} with {reading.accent}): expect other colours; a contrasting "
                         "accent works better")
        return reading.text

    def _with_step_down(self, run: Callable[[], Image.Image], notes: list[str]) -> Image.Image:
        """Run once; on out-of-memory, free, move to the next leaner plan, say so and retry once."""
        try:
            return run()
        except Cancelled:
            _free_memory()
            raise
        except Exception as error:  # noqa: BLE001 - only out-of-memory errors are handled here
            if not memory.is_out_of_memory(error):
                raise
            _free_memory()
            leaner = memory.step_down(self.plan)
            if leaner is None:
                raise EngineError(_oom_advice(self.plan)) from error
            notes.append(f"out of memory in {self.plan.mode} mode: retried with {leaner.describe()}")
            self._apply_plan(leaner)
            if self.info:
                self.info.memory_mode, self.info.plan = leaner.mode, leaner.describe()
        try:
            return run()
        except Cancelled:
            _free_memory()
            raise
        except Exception as error:  # noqa: BLE001
            if memory.is_out_of_memory(error):
                _free_memory()
                raise EngineError(_oom_advice(self.plan)) from error
            raise

    def _set_kv(self, factor: int, notes: list[str]) -> None:
        """KV compression for this request through kv_compress.attach (1 = off; learned weights when they fit)."""
        learned = self.loaded.kv
        mode, blocks = "avg", None
        if factor > 1 and learned and learned.get("factor") == factor:
            mode, blocks = "conv", learned.get("blocks")
        elif factor > 1 and learned:
            notes.append(f"KV compression x{factor} uses average pooling (the model learned x{learned['factor']})")
        attach(self.pipe.transformer, factor, blocks=blocks, mode=mode)

    @torch.no_grad()
    def _generate_one(
        self,
        request: GenerationRequest,
        embeds: dict[str, torch.Tensor],
        seed: int,
        made: tuple[int, int],
        index: int,
        on_step,
        should_cancel,
    ) -> Image.Image:
        """Denoise and decode one image."""
        started = time.perf_counter()
        cancel = should_cancel or (lambda: False)

        # 1-4. Noise, prompt embeddings, per-step callback, denoising with the stock pipeline.
        with seamless.rolling_latents(self.pipe.transformer, request.tileable, seed):  # wraps when tileable
            latents = self._denoise(request, embeds, seed, made, index, on_step, cancel, started)
        if cancel():
            raise Cancelled("generation cancelled")

        # 5. Decode: the DiT leaves the GPU first in offload mode; tiled when the full decode won't fit.
        image = self._decode_placed(latents, index, int(request.count), started, on_step, cancel, request.tileable)

        # 6. Exactly the requested size.
        return _exact(image, request)

    def _decode_placed(self, latents, index: int, count: int, started: float, on_step, cancel,
                       tileable: str = "off") -> Image.Image:
        """`_decode` with the DiT off the GPU in offload mode (back afterwards)."""
        pipe, plan = self.pipe, self.plan
        if plan.mode == "offload":
            pipe.transformer.to("cpu")
            _free_memory()
        try:
            return self._decode(latents, index, count, started, on_step, cancel, tileable)
        finally:
            if plan.mode == "offload":
                pipe.transformer.to(plan.device)

    @torch.no_grad()
    def _generate_refined(self, request, embeds, seed: int, stages, index: int, on_step, should_cancel, notes):
        """The high-resolution path (refine.py): compose, then upscale, re-noise and refine stage by
        stage; each stage gets its own KV factor and out-of-memory step-down; one decode at the end."""
        cancel = should_cancel or (lambda: False)
        started = time.perf_counter()
        steps = int(request.steps)
        runs = [len(refine.stage_timesteps(self.pipe.scheduler, steps, st.strength)) for st in stages]
        costs = [refine.stage_cost(st, steps) for st in stages]
        latents = anchor = None
        for k, stage in enumerate(stages):
            tokens = (stage.width // 16) * (stage.height // 16)
            self._set_kv(resolve_kv_factor(request.kv_compress, tokens), notes)
            report = self._stage_reporter(request, index, k, stage, runs, costs, started, on_step)
            with seamless.rolling_latents(self.pipe.transformer, request.tileable, seed):  # every stage wraps
                latents = self._with_step_down(
                    lambda stage=stage, previous=latents, report=report: self._run_stage(
                        request, embeds, seed, stage, previous, index, cancel, started, report
                    ),
                    notes,
                )
            if k == 0 and request.keep_composition:  # the composition's colours, kept (refine.anchor_colours)
                anchor = self._decode_placed(latents, index, 1, started, None, cancel, request.tileable)
        if cancel():
            raise Cancelled("generation cancelled")
        image = self._with_step_down(
            lambda: self._decode_placed(latents, index, int(request.count), started, on_step, cancel,
                                        request.tileable), notes
        )
        if anchor is not None:
            image = refine.anchor_colours(image, anchor, request.tileable)
        return _exact(image, request)

    def _run_stage(self, request, embeds, seed: int, stage, previous, index: int, cancel, started, report):
        """One stage's latents: a full denoise (composing), or upscale + re-noise + the schedule's tail."""
        made = (stage.width, stage.height)
        if previous is None:
            return self._denoise(request, embeds, seed, made, index, None, cancel, started, report=report)
        scale = self.pipe.vae_scale_factor
        if request.upscaler == "pixel":
            upscaled = self._upscale_pixels(previous, made, cancel, request.tileable)
        else:
            upscaled = refine.upscale_latents(previous, (made[1] // scale, made[0] // scale), request.tileable)
        timesteps = refine.stage_timesteps(self.pipe.scheduler, int(request.steps), stage.strength)
        start = refine.renoise(upscaled, self.pipe.scheduler, timesteps[0], seed)
        refined = self._denoise(
            request, embeds, seed, made, index, None, cancel, started, start=start, timesteps=timesteps, report=report
        )
        if not request.keep_composition:
            return refined
        return refine.keep_composition(refined, upscaled, tuple(previous.shape[-2:]), request.tileable)

    @torch.no_grad()
    def _upscale_pixels(self, latents, made: tuple[int, int], cancel, tileable: str = "off") -> torch.Tensor:
        """Pixel-space upscaling: decode, Lanczos to `made`, encode (the posterior mean); wraps when tileable."""
        image = self._decode_placed(latents, 0, 1, time.perf_counter(), None, cancel, tileable)
        image = seamless.wrapping_resize(image, made, tileable)  # plain Lanczos when "off"
        vae = self.pipe.vae
        param = next(vae.parameters())
        pixels = torch.from_numpy(_rgb_array(image)).permute(2, 0, 1)[None].to(param.device, param.dtype)
        with seamless.circular_convs(vae.encoder, tileable):
            encoded = vae.encode(pixels / 127.5 - 1.0).latent_dist.mean
        return (encoded * vae.config.scaling_factor).float()

    def _stage_reporter(self, request, index: int, k: int, stage, runs, costs, started: float, on_step):
        """Per-step progress of stage k as one job: steps over all stages, ETA weighted by stage cost."""
        done_before, cost_before, total = sum(runs[:k]), sum(costs[:k]), sum(runs)

        def report(done: int, latents: torch.Tensor) -> None:
            if on_step is None:
                return
            elapsed = time.perf_counter() - started
            spent = cost_before + costs[k] * done / runs[k]
            eta = elapsed / spent * (sum(costs) - spent)
            preview = latents_preview(self, latents)
            count = int(request.count)
            on_step(StepInfo(index, count, done_before + done, total, preview, elapsed, eta, "denoise", stage.label))

        return report

    def _denoise(
        self, request, embeds, seed: int, made, index: int, on_step, cancel, started, start=None, timesteps=None, report=None
    ):
        """Steps 1-4 of `_generate_one`: the latents of one image after the last denoising step.
        A refine stage passes its re-noised `start`, the schedule's tail `timesteps` and `report`."""
        pipe, plan = self.pipe, self.plan
        made_w, made_h = made
        device = torch.device(plan.device)
        dtype = _torch_dtype(plan.dtype)

        # 1. Starting noise from a CPU generator: the same seed gives the same image on a device.
        scale = pipe.vae_scale_factor
        shape = (1, pipe.transformer.config.in_channels, made_h // scale, made_w // scale)
        if start is None:
            noise = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32)
        else:
            noise = start

        # 2. Prompt embeddings (cached) on the transformer's device and dtype.
        def to_dev(t: torch.Tensor, is_mask: bool = False) -> torch.Tensor:
            return t.to(device) if is_mask else t.to(device, dtype)

        # 3. Per-step callback: preview, progress and cancel between steps.
        total = int(request.steps)

        def callback(step: int, _timestep, latents: torch.Tensor) -> None:
            if cancel():
                raise Cancelled("generation cancelled")
            if report is not None:
                report(step + 1, latents)
            if on_step is None:
                return
            done = step + 1
            elapsed = time.perf_counter() - started
            preview = latents_preview(self, latents)
            eta = elapsed / done * (total - done)
            on_step(StepInfo(index, int(request.count), done, total, preview, elapsed, eta, "denoise"))

        # 4. Denoise with the stock pipeline, latents out.
        return pipe(
            prompt=None,
            negative_prompt=None,
            prompt_embeds=to_dev(embeds["embeds"]),
            prompt_attention_mask=to_dev(embeds["mask"], True),
            negative_prompt_embeds=to_dev(embeds["neg_embeds"]),
            negative_prompt_attention_mask=to_dev(embeds["neg_mask"], True),
            num_inference_steps=total,
            timesteps=timesteps,
            guidance_scale=float(request.guidance),
            height=made_h,
            width=made_w,
            latents=noise.to(device, dtype),
            output_type="latent",
            use_resolution_binning=False,
            clean_caption=False,
            max_sequence_length=T5_TOKENS,
            callback=callback,
            callback_steps=1,
        ).images

    def _decode(self, latents: torch.Tensor, index: int, count: int, started: float, on_step, cancel,
                tileable: str = "off") -> Image.Image:
        """Latents -> PIL image through the VAE, tiled (seam-free) when memory is short."""
        vae = self.pipe.vae
        z = latents.to(next(vae.parameters()).dtype) / vae.config.scaling_factor

        def progress(done: int, total: int) -> None:
            if on_step is not None:
                elapsed = time.perf_counter() - started
                on_step(StepInfo(index, count, done, total, None, elapsed, 0.0, "decode"))

        pixels = seamless.wrapping_decode(  # == vae_tiling.decode when tileable is "off"
            vae,
            z,
            tileable,
            mode=self.plan.vae_tiling,
            budget_bytes=self.vae_budget_bytes,
            on_progress=progress,
            should_cancel=cancel,
        )
        pixels = (pixels[0].float() / 2 + 0.5).clamp(0, 1)  # (3, H, W)
        array = (pixels.permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()
        return Image.fromarray(array)

    def _params(self, request: GenerationRequest, seed: int, kv_factor: int, made: tuple[int, int], stages) -> dict:
        params = dict(
            prompt=request.prompt,
            negative=request.negative or "",
            width=int(request.width),
            height=int(request.height),
            steps=int(request.steps),
            guidance=float(request.guidance),
            seed=seed,
            model=self.info.name if self.info else "",
            kv_compress="off" if kv_factor == 1 else str(kv_factor),
            made_width=made[0],
            made_height=made[1],
            device=self.plan.device,
            **({"tileable": request.tileable} if getattr(request, "tileable", "off") != "off" else {}),
        )
        params["hires"] = refine.hires_params(request, stages)
        return params


def latents_preview(engine: Engine, latents: torch.Tensor) -> Image.Image:
    """A cheap preview of the current step (linear map fitted once per VAE): the scheduler's predicted
    clean latents where it exposes them (DPM-Solver++), else the noisy latents themselves."""
    from .preview import fit_latent_to_rgb, latents_to_preview, predicted_clean

    if engine._preview_matrix is None:
        engine._preview_matrix = fit_latent_to_rgb(engine.pipe.vae)
    return latents_to_preview(predicted_clean(engine.pipe.scheduler, latents), engine._preview_matrix)


def _exact(image: Image.Image, request: GenerationRequest) -> Image.Image:
    """Exactly the requested size (Lanczos when the made size differs; across the wrap when tileable)."""
    if image.size != (int(request.width), int(request.height)):
        image = seamless.wrapping_resize(image, (int(request.width), int(request.height)), request.tileable)
    return image


def _rgb_array(image: Image.Image):
    import numpy as np

    return np.asarray(image.convert("RGB"), dtype=np.float32)


def _prompt_words(resolved) -> PromptWords | None:
    """The model folder's prompt tables (prompt_words.py); SourceError naming the file when unusable."""
    if resolved.kind not in ("pipeline_folder", "demo"):
        return None
    try:
        return PromptWords.load(resolved.location)
    except (ValueError, OSError) as error:
        raise SourceError(f"{resolved.location}: the prompt tables cannot be read: {error}") from error


def _to(module, device: str) -> None:
    """Move a pipeline part that may be absent (a T5 dropped to save memory)."""
    if module is not None:
        module.to(device)


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _oom_advice(plan: memory.MemoryPlan | None) -> str:
    mode = plan.mode if plan else "?"
    return (
        f"out of memory even in {mode} mode: choose a smaller size, turn KV compression on (4), "
        "use memory mode 'sequential', or close other programs using the GPU"
    )
