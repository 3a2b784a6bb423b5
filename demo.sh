#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The demo. Until the appliance lands (see README "Status"), it builds abota and shows what the
# definition layer makes of the example appliance's update definitions.
set -euo pipefail
cd "$(dirname "$0")"
. tools/lib.sh
need_packages "${BUILD_PACKAGES[@]}"
build build
echo "\$ abota --definitions=examples/appliance/sysupdate.d definitions"
./build/abota --definitions=examples/appliance/sysupdate.d definitions
