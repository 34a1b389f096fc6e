#!/usr/bin/env bash
# Builds vmss-check for release and writes the Octopus package VmssCheck.<version>.tar.gz
# (PackageId.SemVer.ext, as the built-in feed expects) with three binaries at its root:
# vmss-check for x86_64 Linux workers, vmss-check-arm64 for arm64 (aarch64) Linux workers (the
# Bash body picks one by `uname -m`) and vmss-check.exe for Windows workers (Octopus extracts
# .tar.gz on Windows too), so one package serves both step templates.
#
#   VMSS_CHECK_ARM64_BINARY=path/to/arm64/vmss-check VMSS_CHECK_WINDOWS_BINARY=path/to/vmss-check.exe \
#     step-template/package.sh [OUT_DIR]      default OUT_DIR: dist/
#
# The arm64 and Windows binaries are built elsewhere: by scripts/arm64-build.sh and
# scripts/windows-build.sh on Linux (each prints its path), or on a Windows runner for the .exe
# (.github/workflows/release.yml).
# The Linux binaries link glibc statically (-C target-feature=+crt-static) and resolve DNS
# themselves, so they run on any Linux of their processor, old glibc or new. They are built without the default `sim`
# feature: no simulator, no `demo`, none of the simulator's fake secrets. VMSS_CHECK_BINARY=PATH packages an
# already-built x86_64 binary instead of building one (the tests use it to stay fast).
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

# An ELF executable for aarch64: e_machine (bytes 18-19, little-endian) is 183 (EM_AARCH64).
arm64=${VMSS_CHECK_ARM64_BINARY:-}
if [ -z "$arm64" ] || [ ! -f "$arm64" ] || [ "$(head -c 4 "$arm64" | tail -c 3)" != ELF ] ||
  [ "$(od -An -tu2 -j18 -N2 "$arm64" | tr -d ' ')" != 183 ]; then
  echo "package.sh: VMSS_CHECK_ARM64_BINARY must name the aarch64 vmss-check (got \"$arm64\"): build it with sudo scripts/arm64-build.sh, which prints its path" >&2
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
install -m 0755 "$arm64" "$stage/vmss-check-arm64"
install -m 0755 "$exe" "$stage/vmss-check.exe"
install -m 0644 "$root/README.md" "$root/LICENSE" "$stage/"
"$stage/vmss-check" --version >/dev/null

mkdir -p "$out"
archive="$out/VmssCheck.$version.tar.gz"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$archive" vmss-check vmss-check-arm64 vmss-check.exe README.md LICENSE
echo "$archive"
