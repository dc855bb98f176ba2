"""Export by refining: gallery images made again at each export size through the high-resolution path.

Plain resizing (app/export.py) stays the fast default. With "refine to each size" the export dialog
queues one generation job per (image, size): the image's own prompt, negative, seed, steps,
guidance and KV setting, the target size, and the path forced to `refine` (keeping the strength,
stage count and upscaler the image recorded). The jobs run in the studio queue like any other, with
progress, stage labels and cancel, and their images land in the gallery.

`upscales` says which sizes would be upscaled from each image, and by how much, for the dialog.

May import: app.jobs, app.metadata, app.sizes; no widgets, no torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .jobs import JobRequest
from .metadata import hires_request_kwargs
from .sizes import SizeError, SizePlan, plan_size


def upscale_factor(record: Any, target: Any) -> float:
    """How much a plain resize would enlarge the image to cover the target (1.0 or less: no upscale)."""
    if not record.width or not record.height:
        return 1.0
    return max(target.width / record.width, target.height / record.height)


def upscales(records: Iterable[Any], targets: Iterable[Any]) -> list[tuple[Any, float]]:
    """(target, largest factor over the records) for every target some record would be upscaled to."""
    records = list(records)
    out = []
    for target in targets:
        factor = max((upscale_factor(r, target) for r in records), default=1.0)
        if factor > 1.001:
            out.append((target, factor))
    return out


def describe_upscales(records: Iterable[Any], targets: Iterable[Any]) -> str:
    """One line for the dialog: 'Upscaled: 4K UHD ×2.0, A3 300 DPI ×3.3' or 'No size is upscaled'."""
    found = upscales(records, targets)
    if not found:
        return "No size is upscaled."
    parts = [f"{t.label or f'{t.width}×{t.height}'} ×{factor:.1f}" for t, factor in found]
    return "Upscaled by a plain resize: " + ", ".join(parts)


def refine_jobs(records: Iterable[Any], targets: Iterable[Any]) -> tuple[list[tuple[JobRequest, SizePlan]], list[str]]:
    """(request, size plan) per record and target for the job queue, and why any pair was left out."""
    jobs: list[tuple[JobRequest, SizePlan]] = []
    problems: list[str] = []
    for record in records:
        params = dict(getattr(record, "params", None) or {})
        prompt = params.get("prompt") or record.prompt
        if not prompt:
            problems.append(f"image {record.id}: no prompt recorded, it cannot be made again")
            continue
        hires = {**hires_request_kwargs(params), "hires": "refine"}
        for target in targets:
            try:
                plan = plan_size(target.width, target.height, getattr(target, "dpi", None))
            except SizeError as error:
                problems.append(f"{target.width}×{target.height}: {error}")
                continue
            request = JobRequest(
                prompt=str(prompt),
                negative=str(params.get("negative") or record.negative or ""),
                width=target.width,
                height=target.height,
                steps=int(params.get("steps") or record.steps or 20),
                guidance=float(params.get("guidance") if params.get("guidance") is not None else record.guidance or 4.5),
                seed=params.get("seed", record.seed),
                kv_compress=str(params.get("kv_compress") or "auto"),
                dpi=getattr(target, "dpi", None),
                **hires,
            )
            jobs.append((request, plan))
    return jobs, problems
