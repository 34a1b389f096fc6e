#!/usr/bin/env bash
# Renders the demo's decision record (vmss-check-report.html) to a PNG with Debian's headless
# Chromium, for the README: `scripts/screenshot-report.sh [out.png]` (default docs/report.png).
# Needs `apt-get install -y chromium`. Chromium runs with a throwaway profile and without
# background networking, so the screenshot shows exactly what the self-contained file holds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/docs/report.png}")
if ! command -v chromium >/dev/null; then
  echo "screenshot-report.sh needs Chromium: apt-get install -y chromium" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The demo plays the scale-out against the simulator and writes the record into $work.
cargo run --quiet --manifest-path "$root/Cargo.toml" -- demo --poll-interval 0.2 \
  --report-dir "$work" >"$work/demo.log"
html=$work/vmss-check-report.html
[[ -s $html ]] || { cat "$work/demo.log" >&2; echo "the demo wrote no $html" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$(mktemp -d -p "$work")" \
  --hide-scrollbars --window-size=1280,1700 --screenshot="$out" "file://$html" 2>"$work/chromium.log" \
  || { cat "$work/chromium.log" >&2; exit 1; }
echo "$out"
