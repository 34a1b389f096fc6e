#!/usr/bin/env bash
# Builds vmss-check for release and writes the Octopus package VmssCheck.<version>.tar.gz
# (PackageId.SemVer.ext, as the built-in feed expects) with both binaries at its root:
# vmss-check for Linux workers and vmss-check.exe for Windows workers (Octopus extracts .tar.gz
# on Windows too), so one package serves both step templates.
#
#   VMSS_CHECK_WINDOWS_BINARY=path/to/vmss-check.exe step-template/package.sh [OUT_DIR]
#                                             default OUT_DIR: dist/
#
# The Windows binary is built elsewhere: by scripts/windows-build.sh on Linux (it prints its
# path), or on a Windows runner (.github/workflows/release.yml).
# The binary links glibc statically (-C target-feature=+crt-static) and resolves DNS itself,
# so it runs on any x86_64 Linux, old glibc or new. It is built without the default `sim`
# feature: no simulator, no `demo`, none of the simulator's fake secrets. VMSS_CHECK_BINARY=PATH packages an
# already-built binary instead of building one (the tests use it to stay fast).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/dist}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || { echo "package.sh: no version in Cargo.toml" >&2; exit 1; }

exe=${VMSS_CHECK_WINDOWS_BINARY:-}
if [ -z "$exe" ] || [ ! -f "$exe" ] || [ "$(head -c 2 "$exe")" != MZ ]; then
  echo "package.sh: VMSS_CHECK_WINDOWS_BINARY must name vmss-check.exe (got \"$exe\"): build it with sudo scripts/windows-build.sh, which prints its path" >&2
  exit 1
fi

if [ -n "${VMSS_CHECK_BINARY:-}" ]; then
  bin=$VMSS_CHECK_BINARY
else
  target=x86_64-unknown-linux-gnu
  # With --target, RUSTFLAGS reach only the binary, not build scripts or proc macros.
  RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --no-default-features --target "$target" \
      --manifest-path "$root/Cargo.toml"
  bin=${CARGO_TARGET_DIR:-$root/target}/$target/release/vmss-check
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$bin" "$stage/vmss-check"
install -m 0755 "$exe" "$stage/vmss-check.exe"
install -m 0644 "$root/README.md" "$root/LICENSE" "$stage/"
"$stage/vmss-check" --version >/dev/null

mkdir -p "$out"
archive="$out/VmssCheck.$version.tar.gz"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$archive" vmss-check vmss-check.exe README.md LICENSE
echo "$archive"
