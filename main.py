"""Sigma Studio entry point: `generate` / `models` / `poster` -> the command line (app.cli); anything else -> the
studio window (app.bootstrap, the composition root). See docs/DESIGN.md, Contract 1."""

from __future__ import annotations

import sys

MIN_PYTHON = (3, 11)


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < MIN_PYTHON:  # before anything that needs a newer Python is imported
        print(f"Sigma Studio needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; this is "
              f"{sys.version.split()[0]}. Install a newer Python and reinstall Sigma Studio with it.",
              file=sys.stderr)
        return 2
    argv = list(sys.argv[1:] if argv is None else argv)
    from app.bootstrap import CLI_COMMANDS, parse_studio_args, run_studio

    if argv and argv[0] in CLI_COMMANDS:
        from app.cli import run_cli

        return run_cli(argv)
    options = parse_studio_args(argv)  # --help and bad arguments answer before any check
    from app import preflight

    code = preflight.check_studio()  # display, Qt's system libraries, a damaged install
    if code:
        return code
    return run_studio(options)


if __name__ == "__main__":
    sys.exit(main())
