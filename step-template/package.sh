#!/usr/bin/env bash
# Builds vmss-check for release and writes the Octopus package VmssCheck.<version>.tar.gz
# (PackageId.SemVer.ext, as the built-in feed expects) with the binary at its root.
#
#   step-template/package.sh [OUT_DIR]        default OUT_DIR: dist/
#
# The binary links glibc statically (-C target-feature=+crt-static) and resolves DNS itself,
# so it runs on any x86_64 Linux, old glibc or new. It is built without the default `sim`
# feature: no simulator, no `demo`, none of the simulator's fake secrets. VMSS_CHECK_BINARY=PATH packages an
# already-built binary instead of building one (the tests use it to stay fast).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/dist}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || { echo "package.sh: no version in Cargo.toml" >&2; exit 1; }

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
install -m 0644 "$root/README.md" "$root/LICENSE" "$stage/"
"$stage/vmss-check" --version >/dev/null

mkdir -p "$out"
archive="$out/VmssCheck.$version.tar.gz"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$archive" vmss-check README.md LICENSE
echo "$archive"
