#!/usr/bin/env bash
# Builds vmss-check.exe for Windows workers (x86_64-pc-windows-gnu) on a Linux machine, in a
# Debian trixie chroot (see scripts/windows-chroot.sh), and prints the lean .exe's path last.
#
#   sudo scripts/windows-build.sh [--prepare]
#
# --prepare only makes the chroot ready and downloads the crates (network, little CPU), so that
# .ci/run can do it while the native build keeps the CPU busy.
#
# Two builds, both release: the lean one that the package carries (--no-default-features: no
# simulator), and one with `sim` that has `vmss-check demo`. They land in
# $CARGO_TARGET_DIR/windows/ (default target/windows/): vmss-check.exe and sim/vmss-check.exe.
# Needs root, debootstrap (installed with apt if missing) and about 6 GB. The first run takes
# ~10 minutes on 2 cores; later runs reuse the chroot and Cargo's cache inside it (its
# target directory lives outside the copied source) and take a minute or two.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/windows-chroot.sh
. "$root/scripts/windows-chroot.sh"
chroot_build_start windows

if [ "${1:-}" = --prepare ]; then
  in_chroot env CARGO_TERM_COLOR=never cargo fetch --locked --manifest-path /build/src/Cargo.toml >&2
  exit 0
fi

build() {
  in_chroot env RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=/build/target CARGO_TERM_COLOR=never \
    CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-$(nproc)}" \
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
    nice cargo build --locked --release --target x86_64-pc-windows-gnu \
    -Zbuild-std=std,panic_abort --manifest-path /build/src/Cargo.toml "$@" >&2
}
exe=$chroot_dir/build/target/x86_64-pc-windows-gnu/release/vmss-check.exe
# Copies for the machine ($out) and for Wine in the chroot (/build/out, where
# scripts/windows-test.sh runs them).
mkdir -p "$chroot_dir/build/out/sim"
build --features sim
install -m 0755 "$exe" "$out/sim/vmss-check.exe"
install -m 0755 "$exe" "$chroot_dir/build/out/sim/vmss-check.exe"
build --no-default-features
install -m 0755 "$exe" "$out/vmss-check.exe"
install -m 0755 "$exe" "$chroot_dir/build/out/vmss-check.exe"
if grep -a -q -e sim-client-secret -e API-SIMULATEDKEY "$out/vmss-check.exe"; then
  windows_die "$out/vmss-check.exe was built without the sim feature but holds the simulator's secrets"
fi
# The lean build is the one left in Cargo's output: it must start under Wine.
in_chroot wine "${exe#"$chroot_dir"}" --version >&2 ||
  windows_die "the lean vmss-check.exe does not run under Wine"
echo "$out/vmss-check.exe"
