#!/usr/bin/env bash
# Build Sigma Studio's Linux artifacts into dist/ (or $DIST_DIR) in one command, from a checkout:
#   dist/sigma_studio-VERSION-py3-none-any.whl   the app (code, demo model, presets, styles, icons)
#   dist/sigma-studio-VERSION-linux.tar.gz       the installer: the wheel, install.sh, installer.py,
#                                                the dependency lock; unpack and run install.sh
# The wheel is built from a clean copy of the tracked files, so nothing stale from build/ gets in.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
version="$("$python" -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")"
src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$root" ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"; done | xargs -0 cp --parents -t "$src"
else
  tar --exclude=./build --exclude=./dist --exclude=./.venv -cf - . | tar -xf - -C "$src"
fi
dist="${DIST_DIR:-$root/dist}"
mkdir -p "$dist"
echo "[1/2] Building the wheel"
# SIGMA_NO_BUILD_ISOLATION=1 builds with the setuptools already installed (offline; the tests use it).
"$python" -m pip wheel --quiet --no-deps ${SIGMA_NO_BUILD_ISOLATION:+--no-build-isolation} --wheel-dir "$dist" "$src"
wheel="$dist/sigma_studio-$version-py3-none-any.whl"
stage="$dist/sigma-studio-$version-linux"
echo "[2/2] Packing the installer"
rm -rf "$stage" && mkdir -p "$stage/locks"
cp packaging/installer.py packaging/platform_integration.py "$stage/"
cp packaging/linux/install.sh "$stage/install.sh"
cp packaging/locks/linux-app.txt "$stage/locks/"
cp "$wheel" "$stage/"
tar -C "$dist" -czf "$dist/sigma-studio-$version-linux.tar.gz" "sigma-studio-$version-linux"
rm -rf "$stage"
ls -l "$wheel" "$dist/sigma-studio-$version-linux.tar.gz" | awk '{printf "%s  %.1f MB\n", $NF, $5 / 1e6}'
