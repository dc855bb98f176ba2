"""Sigma Studio entry point: no arguments -> the studio window; `generate` / `models` -> command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("generate", "models", "-h", "--help"):
        from app.cli import run_cli

        return run_cli(argv)
    from app.studio import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
