#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs every test: unit (cmocka) and integration (pytest, the real binary on real disk images and a
# real HTTP server), then both again under ASan+UBSan, a short libFuzzer run, then the QEMU
# end-to-end scenarios.
# Usage: ./test.sh [--quick]   (--quick skips the sanitizer pass, fuzzing, the packaging test
# (40-85 s here: a whole package build) and the e2e scenarios)
set -euo pipefail
cd "$(dirname "$0")"
. tools/lib.sh

quick=0
[ "${1:-}" = "--quick" ] && quick=1

need_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"

run_suite() {
        local dir=$1
        echo "== unit tests ($dir)"
        meson test -C "$dir" --print-errorlogs --num-processes 2
        echo "== integration tests ($dir)"
        # Three workers on two cores: most tests wait (on servers, kills, timeouts); a file's tests
        # stay on one worker (module fixtures, the crash matrix's total).
        ABOTA="$PWD/$dir/abota" /usr/bin/python3 -m pytest -q -p no:cacheprovider -n 3 --dist loadfile tests/integration
}

suite_start=$SECONDS
echo "== build"
build build
run_suite build

# The release configuration (-O3) sees warnings the debug build does not (gcc's
# -Wformat-overflow, -Wstringop-*): build it warning-free and run the unit tests there too.
echo "== build (release)"
build build-release --buildtype=release
meson test -C build-release --print-errorlogs --num-processes 2 --suite unit

if [ $quick -eq 0 ]; then
        # systemd-sysupdate 257 side by side (a trixie chroot, built once per machine).
        echo "== compat (systemd-sysupdate 257 and abota side by side)"
        tests/compat/run
        tests/compat/test72.sh
        need_packages "${PACKAGING_PACKAGES[@]}"
        echo "== packaging (.deb)"
        tests/packaging/run
        # The sanitizer build uses clang, so the suite also proves the code builds warning-free
        # with both compilers (gcc above).
        echo "== build with clang, ASan+UBSan"
        CC=clang build build-clang-asan -Db_sanitize=address,undefined -Db_lundef=false
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
        run_suite build-clang-asan
        unset ASAN_OPTIONS UBSAN_OPTIONS
        # Briefly: the checked-in corpora plus 10 s of new inputs per target.
        echo "== fuzz (libFuzzer, 10 s per target)"
        tests/fuzz/run 10
        if [ -x tests/e2e/run ]; then
                need_packages "${E2E_PACKAGES[@]}"
                echo "== end-to-end (QEMU)"
                # Two VMs at a time (TCG runs a VM on one core): the scenarios on disks of their
                # own run in a second process alongside the chain on the main disk.
                tests/e2e/run --jobs 2
        fi
fi
[ $quick -eq 0 ] || echo "== skipped with --quick: sanitizer build, packaging (tests/packaging/run), end-to-end"
echo "== all tests passed in $(( (SECONDS - suite_start) / 60 )) min $(( (SECONDS - suite_start) % 60 )) s"
