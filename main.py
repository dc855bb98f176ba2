"""Sigma Studio entry point: `generate` / `models` -> the command line (app.cli); anything else -> the
studio window (app.bootstrap, the composition root). See docs/DESIGN.md, Contract 1."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from app.bootstrap import CLI_COMMANDS, parse_studio_args, run_studio

    if argv and argv[0] in CLI_COMMANDS:
        from app.cli import run_cli

        return run_cli(argv)
    options = parse_studio_args(argv)
    return run_studio(options)


if __name__ == "__main__":
    sys.exit(main())
