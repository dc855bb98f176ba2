#!/usr/bin/env bash
# Install Sigma Studio for the current user (no root needed), or upgrade it keeping the gallery.
#   bash install.sh [--torch auto|cpu|cuda] [--wheel PATH]
# Run it from a checkout after packaging/linux/build.sh, or from the unpacked installer tarball.
# Puts the app in ${XDG_DATA_HOME:-~/.local/share}/sigma-studio/, a launcher in ~/.local/bin, a menu
# entry, icons and the *.preset.json file type. Uses your pip configuration (index, proxy, certificates).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
installer="$here/installer.py"
[ -f "$installer" ] || installer="$here/../installer.py"
python=""
for candidate in ${SIGMA_PYTHON:-} python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$(command -v "$candidate")"
    break
  fi
done
if [ -z "$python" ]; then
  echo "Sigma Studio needs Python 3.11 or newer, and none was found." >&2
  echo "  Debian/Ubuntu: sudo apt install python3.11 python3.11-venv" >&2
  echo "  Fedora:        sudo dnf install python3.11" >&2
  echo "Or name one: SIGMA_PYTHON=/path/to/python3.11 bash install.sh" >&2
  exit 1
fi
exec "$python" "$installer" install "$@"
