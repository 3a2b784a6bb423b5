#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs systemd's own sysupdate test (test/units/TEST-72-SYSUPDATE.sh of the Debian trixie source
# package, fetched into the trixie chroot by tools/trixie-chroot.sh, never into this repository)
# inside the chroot, against the real systemd-sysupdate 257 and against abota, once per sector
# size, and counts the steps each passes.
#
# Usage: tests/compat/test72.sh [--abota PATH] [--tool systemd|abota]... [--sector-size N]...
# Exit status 1 when abota passes fewer steps than systemd-sysupdate at some sector size (with
# both tools run).
#
# A step is one top-level command of the test's per-sector-size body, from "Install initial
# version" up to "Cleanup" (new_version, update_now, verify_version, test, a grep of list's
# output...). A step passes when no command in it failed; the test goes on after a failed step
# (its set -e is dropped), so later steps still run, on whatever state the failure left. The script is changed at run time only where the chroot has no service manager:
# systemctl is a no-op and the updatectl branch (which needs systemd-sysupdated running) takes
# the test's own fallback, a plain update.
set -euo pipefail
cd "$(dirname "$0")/../.."

abota=$PWD/build/abota
tools=()
sizes=()
while [ $# -gt 0 ]; do
        case "$1" in
        --abota) abota=$(realpath "$2"); shift 2 ;;
        --tool) tools+=("$2"); shift 2 ;;
        --sector-size) sizes+=("$2"); shift 2 ;;
        *) echo "usage: $0 [--abota PATH] [--tool systemd|abota]... [--sector-size N]..." >&2; exit 2 ;;
        esac
done
[ ${#tools[@]} -gt 0 ] || tools=(systemd abota)
[ ${#sizes[@]} -gt 0 ] || sizes=(512 4096)

tools/trixie-chroot.sh build
root=$(tools/trixie-chroot.sh path)
[ -f "$root/usr/src/systemd/TEST-72-SYSUPDATE.sh" ] || { echo "test72: no TEST-72-SYSUPDATE.sh in $root/usr/src/systemd" >&2; exit 1; }

logdir=$(mktemp -d /tmp/abota-test72.XXXXXX)
mkdir -p "$root/usr/local/lib/abota-compat/bin"
# The chroot has no service manager.
printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/lib/abota-compat/bin/systemctl"
# abota runs with this host's libraries
printf '#!/bin/sh\nexec %s %q "$@"\n' "$(tools/trixie-chroot.sh host-prefix)" "$abota" \
        >"$root/usr/local/lib/abota-compat/systemd-sysupdate"
chmod +x "$root/usr/local/lib/abota-compat/bin/systemctl" "$root/usr/local/lib/abota-compat/systemd-sysupdate"

# Instrument a copy: count steps, pick the tool and the sector size.
src="$root/usr/src/systemd/TEST-72-SYSUPDATE.sh"
first=$(grep -n '# Install initial version and verify' "$src" | cut -d: -f1)
last=$(grep -n '# Cleanup' "$src" | cut -d: -f1)
[ -n "$first" ] && [ -n "$last" ] || { echo "test72: $src does not have the expected layout" >&2; exit 1; }
# Each line keeps its number: the traps are sourced on the "set -o pipefail" line. Without -e
# (and with -E, so that the ERR trap also sees failures inside the test's functions) a failing
# step is recorded and the test goes on with the next one.
cat >"$root/usr/local/lib/abota-compat/steps.sh" <<EOF
__prev=
__bad=0
__step() {
        if [[ -n \$__prev && \$1 != "\$__prev" ]]; then
                if ((__bad)); then echo "step \$__prev failed" >&3; else echo "step \$__prev passed" >&3; fi
        fi
        if [[ \$1 -ge $first && \$1 -lt $last ]]; then
                [[ \$1 == "\$__prev" ]] || __bad=0
                __prev=\$1
        else
                __prev=
        fi
}
trap '__bad=1' ERR
trap '__step \$LINENO' DEBUG
EOF
sed -e 's|^SYSUPDATE=.*|SYSUPDATE=$TEST72_SYSUPDATE|' \
    -e 's|^SYSUPDATED=.*|SYSUPDATED=/nonexistent|' \
    -e 's|^SECTOR_SIZES=.*|SECTOR_SIZES=($TEST72_SECTOR_SIZE)|' \
    -e 's|^set -eux$|set -Eux|' \
    -e 's|^set -o pipefail$|set -o pipefail; . /usr/local/lib/abota-compat/steps.sh|' \
    "$src" >"$root/usr/local/lib/abota-compat/TEST-72-SYSUPDATE.sh"

declare -A passed
total=0
for size in "${sizes[@]}"; do
        for tool in "${tools[@]}"; do
                case "$tool" in
                systemd) bin=/usr/lib/systemd/systemd-sysupdate ;;
                abota) bin=/usr/local/lib/abota-compat/systemd-sysupdate ;;
                *) echo "test72: unknown tool $tool" >&2; exit 2 ;;
                esac
                log=$logdir/$tool-$size.log
                steps=$logdir/$tool-$size.steps
                rc=0
                tools/trixie-chroot.sh run --bind "$abota" --bind "$(tools/trixie-chroot.sh host-bind)" -- \
                        env TEST72_SYSUPDATE="$bin" TEST72_SECTOR_SIZE="$size" \
                        PATH=/usr/local/lib/abota-compat/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                        bash -c 'f=/tmp/test72.steps.$$; bash /usr/local/lib/abota-compat/TEST-72-SYSUPDATE.sh 3>$f; rc=$?; cat $f >&2; rm -f $f; exit $rc' \
                        >"$log" 2>&1 || rc=$?
                # a line run several times (a loop) passes only if it passed every time
                grep '^step [0-9]* failed$' "$log" | cut -d' ' -f2 | sort -u >"$steps.failed" || true
                grep '^step [0-9]* passed$' "$log" | cut -d' ' -f2 | sort -u | { grep -vxFf "$steps.failed" || true; } >"$steps"
                passed[$tool-$size]=$(wc -l <"$steps")
                if [ "$tool" = systemd ] && [ "${passed[$tool-$size]}" -gt "$total" ]; then
                        total=${passed[$tool-$size]}
                fi
                echo "TEST-72 $tool sector size $size: ${passed[$tool-$size]} steps passed"
                # the failed steps, with the test's line
                while read -r line; do
                        echo "    failed step, line $line: $(sed -n "${line}p" "$src" | sed 's/^ *//')"
                done <"$steps.failed"
        done
done
# The step count of a full pass: the lines of the body (a run of systemd-sysupdate passes all).
status=0
if [ "$total" -gt 0 ]; then
        echo "TEST-72: a full pass is $total steps per sector size"
        for size in "${sizes[@]}"; do
                if [ -n "${passed[abota-$size]:-}" ] && [ "${passed[abota-$size]}" -lt "$total" ]; then
                        echo "TEST-72: abota passes ${passed[abota-$size]} of $total steps at sector size $size"
                        status=1
                fi
        done
fi
rm -rf "$logdir"
exit $status
