#!/usr/bin/env bash
# Runs the integration tests that drive the built binary against vmss-check.exe under Wine 10,
# in the chroot of scripts/windows-build.sh (which this runs first; it is cached), and the
# Windows `demo`. The tests themselves run on this machine, against the simulator on loopback;
# only the binary they drive is the Windows one:
#
#   VMSS_CHECK_TEST_BINARY   the binary, as the runner sees it (here the .exe in the chroot)
#   VMSS_CHECK_TEST_RUNNER   a program that runs it with the test's environment (here Wine)
#
#   sudo scripts/windows-test.sh [TEST FILTER...]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/windows-chroot.sh
. "$root/scripts/windows-chroot.sh"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
out=${CARGO_TARGET_DIR:-$root/target}/windows

"$root/scripts/windows-build.sh" >/dev/null

trap 'windows_unmount' EXIT
windows_chroot_ready
# The files the tests write under /tmp (token files) are the files the .exe reads: the same
# /tmp inside the chroot, where Wine's Z: drive finds them.
if ! mountpoint -q "$chroot_dir/tmp"; then
  mount --bind /tmp "$chroot_dir/tmp"
  windows_mounted_here="tmp $windows_mounted_here"
fi

# One Wine server for the whole run (windows_unmount stops it): each .exe then starts in well
# under a second instead of starting a server of its own.
in_chroot wineserver --persistent
in_chroot wine cmd /c exit >/dev/null 2>&1 || true

# The runner: Wine in the chroot, the test's environment passed on, Wine's own settings added,
# in the test's own working directory (chroot starts at /; each run has its scratch directory
# under /tmp, which the chroot shares, and writes its decision record there).
runner=$out/wine-in-chroot
{
  echo '#!/bin/sh'
  echo '# Written by scripts/windows-test.sh: runs a Windows binary under Wine in the chroot.'
  printf 'exec /usr/sbin/chroot %q /usr/bin/env' "$chroot_dir"
  printf ' %q' "${chroot_env[@]}"
  # shellcheck disable=SC2016 # expanded by the runner, not here
  echo ' /bin/sh -c '"'"'cd "$0" 2>/dev/null || cd /; exec wine "$@"'"'"' "$PWD" "$@"'
} >"$runner"
chmod +x "$runner"

# The demo and its interruption need the `sim` build; everything else runs the lean .exe, the
# one the package carries.
tests=(--test step --test context --test membership --test resilience --test windows)
cd "$root"
echo "== vmss-check.exe under Wine: the step's scenarios" >&2
VMSS_CHECK_TEST_BINARY=/build/out/vmss-check.exe VMSS_CHECK_TEST_RUNNER=$runner \
  cargo test --locked --no-fail-fast "${tests[@]}" -- --skip demo "$@"
echo "== vmss-check.exe (sim) under Wine: demo" >&2
# Once in three runs here (2026-12), Wine's demo ended Ctrl-C with exit code 58, not 130: the
# cause is not found. That failure, and only it, is tried once more, saying so.
log=$(mktemp)
for try in 1 2; do
  status=0
  VMSS_CHECK_TEST_BINARY=/build/out/sim/vmss-check.exe VMSS_CHECK_TEST_RUNNER=$runner \
    cargo test --locked --test context demo -- "$@" >"$log" 2>&1 || status=$?
  cat "$log" >&2
  [ "$status" = 0 ] && break
  if [ "$try" = 2 ] || ! grep -q 'exits as interrupted' "$log"; then
    rm -f "$log"
    exit "$status"
  fi
  echo "== Wine's demo did not exit as interrupted after Ctrl-C (above): try 2 of 2" >&2
done
rm -f "$log"
