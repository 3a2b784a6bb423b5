#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Generates the demo appliance's Secure Boot test keys, once per directory: an RSA-2048 key and a
# self-signed X.509 certificate for each of PK (platform key), KEK (key exchange key) and db (the
# signature database: the key that signs systemd-boot and the UKIs), plus the authenticated UEFI
# variables that systemd-boot enrolls from /loader/keys/auto/ on the ESP (loader.conf
# secure-boot-enroll force): PK.auth and KEK.auth signed by PK, db.auth signed by KEK.
# A fourth key, "foreign", is not enrolled anywhere: the E2E tests sign a tampered UKI with it.
#
# Usage: examples/appliance/secureboot-keys.sh DIR
# DIR (e.g. examples/appliance/out/keys, gitignored) keeps existing keys; delete it to make new
# ones. Test keys only: the private keys lie unencrypted on disk.
set -euo pipefail

dir=${1:?usage: secureboot-keys.sh DIR}
mkdir -p "$dir"
cd "$dir"
if [ -f db.auth ] && [ -f foreign.key ]; then
        exit 0
fi

# The owner GUID of the signature lists (any GUID; one per key set).
owner=$(cat /proc/sys/kernel/random/uuid)
for k in PK KEK db foreign; do
        openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=abota appliance test $k/" \
                -keyout "$k.key" -out "$k.crt" 2>/dev/null
        chmod 0600 "$k.key"
done
for k in PK KEK db; do
        cert-to-efi-sig-list -g "$owner" "$k.crt" "$k.esl"
done
# Setup mode accepts any PK; the firmware then checks KEK.auth against PK and db.auth against KEK.
sign-efi-sig-list -c PK.crt -k PK.key PK PK.esl PK.auth >/dev/null
sign-efi-sig-list -c PK.crt -k PK.key KEK KEK.esl KEK.auth >/dev/null
sign-efi-sig-list -c KEK.crt -k KEK.key db db.esl db.auth >/dev/null
echo "$owner" >owner.guid
echo "secureboot-keys: new PK, KEK, db (+ foreign) in $(pwd)" >&2
