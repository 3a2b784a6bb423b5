#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A Debian trixie chroot with the real systemd-sysupdate 257 (package systemd-container), built once
# and cached on the machine, for the side-by-side compatibility suite (tests/compat).
#
# Usage:
#   tools/trixie-chroot.sh build            build the chroot unless it is there already
#   tools/trixie-chroot.sh path             print the chroot directory
#   tools/trixie-chroot.sh run [--bind PATH[:INSIDE]]... [--] CMD [ARG...]
#                                           run CMD inside the chroot with /dev, /proc and /sys
#                                           bind-mounted (and every directory or file PATH at the
#                                           same path inside, or at INSIDE)
#   tools/trixie-chroot.sh host-bind        the --bind argument and
#   tools/trixie-chroot.sh host-prefix      the command prefix that run a binary of this host
#                                           inside the chroot with the host's own libraries
#
# The mounts are made in a private mount namespace (unshare -m), so they disappear with the command
# even when it is killed; nothing is left mounted on the host.
# Environment: ABOTA_TRIXIE_CHROOT overrides the directory (default /var/cache/abota/trixie-sysupdate).
set -euo pipefail

ROOT=${ABOTA_TRIXIE_CHROOT:-/var/cache/abota/trixie-sysupdate}
STAMP=.abota-trixie-ready
# What the suite runs inside: systemd-sysupdate (systemd-container), sfdisk/losetup (fdisk,
# util-linux), and what the systemd source package and the test scripts use. abota itself runs
# with the host's libraries (host-bind, host-prefix below).
# systemd-container is installed with apt afterwards: debootstrap cannot resolve its dependency on
# the virtual package dbus-system-bus.
PACKAGES=fdisk,util-linux,mount,e2fsprogs,xz-utils,zstd,gzip,tar,python3,dpkg-dev,ca-certificates
APT_PACKAGES=(systemd-container)

# The Debian archive apt already uses: the first URI of a "main" source for the host's own release.
mirror() {
        local codename uri
        codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
        uri=$( { cat /etc/apt/sources.list 2>/dev/null || true; } | sed 's/\[[^]]*\]//' |
                awk -v c="$codename" '$1=="deb" && $3==c { print $2; exit }')
        if [ -z "$uri" ]; then
                uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v c="$codename" '
                        /^[[:space:]]*$/ { if (u != "" && s) { print u; exit } u = ""; s = 0; next }
                        /^URIs:/ { u = $2 }
                        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == c) s = 1 }
                        END { if (u != "" && s) print u }' | head -n1)
        fi
        if [ -z "$uri" ]; then
                uri=$(cat /etc/apt/sources.list.d/*.list 2>/dev/null | sed 's/\[[^]]*\]//' |
                        awk -v c="$codename" '$1=="deb" && $3==c { print $2; exit }')
        fi
        echo "${uri:-http://deb.debian.org/debian}"
}

# Removes what an interrupted build left, first unmounting what debootstrap mounted inside it.
cleanup_partial() {
        local m
        for m in $(awk -v p="$ROOT" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
                umount -l "$m" || true
        done
        rm -rf --one-file-system "$ROOT.tmp."* "$ROOT"
}

build() {
        if [ -e "$ROOT/$STAMP" ]; then
                return 0
        fi
        command -v debootstrap >/dev/null || { echo "trixie-chroot: debootstrap is not installed" >&2; exit 1; }
        local m start tmp
        m=$(mirror)
        start=$(date +%s)
        mkdir -p "$(dirname "$ROOT")"
        tmp="$ROOT.tmp.$$"
        cleanup_partial
        echo "trixie-chroot: building $ROOT from $m (once per machine)" >&2
        if ! debootstrap --variant=minbase --include="$PACKAGES" trixie "$tmp" "$m" >"$tmp.log" 2>&1; then
                echo "trixie-chroot: debootstrap failed, log in $tmp.log" >&2
                tail -n 20 "$tmp.log" >&2
                exit 1
        fi
        # Source line for the same mirror, so "apt-get source systemd" works inside.
        printf 'deb %s trixie main\ndeb-src %s trixie main\n' "$m" "$m" >"$tmp/etc/apt/sources.list"
        if ! enter "$tmp" 0 sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                        apt-get install -y -qq --no-install-recommends ${APT_PACKAGES[*]} && apt-get clean" \
                        >>"$tmp.log" 2>&1; then
                echo "trixie-chroot: installing ${APT_PACKAGES[*]} failed, log in $tmp.log" >&2
                tail -n 20 "$tmp.log" >&2
                exit 1
        fi
        enter "$tmp" 0 /usr/lib/systemd/systemd-sysupdate --version >/dev/null
        # systemd's own sysupdate test, for reference runs (tests/compat/test72.sh); it stays here,
        # outside the repository. Debian's patches do not touch it.
        if ! enter "$tmp" 0 sh -c 'mkdir -p /usr/src/systemd && cd /usr/src/systemd &&
                        apt-get source --download-only -qq systemd 2>/dev/null &&
                        tar -xzf systemd_*.orig.tar.* --wildcards --strip-components=3 "*/test/units/TEST-72-SYSUPDATE.sh" &&
                        rm -f systemd_*' >>"$tmp.log" 2>&1; then
                echo "trixie-chroot: fetching the systemd source package failed, log in $tmp.log" >&2
                exit 1
        fi
        touch "$tmp/$STAMP"
        rm -f "$tmp.log"
        mv "$tmp" "$ROOT"
        echo "trixie-chroot: built in $(( $(date +%s) - start ))s" >&2
}

run() {
        local binds=()
        while [ $# -gt 0 ]; do
                case "$1" in
                --bind) binds+=("$2"); shift 2 ;;
                --) shift; break ;;
                *) break ;;
                esac
        done
        [ -e "$ROOT/$STAMP" ] || { echo "trixie-chroot: $ROOT is not built; run '$0 build'" >&2; exit 1; }
        enter "$ROOT" "${#binds[@]}" "${binds[@]}" "$@"
}

# enter DIR N BIND1..BINDN CMD...: chroot into DIR with /dev, /proc, /sys and the N binds mounted.
# The inner script runs in its own mount namespace; its mounts go away with it.
enter() {
        unshare --mount --propagation private -- bash -euc '
                root=$1; shift
                n=$1; shift
                for d in dev proc sys; do mount --rbind "/$d" "$root/$d"; done
                for ((i = 0; i < n; i++)); do
                        src=${1%%:*}
                        dst=${1#*:}
                        if [ -d "$src" ]; then
                                mkdir -p "$root$dst"
                        else
                                mkdir -p "$(dirname "$root$dst")"
                                [ -e "$root$dst" ] || touch "$root$dst"
                        fi
                        mount --bind "$src" "$root$dst"
                        shift
                done
                exec chroot "$root" /usr/bin/env PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
        ' bash "$@"
}

# A binary built on this host needs the host's libraries (abota links against libraries trixie
# names differently): its dynamic loader and library directory are bind-mounted at
# /run/abota-host-lib, and the loader runs it with --library-path; what it spawns (tar, cp, sfdisk)
# stays the chroot's own.
HOST_LIB=/run/abota-host-lib
host_lib_dir() {
        dirname "$(readlink -f /lib64/ld-linux-x86-64.so.2)"
}

case "${1:-}" in
host-bind) echo "$(host_lib_dir):$HOST_LIB" ;;
host-prefix) echo "$HOST_LIB/$(basename "$(readlink -f /lib64/ld-linux-x86-64.so.2)") --library-path $HOST_LIB" ;;
build) build ;;
path) echo "$ROOT" ;;
run) shift; run "$@" ;;
*) sed -n '3,18p' "$0" >&2; exit 2 ;;
esac
