"""Sigma Studio entry point: no arguments -> the studio window; `generate` / `models` -> command line."""

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
    if argv and argv[0] in ("generate", "models", "-h", "--help"):
        from app.cli import run_cli

        return run_cli(argv)
    from app import preflight

    code = preflight.check_studio()  # display, Qt's system libraries, a damaged install
    if code:
        return code
    from app.studio import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
