#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The demo: installs the Debian packages it needs, builds abota (build/), builds the appliance
# (examples/appliance/build.sh), publishes version 2 with `abota publish` on a local lighttpd, and
# boots the factory image (version 1) in QEMU: partition table, `abota list`, `abota update` (killed
# with kill -9 at the UKI's first resume checkpoint, then run again: it resumes) and the partition
# table after it, all run in the guest; then the reboot into version 2 with a screenshot
# of the systemd-boot menu saved as docs/boot-menu.png (examples/appliance/demo.py). The appliance
# gets abota from the Debian package (dpkg-buildpackage -b -us -uc, tools/lib.sh build_deb).
# Environment: ABOTA (default build/abota), OUT (default examples/appliance/out), ABOTA_DEB (a
# package built before; default: build it into OUT/deb).
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
# The appliance installs abota from its Debian package, as a distribution would.
if [ -z "${ABOTA_DEB:-}" ]; then
        echo "== Building the Debian package (dpkg-buildpackage -b -us -uc) =="
        need_packages "${PACKAGING_PACKAGES[@]}" || { echo "demo: installing the Debian packages failed" >&2; exit 1; }
        mkdir -p "${OUT:-examples/appliance/out}/deb"
        ABOTA_DEB=$(build_deb "$(realpath "${OUT:-examples/appliance/out}/deb")") ||
                { echo "demo: building the Debian package failed" >&2; exit 1; }
        export ABOTA_DEB
fi
echo "abota for the appliance: $ABOTA_DEB"
exec /usr/bin/python3 examples/appliance/demo.py
