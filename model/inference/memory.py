"""Memory plan: which device, which dtypes and which offload mode, chosen from free memory.

The plan table (figures for the released 0.6B DiT + T5-v1.1-XXL + SDXL VAE, bf16 weights):

| mode        | where the parts live                                              | GPU memory it needs            |
|-------------|-------------------------------------------------------------------|--------------------------------|
| gpu         | T5, DiT and VAE resident on the GPU                               | ~ 9.5 GB T5 + 1.2 GB DiT + work |
| offload     | T5 on the CPU (runs once per prompt, embeddings cached); DiT on   | ~ 1.2 GB DiT + work; the DiT   |
|             | the GPU while denoising, then moved off so the VAE decodes alone  | leaves before the decode        |
| sequential  | T5 on the CPU; DiT streamed block by block (diffusers group       | ~ one block + work             |
|             | offload); VAE decoded in tiles                                    |                                 |
| cpu         | everything on the CPU in fp32 (no GPU, or the user asked for it)  | none                            |

`auto` picks the first mode whose need fits the free GPU memory (with a safety margin). "Work" is
the activation memory of one denoising step plus the VAE decode, estimated from the image size.
On an out-of-memory error the engine steps down to the next mode (`step_down`) and retries once.

`free_memory` is the project's one probe of free memory (GPU or system RAM); the tiled VAE decode
budgets with it too. May import: model.errors, torch, psutil. Never Qt, app/ or ui/.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import BadRequest

GiB = 1024**3
MODES = ("gpu", "offload", "sequential")
USER_MODES = ("auto", "gpu", "offload", "sequential")
DEVICES = ("auto", "cpu", "cuda", "mps")

# Weights in bytes at 2 bytes/param (bf16/fp16) for the released parts.
T5_XXL_BYTES = int(4.76e9 * 2)
MARGIN = 1.15  # keep 15% of free memory for the allocator and other apps


@dataclass(frozen=True)
class MemoryPlan:
    """Device, dtypes and offload mode for one engine."""

    device: str  # "cuda" | "mps" | "cpu"
    mode: str  # "gpu" | "offload" | "sequential" | "cpu"
    dtype: str  # "bfloat16" | "float16" | "float32" (transformer and T5)
    vae_dtype: str  # VAE: never fp16 (the SDXL VAE overflows there)
    reason: str = ""
    vae_tiling: str = "auto"  # "auto" | "tiled" | "full"

    def describe(self) -> str:
        return f"{self.mode} on {self.device} ({self.dtype}, VAE {self.vae_dtype}): {self.reason}"


def detect_device(requested: str = "auto") -> str:
    """The device to run on: the requested one if present, else CUDA, MPS or CPU."""
    import torch

    if requested not in DEVICES:
        raise BadRequest(f"device {requested!r} is not one of {', '.join(DEVICES)}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise BadRequest("device 'cuda' was asked for but no CUDA GPU is available: use --device auto or cpu")
    if requested == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise BadRequest("device 'mps' was asked for but Apple Metal is not available: use --device auto or cpu")
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def free_memory(device) -> int | None:
    """Bytes free for new tensors on `device` (a torch.device or name), None when it cannot tell.

    CUDA: free memory plus what torch's allocator holds unused; MPS: its recommended maximum minus
    what is allocated; CPU: available system RAM.
    """
    import psutil
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + cached)
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
    return int(psutil.virtual_memory().available)


def work_bytes(width: int, height: int, hidden: int = 1152) -> int:
    """Activation memory of one CFG denoising step (batch 2) at a size, in bytes (bf16).

    Dominated by the token activations (tokens x hidden x ~12 live tensors x batch 2) and, without
    memory-efficient attention, nothing quadratic: SDPA kernels keep attention memory linear.
    """
    tokens = (width // 16) * (height // 16)
    return int(tokens * hidden * 2 * 12 * 2)


def dtypes_for(device: str) -> tuple[str, str]:
    """(model dtype, VAE dtype) for a device: bf16 where supported, fp16 else; VAE never fp16."""
    import torch

    if device == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bfloat16", "bfloat16"
        return "float16", "float32"
    if device == "mps":
        return "float16", "float32"
    return "float32", "float32"


def plan_memory(
    device: str,
    mode: str = "auto",
    free_bytes: int | None = None,
    dit_bytes: int = int(0.61e9 * 2),
    t5_bytes: int = T5_XXL_BYTES,
    width: int = 1024,
    height: int = 1024,
    hidden: int = 1152,
) -> MemoryPlan:
    """Choose the memory plan for a device, a requested mode and the free memory (pure function)."""
    if mode not in USER_MODES:
        raise BadRequest(f"memory mode {mode!r} is not one of {', '.join(USER_MODES)}")
    dtype, vae_dtype = dtypes_for(device)
    if device == "cpu":
        return MemoryPlan("cpu", "cpu", dtype, vae_dtype, "no GPU: everything runs on the CPU")
    if mode != "auto":
        return MemoryPlan(device, mode, dtype, vae_dtype, f"{mode} mode was asked for")
    if free_bytes is None:
        return MemoryPlan(device, "offload", dtype, vae_dtype, "free GPU memory unknown: offloading the T5")
    work = work_bytes(width, height, hidden)
    need = {
        "gpu": (t5_bytes + dit_bytes + work) * MARGIN,
        "offload": (dit_bytes + work) * MARGIN,
    }
    free_gb = free_bytes / GiB
    for candidate in ("gpu", "offload"):
        if need[candidate] <= free_bytes:
            why = f"{free_gb:.1f} GiB free, {candidate} needs ~{need[candidate] / GiB:.1f} GiB"
            return MemoryPlan(device, candidate, dtype, vae_dtype, why)
    why = f"{free_gb:.1f} GiB free, less than offload needs (~{need['offload'] / GiB:.1f} GiB)"
    return MemoryPlan(device, "sequential", dtype, vae_dtype, why, vae_tiling="tiled")


def step_down(plan: MemoryPlan) -> MemoryPlan | None:
    """The next, leaner plan after an out-of-memory error, or None when there is none."""
    if plan.mode == "gpu":
        return replace(plan, mode="offload", reason="out of memory in gpu mode")
    if plan.mode == "offload":
        return replace(plan, mode="sequential", vae_tiling="tiled", reason="out of memory in offload mode")
    if plan.vae_tiling != "tiled":
        return replace(plan, vae_tiling="tiled", reason=f"out of memory in {plan.mode} mode: tiled VAE decode")
    return None


def is_out_of_memory(error: BaseException) -> bool:
    """True for the out-of-memory errors of CUDA, MPS and the CPU allocator."""
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(error, MemoryError)
    )
