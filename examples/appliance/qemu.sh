#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Boots the appliance disk image in QEMU (TCG) + OVMF with the serial console on this terminal
# (Ctrl-A X quits). The disk is used in place, so updates and boot counting persist across runs;
# the UEFI variables live in DISK.vars, the machine's TPM (swtpm, which seals the data partition's
# key at first boot) in DISK.tpm/. Firmware: OVMF's Secure Boot build (SMM); DISK.vars starts
# empty (setup mode), so systemd-boot enrolls the appliance's keys on the first boot and resets.
# Usage: examples/appliance/qemu.sh [DISK]       (default examples/appliance/out/disk.raw)
# Environment: UPDATE_PORT=N makes http://127.0.0.1:N/ on the host reachable by the guest as
#   http://10.0.2.100/, the update server of its sysupdate.d (e.g. abota publish into a directory
#   served by any web server on that port).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
disk=${1:-$here/out/disk.raw}
[ -f "$disk" ] || { echo "qemu.sh: $disk missing: run examples/appliance/build.sh" >&2; exit 1; }
[ -f "$disk.vars" ] || cp /usr/share/OVMF/OVMF_VARS_4M.fd "$disk.vars"

# The TPM: swtpm in socket mode on the state in DISK.tpm/, ending when QEMU disconnects.
mkdir -p "$disk.tpm"
rm -f "$disk.tpm/sock"
swtpm socket --tpm2 --tpmstate dir="$disk.tpm" --ctrl type=unixio,path="$disk.tpm/sock" --terminate &
for _ in $(seq 50); do [ -S "$disk.tpm/sock" ] && break; sleep 0.1; done

net=user,id=net0,restrict=on
[ -n "${UPDATE_PORT:-}" ] && net+=",guestfwd=tcp:10.0.2.100:80-cmd:socat - TCP:127.0.0.1:$UPDATE_PORT"

exec qemu-system-x86_64 -machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on \
        -accel tcg -m 512 -smp 1 \
        -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd \
        -drive if=pflash,format=raw,unit=1,file="$disk.vars" \
        -drive if=none,id=disk0,format=raw,file="$disk" -device virtio-blk-pci,drive=disk0 \
        -netdev "$net" -device virtio-net-pci,netdev=net0 \
        -chardev socket,id=chrtpm,path="$disk.tpm/sock" -tpmdev emulator,id=tpm0,chardev=chrtpm \
        -device tpm-tis,tpmdev=tpm0 \
        -display none -serial mon:stdio
