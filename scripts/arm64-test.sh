#!/usr/bin/env bash
# Runs the test suite for Linux arm64 workers under emulation, in the chroot of
# scripts/arm64-build.sh (which this runs first; it is cached). Every test binary, unit tests and
# integration tests alike, is built for aarch64-unknown-linux-gnu and run by qemu-aarch64
# (Cargo's runner), and the integration tests drive the lean aarch64 vmss-check the package
# carries, through qemu too (VMSS_CHECK_TEST_RUNNER), against the simulator on loopback: the same
# behaviour tests that pass on x86_64 pass here. The template tests run the Bash body (this
# machine's Bash) with a `uname` that answers each processor; its arm64 choice runs the packaged
# lean aarch64 binary through qemu.
#
# The demo's tests are left to the end: `demo` starts the step by re-executing itself, and
# qemu-user cannot follow an exec into another aarch64 program (that needs binfmt_misc, which
# this script does not register on the machine). PRoot with qemu (-q) can: the demo runs under
# it, and must end with exit code 0 and the story's removals.
#
#   VMSS_CHECK_TEST_RUNNER   how a test runs the binary it drives (here qemu-aarch64)
#   VMSS_CHECK_TEST_BINARY   that binary, when not the one built with the tests
#   VMSS_CHECK_ARM64_BINARY  the arm64 binary the template tests package
#
#   sudo scripts/arm64-test.sh [TEST FILTER...]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/windows-chroot.sh
. "$root/scripts/windows-chroot.sh"

"$root/scripts/arm64-build.sh" >/dev/null

trap windows_unmount EXIT
windows_chroot_ready

lean=/build/out/arm64/vmss-check
echo "== arm64 under qemu-aarch64: every test (unit, and the lean binary against the simulator)" >&2
arm64_cargo VMSS_CHECK_TEST_RUNNER=qemu-aarch64 VMSS_CHECK_TEST_BINARY=$lean VMSS_CHECK_ARM64_BINARY=$lean \
  test --no-fail-fast -- --skip the_demo_ --skip interrupting_the_demo "$@"
echo "== arm64 under PRoot and qemu-aarch64: the demo (sim build)" >&2
report=$(in_chroot mktemp -d)
summary=$(in_chroot proot -q qemu-aarch64 /build/out/arm64/sim/vmss-check demo --poll-interval 0.1 \
  --report-dir "$report" 2>&1) || { echo "$summary" >&2; windows_die "the arm64 demo failed"; }
in_chroot rm -rf "$report"
for line in "exit code: 0" "targets removed: web00000c (Machines-113), web00000d (Machines-114), web00000z (Machines-115)"; do
  grep -qxF "$line" <<<"$summary" || { echo "$summary" >&2; windows_die "the arm64 demo did not end with: $line"; }
done
echo "$summary" | tail -n 8 >&2
