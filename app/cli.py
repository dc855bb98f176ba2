"""The command line (docs/DESIGN.md Contract 1): `generate`, `models`, `poster` (app.poster.cli) and
`batch` (app/batch/command.py).

Exit codes: 0 success; 2 bad arguments or input (one line on stderr, no output file);
1 a failure while running (clear message, no partial output file). main.py hands it every argv
whose first word is a subcommand.

May import: app/ modules, and model/ only through app.model_service; no Qt.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


class UsageError(Exception):
    """Bad arguments: exit code 2 with one line on stderr."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line instead of usage + traceback
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sigma-studio", description="Posters and wallpapers up to 4K with PixArt-Sigma.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    gen = sub.add_parser("generate", help="generate images from a prompt")
    gen.add_argument("prompt")
    gen.add_argument("--negative", default="")
    gen.add_argument("--model", default=None, help="hub id, diffusers folder, or .pth/.safetensors file")
    gen.add_argument("--base", default=None, help="T5/VAE/tokenizer/scheduler source for a single-file model")
    size = gen.add_mutually_exclusive_group()
    size.add_argument("--size", default=None, help="WxH, each side 256-4096")
    size.add_argument("--preset", default=None, help="a size preset name, e.g. '4K UHD' or a3-portrait")
    gen.add_argument("--steps", type=int, default=20)
    gen.add_argument(
        "--guidance", type=float, default=None, help="CFG scale (default: the model's own, else 4.5)"
    )
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--count", type=int, default=1)
    gen.add_argument("--kv-compress", default="auto", choices=["auto", "off", "2", "4"])
    gen.add_argument("--tileable", default="off", choices=["off", "x", "y", "both"],
                     help="seamless: the image wraps around these axes (issue 14)")
    gen.add_argument("--memory", default="auto", choices=["auto", "gpu", "offload", "sequential"])
    gen.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    gen.add_argument("--hires", default="auto", choices=["auto", "direct", "refine"],
                     help="beyond the model's resolution: compose there and refine at the size (auto: per model)")
    gen.add_argument("--refine-strength", type=float, default=None, help="0.05-1 (default 0.45)")
    gen.add_argument("--refine-stages", type=int, default=None, help="1-4 refine stages (default: from the jump)")
    gen.add_argument("--upscaler", default="latent", choices=["latent", "pixel"])
    gen.add_argument("--out", default=".", help="output file (.png/.jpg/.webp) or folder")
    gen.add_argument("--force", action="store_true", help="overwrite existing files (default: pick a free name)")
    sub.add_parser("models", help="known and installed models, where they live")
    from app.poster.cli import add_parser as add_poster_parser  # issue 13: `poster`

    add_poster_parser(sub)

    from app.batch.args import add_parser as add_batch_parser

    add_batch_parser(sub)
    return parser


def command_names() -> tuple[str, ...]:
    """The subcommands build_parser defines: main.py routes exactly these to run_cli (one list)."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return tuple(action.choices)
    return ()


def output_paths(out: str, seeds: list[int]) -> list[Path]:
    """Where each image goes: a folder -> sigma_SEED.png inside; a file -> FILE, or FILE-k for several."""
    target = Path(out).expanduser()
    if target.is_dir() or out.endswith(("/", "\\")) or not target.suffix:
        return [target / f"sigma_{seed}.png" for seed in seeds]
    if target.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"--out {out}: use a folder or a .png, .jpg or .webp file name")
    if len(seeds) == 1:
        return [target]
    return [target.with_name(f"{target.stem}-{k + 1}{target.suffix}") for k in range(len(seeds))]


def _check_out(out: str) -> None:
    target = Path(out).expanduser()
    if target.suffix and not target.is_dir() and target.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"--out {out}: use a folder or a .png, .jpg or .webp file name")
    parent = target if (target.is_dir() or not target.suffix) else target.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"--out {out}: {parent} is not a folder")
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:  # a real write, before any work: permissions, read-only disks and ACLs all answer here
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write to {existing} ({exc.strerror or exc})") from None


def free_path(path: Path) -> Path:
    """path, or NAME-2.SUFFIX, NAME-3.SUFFIX, ... when a file of that name exists (never overwrite)."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def _resolve_size(args) -> object:
    from app.model_service import BadRequest
    from app.sizes import SizeError, plan_size, resolve_size

    try:
        if args.preset:
            return resolve_size(args.preset)
        if args.size:
            from app.model_service import parse_size

            width, height = parse_size(args.size)
            return plan_size(width, height)
        return plan_size(1024, 1024)
    except (SizeError, ValueError, BadRequest) as error:
        raise UsageError(str(error)) from error


def cmd_generate(args) -> int:
    """`generate`: check the arguments, load the model, generate, write the files (Contract 1)."""
    _check_out(args.out)
    plan = _resolve_size(args)
    request = _request(args, plan)
    if plan.action != "exact" and plan.message:
        print(plan.message, file=sys.stderr)
    engine, request = _load_engine(args, request)
    result = _generate(engine, request, args.steps * args.count)
    if result is None:
        return 1
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return _write_images(result.images, plan, args.out, args.force)


def _request(args, plan) -> object:
    """The engine request at the size the model makes; UsageError for values the engine refuses."""
    from app.model_service import BadRequest, GenerationRequest, validate_request
    from app.settings import DEFAULT_GUIDANCE

    made_w, made_h = plan.made
    request = GenerationRequest(
        prompt=args.prompt,
        negative=args.negative,
        width=made_w,
        height=made_h,
        steps=args.steps,
        guidance=DEFAULT_GUIDANCE if args.guidance is None else args.guidance,
        seed=args.seed,
        count=args.count,
        kv_compress=args.kv_compress,
        hires=args.hires,
        refine_strength=args.refine_strength,
        refine_stages=args.refine_stages,
        upscaler=args.upscaler,
        tileable=args.tileable,
    )
    try:
        validate_request(request)
    except BadRequest as error:
        raise UsageError(str(error)) from error
    return request


def _load_engine(args, request) -> tuple[object, object]:
    """The engine with the model loaded, and the request with the model's own guidance when none was given."""
    from app.model_service import BadRequest, SourceError, make_engine

    try:
        engine = make_engine(args.device, args.memory, _cache_dir(), leave_a_core=False)
        model = args.model or _configured_model()
        info = engine.load(model, args.base)
    except (BadRequest, SourceError) as error:
        raise UsageError(str(error)) from error
    label = f"{info.name} (demo model: install the full model with the model manager)" if info.is_demo else info.name
    print(f"model: {label} on {info.device} [{info.plan}]", file=sys.stderr)
    if args.guidance is None and (info.defaults or {}).get("guidance") is not None:
        request = dataclasses.replace(request, guidance=info.defaults["guidance"])
        print(f"guidance {request.guidance:g} (this model's default)", file=sys.stderr)
    return engine, request


def _generate(engine, request, total_steps: int) -> object | None:
    """Run the engine with a progress bar on stderr; None (after saying why) when it was cancelled or failed."""
    from tqdm import tqdm

    from app.model_service import BadRequest, Cancelled, EngineError

    bar = tqdm(total=total_steps, unit="step", file=sys.stderr, dynamic_ncols=True)

    def on_step(step) -> None:
        if step.phase == "denoise":
            if bar.total != step.total * step.count:  # a refined image counts the steps of all its stages
                bar.total = step.total * step.count
            bar.update(1)
            stage = f" {step.stage}" if getattr(step, "stage", "") else ""
            bar.set_postfix_str(f"image {step.image_index + 1}/{step.count}{stage}")

    try:
        return engine.generate(request, on_step=on_step)
    except (KeyboardInterrupt, Cancelled):
        print("cancelled", file=sys.stderr)
        return None
    except BadRequest as error:
        raise UsageError(str(error)) from error
    except EngineError as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return None
    finally:
        bar.close()


def _write_images(images: list, plan, out: str, force: bool = False) -> int:
    """Each image fitted to the exact target and written with its metadata; prints seed and path.

    An existing file is kept (a free name is used) unless force. A failure while writing is one
    line on stderr and exit 1; atomic writes leave no partial file."""
    from app.metadata import MetadataError

    paths = output_paths(out, [item.seed for item in images])
    for item, path in zip(images, paths):
        try:
            path = path if force else free_path(path)
            save_output(item, plan, path)
        except (OSError, MetadataError) as error:
            reason = getattr(error, "strerror", None) or error
            print(f"error: cannot write {path}: {_one_line(reason)}", file=sys.stderr)
            return 1
        print(f"seed {item.seed}: {path}")
    return 0


def save_output(item, plan, path: Path, **extra) -> Path:
    """One generated image fitted to the exact target and written atomically with its Contract-2
    metadata (extra keys added to it); `generate` and `batch` both write through here."""
    from app.metadata import build_params, save_image
    from app.sizes import fit_to_target

    image = fit_to_target(item.image, plan)
    params = build_params(**{**item.params, "width": plan.target[0], "height": plan.target[1], **extra})
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = IMAGE_SUFFIXES.get(path.suffix.lower(), "png")
    return save_image(image, path, params, fmt=fmt, dpi=plan.dpi)


def cmd_models(_args) -> int:
    from app.model_service import list_models

    entries, _cache = list_models(_local_models())
    for entry in entries:
        state = "installed" if entry.get("downloaded") else "not downloaded"
        where = entry.get("path") or entry.get("hub_id") or ""
        size = f"{entry['download_gb']:.1f} GB" if entry.get("download_gb") else ""
        print(f"{entry['name']:<34} {state:<15} {size:>8}  {where}")
    return 0


def _cache_dir():
    from app.paths import cache_dir

    return cache_dir()


def _settings():
    try:
        from app.settings import Settings

        return Settings.load()
    except Exception:  # noqa: BLE001 - a broken settings file must not break the CLI
        return None


def _configured_model() -> str | None:
    settings = _settings()
    return getattr(settings, "default_model", None) if settings else None


def _local_models() -> list[str]:
    settings = _settings()
    return list(getattr(settings, "local_models", []) or []) if settings else []


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def run_cli(argv: list[str]) -> int:
    """Parse and run; returns the process exit code."""
    from app.model_service import BadRequest, SourceError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "generate":
            return cmd_generate(args)
        if args.command == "models":
            return cmd_models(args)
        if args.command == "poster":
            from app.poster.cli import cmd_poster

            return cmd_poster(args)
        if args.command == "batch":
            from app.batch.command import cmd_batch

            return cmd_batch(args)
        parser.print_help()
        return 2
    except (UsageError, BadRequest, SourceError) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    except SystemExit as done:  # --help
        return int(done.code or 0)
