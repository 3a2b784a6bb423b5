#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The demo: installs the Debian packages it needs, builds abota (build/), builds the appliance
# (examples/appliance/build.sh), publishes version 2 with `abota publish` on a local lighttpd, and
# boots the factory image (version 1) in QEMU: partition table, `abota list`, `abota update` and the
# partition table after it, all run in the guest; then the reboot into version 2 with a screenshot
# of the systemd-boot menu saved as docs/boot-menu.png (examples/appliance/demo.py).
# Environment: ABOTA (default build/abota), OUT (default examples/appliance/out).
set -euo pipefail
cd "$(dirname "$0")"
export DEMO_T0=${DEMO_T0:-$(date +%s.%N)}
. tools/lib.sh
echo "== Installing missing Debian packages, building abota =="
need_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${E2E_PACKAGES[@]}" ||
        { echo "demo: installing the Debian packages failed" >&2; exit 1; }
if [ -z "${ABOTA:-}" ]; then
        build build || { echo "demo: building abota failed (meson compile -C build)" >&2; exit 1; }
        export ABOTA=$PWD/build/abota
fi
[ -x "$ABOTA" ] || { echo "demo: ABOTA=$ABOTA is not an executable" >&2; exit 1; }
echo "abota: $ABOTA ($("$ABOTA" --version))"
exec /usr/bin/python3 examples/appliance/demo.py
