# Sourced by scripts/windows-build.sh, scripts/windows-test.sh, scripts/arm64-build.sh and
# scripts/arm64-test.sh: the Debian trixie chroot that builds vmss-check.exe (Rust for
# x86_64-pc-windows-gnu with MinGW) and runs it under Wine, and builds vmss-check for Linux arm64
# (aarch64-linux-gnu GCC, glibc linked statically) and runs it under qemu-aarch64 (with PRoot),
# the step template's Bash body too, in an arm64 Debian userland kept inside it.
#
# Why a chroot: rustup cannot fetch the Windows target here, but Debian trixie packages a Rust
# new enough for Cargo.lock (rustc-web) with std's source (rust-web-src, for -Zbuild-std), MinGW
# and Wine 10, the arm64 cross GCC and glibc, qemu-user and PRoot. Nothing is installed on or
# upgraded in the machine itself, except debootstrap.
#
# VMSS_WINDOWS_CHROOT   where the chroot lives (default /var/cache/vmss-check/trixie): 8 GB after
#                       scripts/arm64-test.sh alone in a new one, 9.5 GB with the Windows build too.
# shellcheck shell=bash

chroot_dir=${VMSS_WINDOWS_CHROOT:-/var/cache/vmss-check/trixie}
# Packages the chroot needs; changing this list reinstalls them on the next run.
chroot_packages="ca-certificates rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user proot"
# Environment of every command run inside: Wine writes nothing to stderr (Calamari counts
# every stderr line) and asks for no Mono or Gecko download.
chroot_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
  XDG_RUNTIME_DIR=/run/user/0 WINEPREFIX=/root/.wine WINEDEBUG=-all
  WINEDLLOVERRIDES="mscoree,mshtml=")

windows_die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# The Debian mirror the machine's own apt uses (deb822 .sources or one-line sources.list);
# taken at run time so no mirror's host is written into the repository.
windows_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
      /^URIs:/ { u = $2 } /^Suites:/ { if ($2 !~ /security/ && u != "") { print u; exit } }')
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
  [ -n "$uri" ] || windows_die "no Debian mirror found in /etc/apt/sources.list*: set VMSS_WINDOWS_MIRROR"
  echo "${VMSS_WINDOWS_MIRROR:-$uri}"
}

# The start of a build in the chroot: sets out to $CARGO_TARGET_DIR/$1 (made, with sim/, and
# absolute), makes the chroot ready (unmounted again at exit) and copies the source at $root in.
chroot_build_start() {
  out=${CARGO_TARGET_DIR:-$root/target}/$1
  mkdir -p "$out/sim"
  out=$(cd "$out" && pwd)
  trap windows_unmount EXIT
  windows_chroot_ready
  chroot_source "$root"
}

# Copies the source at $1 as it is now (committed or not, never target/ or .git) to /build/src in
# the chroot, mtimes kept so Cargo only rebuilds what changed. Cargo's target directory
# (/build/target) lives outside it and is shared by the Windows and arm64 builds.
chroot_source() {
  rm -rf "$chroot_dir/build/src"
  mkdir -p "$chroot_dir/build/src"
  (
    cd "$1" || exit 1
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null
    else
      tar --exclude=./target --exclude=./.git --exclude=./dist -cf - .
    fi
  ) | tar -C "$chroot_dir/build/src" -xf -
}

# Cargo for Linux arm64 workers in the chroot (scripts/arm64-build.sh, scripts/arm64-test.sh):
# std built from rust-web-src, linked statically with the cross GCC, test binaries run by
# qemu-aarch64.  arm64_cargo [VAR=value...] SUBCOMMAND [ARGS...]
arm64_target=aarch64-unknown-linux-gnu
arm64_cargo() {
  local vars=()
  while [ $# -gt 0 ] && [[ $1 == [A-Z]*=* ]]; do vars+=("$1"); shift; done
  in_chroot env RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=/build/target CARGO_TERM_COLOR=never \
    CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-$(nproc)}" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64 \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    "${vars[@]}" nice cargo "$1" --locked --target "$arm64_target" -Zbuild-std=std,panic_abort \
    --manifest-path /build/src/Cargo.toml "${@:2}" >&2
}

# Runs a command inside the chroot with chroot_env (and nothing of the caller's environment).
in_chroot() { chroot "$chroot_dir" /usr/bin/env -i "${chroot_env[@]}" "$@"; }

# Creates the chroot if missing (or half-made), installs the packages, trusts the machine's CA
# certificates, and prepares Wine's prefix. A second run only checks.
windows_chroot_ready() {
  [ "$(id -u)" = 0 ] || windows_die "needs root (debootstrap and chroot): run it with sudo"
  if [ ! -f "$chroot_dir/.vmss-ready" ] || [ "$(cat "$chroot_dir/.vmss-ready")" != "$chroot_packages" ]; then
    if [ ! -x "$chroot_dir/usr/bin/apt-get" ] || [ ! -f "$chroot_dir/.vmss-bootstrapped" ]; then
      windows_unmount
      fresh_dir "$chroot_dir"
      echo "Creating a Debian trixie chroot in $chroot_dir (a few minutes)" >&2
      debootstrap_installed
      debootstrap --variant=minbase trixie "$chroot_dir" "$(windows_mirror)" >&2
      touch "$chroot_dir/.vmss-bootstrapped"
    fi
    windows_mount
    # The machine may reach the internet through a proxy with its own CA: trust what it trusts.
    mkdir -p "$chroot_dir/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/* "$chroot_dir/usr/local/share/ca-certificates/" 2>/dev/null || true
    cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
    in_chroot apt-get update -q >&2
    # shellcheck disable=SC2086
    in_chroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $chroot_packages >&2
    in_chroot update-ca-certificates >&2
    in_chroot mkdir -p -m 0700 /run/user/0
    in_chroot wineboot --init >/dev/null 2>&1 || true
    in_chroot wineserver --wait 2>/dev/null || true
    echo "$chroot_packages" >"$chroot_dir/.vmss-ready"
  else
    windows_mount
    cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
    in_chroot mkdir -p -m 0700 /run/user/0
  fi
}

# debootstrap on this machine (the only package the scripts install on it), from apt if missing.
debootstrap_installed() {
  command -v debootstrap >/dev/null && return 0
  echo "Installing debootstrap (the only package installed on this machine itself)" >&2
  apt-get install -y -q --no-install-recommends debootstrap >&2 ||
    { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends debootstrap >&2; }
}

# Empties $1 (a half-made tree) for debootstrap, never deleting through a mount (a bound /dev
# or /tmp is the machine's own).
fresh_dir() {
  if awk -v d="$1/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    windows_die "$1 is half-made but something is mounted under it: unmount it (grep $1 /proc/mounts), then run again"
  fi
  rm -rf "$1"
  mkdir -p "$1"
}

# An arm64 Debian userland in the chroot, at $arm64_root (/build/arm64-root): trixie's minbase
# (bash, coreutils) unpacked by debootstrap's first stage (--foreign: nothing in it is run or
# configured), about 200 MB, downloaded once (half a minute) and kept. The template test that
# runs the Bash body as an arm64 worker would runs it there, in that Bash, under PRoot and
# qemu-aarch64 (VMSS_CHECK_ARM64_ROOT; scripts/arm64-test.sh).
arm64_root=/build/arm64-root
arm64_root_ready() {
  local dir=$chroot_dir$arm64_root
  [ -f "$dir/.vmss-ready" ] && return 0
  fresh_dir "$dir"
  echo "Unpacking an arm64 Debian userland in $dir (half a minute)" >&2
  debootstrap_installed
  debootstrap --arch=arm64 --variant=minbase --foreign trixie "$dir" "$(windows_mirror)" >&2
  # In a container debootstrap links proc to the machine's /proc, which PRoot cannot bind over:
  # a plain directory, for -b /proc. The packages are unpacked: their .debs are not needed.
  rm -rf "${dir:?}/proc" "$dir"/var/cache/apt/archives/*.deb
  mkdir "$dir/proc"
  touch "$dir/.vmss-ready"
}

# /proc and /dev for cargo and Wine; mounted once, whoever mounted them first unmounts.
windows_mounted_here=""
windows_mount() {
  if ! mountpoint -q "$chroot_dir/proc"; then
    mount -t proc proc "$chroot_dir/proc"
    windows_mounted_here="$windows_mounted_here proc"
  fi
  if ! mountpoint -q "$chroot_dir/dev"; then
    mount --bind /dev "$chroot_dir/dev"
    windows_mounted_here="$windows_mounted_here dev"
  fi
}

# Stops Wine's server first: it keeps files in the chroot open and would make umount fail.
windows_unmount() {
  [ -n "$windows_mounted_here" ] || return 0
  in_chroot wineserver --kill >/dev/null 2>&1 || true
  local m
  for m in $windows_mounted_here; do
    umount "$chroot_dir/$m" 2>/dev/null || umount -l "$chroot_dir/$m" || true
  done
  windows_mounted_here=""
}
