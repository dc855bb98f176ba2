"""The `batch` subcommand's arguments (Contract 1), apart from the machinery in command.py, so that
building the CLI's parser (main.py routes by its subcommand names at every start) stays light.

May import: the standard library only.
"""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any) -> None:
    """The `batch` subparser (app.cli.build_parser calls this)."""
    batch = sub.add_parser("batch", help="make every image of a jobs file (JSONL, CSV or a preset folder)")
    batch.add_argument("jobs", metavar="JOBS", help="a .jsonl or .csv jobs file, or a folder of .preset.json files")
    batch.add_argument("--out", required=True, metavar="DIR", help="output folder (images + manifest.jsonl)")
    batch.add_argument("--seeds", default=None, metavar="FIRST-LAST", help="seed range for a preset folder")
    batch.add_argument("--model", default=None, help="model for lines that name none (default: the configured one)")
    batch.add_argument("--base", default=None, help="T5/VAE/tokenizer/scheduler source for a single-file model")
    batch.add_argument("--kv-compress", default="auto", choices=["auto", "off", "2", "4"])
    batch.add_argument("--memory", default="auto", choices=["auto", "gpu", "offload", "sequential"])
    batch.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    batch.add_argument("--skip-invalid", action="store_true", help="run the good lines when some are bad")
    batch.add_argument("--ray", default=None, metavar="auto|ADDRESS", help="run on a Ray cluster (pip install .[farm])")
    batch.add_argument("--workers", type=int, default=None, help="Ray: workers (default: one per GPU, else 1)")
    batch.add_argument("--cpus-per-worker", type=float, default=None, help="Ray: CPUs each worker reserves")
    batch.add_argument("--retries", type=int, default=3, help="Ray: restarts of a dead worker and retries of its jobs")
    batch.add_argument("--timing-json", action="store_true", help="print the summary as one JSON line on stdout")
