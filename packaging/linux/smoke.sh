#!/usr/bin/env bash
# The whole Linux cycle as a new user with an empty home, on a virtual screen (Xvfb):
#   build -> install from the tarball (real downloads through your pip configuration) -> start the
#   installed .desktop entry as a file manager does (gio launch) -> screenshot -> open a preset file
#   through its MIME type -> screenshot -> installed CLI generates from another folder -> uninstall.
# Prints each step's time and the artifact sizes; the last line is JSON. Screenshots and the
# generated image go to $SMOKE_OUT (default build/smoke/).
# Needs (Debian/Ubuntu): sudo apt install xvfb xdotool imagemagick libglib2.0-bin desktop-file-utils
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${SMOKE_OUT:-$root/build/smoke}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
for tool in Xvfb xdotool import gio desktop-file-validate; do
  command -v "$tool" >/dev/null || { echo "smoke.sh needs $tool (see the header of this script)" >&2; exit 2; }
done
work="$(mktemp -d)"
xvfb_pid=""
cleanup() {
  [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
  pkill -f "$work/home/.local/share/sigma-studio" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
pip_cache="${PIP_CACHE_DIR:-$HOME/.cache/pip}"  # the one thing shared with the real user: pip's download cache
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config" \
       XDG_CACHE_HOME="$work/home/.cache" PIP_CACHE_DIR="$pip_cache"
unset SIGMA_STUDIO_HOME QT_QPA_PLATFORM
mkdir -p "$HOME"
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
log() { echo "== $*"; }

log "build"; t=$(now)
bash "$root/packaging/linux/build.sh" > "$out/build.log"
build_s=$(since "$t")
tarball="$(ls "$root"/dist/sigma-studio-*-linux.tar.gz | awk "END {print}")"
wheel="$(ls "$root"/dist/sigma_studio-*.whl | awk "END {print}")"
tar -xzf "$tarball" -C "$work"

log "install (as $HOME)"; t=$(now)
bash "$work"/sigma-studio-*-linux/install.sh 2>&1 | tee "$out/install.log" | grep -E '^\[|installed|warning|failed' || true
install_s=$(since "$t")
app_dir="$XDG_DATA_HOME/sigma-studio"
desktop="$XDG_DATA_HOME/applications/sigma-studio.desktop"
[ -x "$HOME/.local/bin/sigma-studio" ] || { echo "install failed: see $out/install.log" >&2; exit 1; }
installed_mb=$(du -sm "$app_dir" | cut -f1)
desktop-file-validate "$desktop"
preset_type="$(gio info -a standard::content-type "$root/resources/presets/neon-city.preset.json" 2>/dev/null | awk '/content-type/ {print $2}')"
preset_app="$(gio mime application/x-sigma-studio-preset 2>/dev/null | awk "NR == 1")"
echo "preset files: $preset_type; $preset_app"

display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
export DISPLAY="$display"
sleep 1
"$app_dir/current/bin/python" -m app.preflight || { echo "the studio cannot start here (above)" >&2; exit 1; }

log "start through the desktop entry"; t=$(now)
(cd "$work" && gio launch "$desktop") &
wid="$(timeout 120 xdotool search --sync --onlyvisible --name "Sigma Studio" | awk "NR == 1")"
window_s=$(since "$t")
sleep "${SMOKE_SETTLE_S:-25}"  # the model loads on its worker thread after the window shows
import -window root "$out/installed-window.png"
xdotool windowclose "$wid" 2>/dev/null || xdotool key --window "$wid" ctrl+q
for _ in $(seq 60); do pgrep -f "$app_dir" >/dev/null || break; sleep 1; done

log "open a preset file (as a double-click does)"
cp "$root/resources/presets/neon-city.preset.json" "$work/neon-city.preset.json"
(cd "$work" && gio open "$work/neon-city.preset.json") &
wid="$(timeout 120 xdotool search --sync --onlyvisible --name "Sigma Studio" | awk "NR == 1")"
sleep "${SMOKE_SETTLE_S:-25}"
import -window root "$out/installed-preset.png"
xdotool windowclose "$wid" 2>/dev/null || true
for _ in $(seq 60); do pgrep -f "$app_dir" >/dev/null || break; sleep 1; done

log "installed CLI, from another folder"; t=$(now)
mkdir -p "$work/elsewhere"
(cd "$work/elsewhere" && "$HOME/.local/bin/sigma-studio" generate "a teal poster with orange circles" \
   --preset 1080p --steps 20 --seed 7 --out "$out/installed-cli-1080p.png" > "$out/cli.log" 2>&1)
cli_s=$(since "$t")

log "uninstall"; t=$(now)
sh "$app_dir/uninstall.sh" | tee "$out/uninstall.log"
uninstall_s=$(since "$t")
left="$(find "$HOME" -path "$XDG_CACHE_HOME/pip" -prune -o \( -iname '*sigma-studio*' -print \) | wc -l)"
[ "$left" -eq 0 ] || { echo "uninstall left files behind" >&2; find "$HOME" -iname '*sigma-studio*'; exit 1; }

wheel_mb=$(python3 -c "import os,sys; print(round(os.path.getsize(sys.argv[1]) / 1e6, 1))" "$wheel")
tar_mb=$(python3 -c "import os,sys; print(round(os.path.getsize(sys.argv[1]) / 1e6, 1))" "$tarball")
echo "{\"build_s\": $build_s, \"install_s\": $install_s, \"window_after_launch_s\": $window_s," \
     "\"cli_1080p_20_steps_s\": $cli_s, \"uninstall_s\": $uninstall_s, \"wheel_mb\": $wheel_mb," \
     "\"installer_tarball_mb\": $tar_mb, \"installed_mb\": $installed_mb, \"left_after_uninstall\": $left}"
