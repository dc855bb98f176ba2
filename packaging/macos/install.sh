#!/usr/bin/env bash
# Install Sigma Studio for the current user on macOS 14+ (Apple silicon): ~/Applications/Sigma Studio.app,
# the app in ~/Library/Application Support/sigma-studio, `sigma-studio` in ~/.local/bin.
#   bash install.sh [--wheel PATH]
# Needs Python 3.11+ (python.org or Homebrew: brew install python@3.12).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
installer="$here/installer.py"
[ -f "$installer" ] || installer="$here/../installer.py"
for candidate in ${SIGMA_PYTHON:-} python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    exec "$(command -v "$candidate")" "$installer" install "$@"
  fi
done
echo "Sigma Studio needs Python 3.11 or newer: brew install python@3.12, or get it from python.org." >&2
exit 1
