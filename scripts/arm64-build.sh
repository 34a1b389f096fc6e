#!/usr/bin/env bash
# Builds vmss-check for Linux arm64 workers (aarch64-unknown-linux-gnu) on this x86_64 machine,
# in the Debian trixie chroot that also builds the Windows binary (scripts/windows-chroot.sh:
# one chroot, one Cargo cache), and prints the lean binary's path last.
#
#   sudo scripts/arm64-build.sh
#
# Two builds, both statically linked like the x86_64 release binary (glibc linked in, DNS
# resolved by the binary itself: no glibc version needed on the worker): the lean release build
# that the package carries as vmss-check-arm64 (--no-default-features: no simulator), and one
# with `sim` that has `vmss-check demo`. The `sim` one is the build the tests drive (cargo test
# --no-run: dev profile, the tests' features), so that scripts/arm64-test.sh builds nothing more.
# They land in $CARGO_TARGET_DIR/arm64/ (default target/arm64/): vmss-check and sim/vmss-check.
# rustup cannot fetch the target here, so std is built from trixie's rust-web-src
# (-Zbuild-std), as for Windows. Each binary must start under qemu-aarch64.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/windows-chroot.sh
. "$root/scripts/windows-chroot.sh"
chroot_build_start arm64

built=$chroot_dir/build/target/$arm64_target
mkdir -p "$chroot_dir/build/out/arm64/sim"
arm64_cargo test --no-run
install -m 0755 "$built/debug/vmss-check" "$out/sim/vmss-check"
install -m 0755 "$built/debug/vmss-check" "$chroot_dir/build/out/arm64/sim/vmss-check"
arm64_cargo build --release --no-default-features
install -m 0755 "$built/release/vmss-check" "$out/vmss-check"
install -m 0755 "$built/release/vmss-check" "$chroot_dir/build/out/arm64/vmss-check"
if grep -a -q -e sim-client-secret -e API-SIMULATEDKEY "$out/vmss-check"; then
  windows_die "$out/vmss-check was built without the sim feature but holds the simulator's secrets"
fi
for b in "$out/vmss-check" "$out/sim/vmss-check"; do
  # Static: no program interpreter, so it needs nothing of the worker's glibc.
  if in_chroot aarch64-linux-gnu-readelf -l "/build/out/arm64/${b#"$out/"}" | grep -q 'Requesting program interpreter'; then
    windows_die "$b is dynamically linked; it must be static like the x86_64 release binary"
  fi
  in_chroot qemu-aarch64 "/build/out/arm64/${b#"$out/"}" --version >&2 ||
    windows_die "$b does not run under qemu-aarch64"
done
echo "$out/vmss-check"
