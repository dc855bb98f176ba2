#!/usr/bin/env bash
# Regenerate the dependency locks in packaging/locks/ (a developer step; needs uv: `pip install uv`).
#
# One lock per platform and purpose: {linux,windows,macos}-{app,test}.txt. The installers and .ci/run
# use them as pip constraints (`pip install -c LOCK ...`), so every package pip installs has exactly
# the locked version, whatever the registry holds that day. torch is pinned too, but installed first
# by the installer with the build that fits the machine (CPU, CUDA or macOS); any build of that
# version satisfies the pin. Versions resolved for Linux are preferred on the other platforms, so the
# locks differ only where a platform needs another package (colorama on Windows, CUDA libraries on
# Linux).
set -euo pipefail
export MACOSX_DEPLOYMENT_TARGET=14.0  # torch 2.13 ships macOS wheels for 14.0 and later (Apple silicon)
cd "$(dirname "$0")/.."
out=packaging/locks
prefer=$(mktemp)
trap 'rm -f "$prefer"' EXIT
[ -f "$out/linux-test.txt" ] && grep -E '^[A-Za-z0-9_.-]+==' "$out/linux-test.txt" > "$prefer" || true
declare -A platforms=([linux]=x86_64-manylinux_2_34 [windows]=x86_64-pc-windows-msvc [macos]=aarch64-apple-darwin)
for name in linux windows macos; do
  for purpose in app test; do
    extra=(); [ "$purpose" = test ] && extra=(--extra test)
    uv pip compile pyproject.toml "${extra[@]}" --python-version 3.11 --python-platform "${platforms[$name]}" \
      -c "$prefer" --no-header --no-annotate --quiet -o "$out/$name-$purpose.txt.tmp"
    { echo "# Sigma Studio dependency lock: $name, $purpose. Made by packaging/lock.sh; use as pip constraints (-c)."
      cat "$out/$name-$purpose.txt.tmp"; } > "$out/$name-$purpose.txt"
    rm "$out/$name-$purpose.txt.tmp"
  done
done
echo "locks written to $out/"
