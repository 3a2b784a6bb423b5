# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=sh
# Sourced by initrd/init: the device's own partitions. The factory image holds esp, store_1 and
# _empty; the disk it is written to is larger. On every boot the initrd runs abota repart with the
# definitions in /usr/lib/repart.d (data: ext4) on the boot disk, with --empty=refuse: the first
# boot creates the data partition in the free space, every later boot finds it and changes nothing
# (repart converges; it never shrinks, moves or reformats an existing partition). Then the data
# partition is mounted at /sysroot/var.

# firstboot_disk PARTITION_DEVICE: the disk holding the partition (/dev/vda2 -> /dev/vda).
firstboot_disk() {
        p=$(basename "$1")
        [ -e "/sys/class/block/$p/partition" ] || return 1
        echo "/dev/$(basename "$(readlink -f "/sys/class/block/$p/..")")"
}

# firstboot_repart DISK: creates what is missing; says on the console what it did.
firstboot_repart() {
        disk=$1
        if ! out=$(TMPDIR=/tmp abota repart --dry-run=no --empty=refuse --definitions=/usr/lib/repart.d \
                        --json=short "$disk" 2>/tmp/repart.err); then
                cat /tmp/repart.err >/dev/console
                return 1
        fi
        # one activity per partition abota repart knows about: create, resize or unchanged
        created=$(echo "$out" | grep -o '"label":"[^"]*"[^}]*"activity":"create"' | sed 's/"label":"\([^"]*\)".*/\1/' | tr '\n' ' ')
        if [ -n "$created" ]; then
                echo "firstboot: created partition(s) ${created% } on $disk" >/dev/console
        else
                echo "firstboot: partitions on $disk complete, nothing to do" >/dev/console
        fi
}

# firstboot_mount_data ROOT: the data partition at ROOT/var.
firstboot_mount_data() {
        dev=
        for i in $(seq 1 50); do
                dev=$(find_partition PARTLABEL=data) && break
                sleep 0.1
        done
        [ -n "$dev" ] || { echo "firstboot: no data partition" >/dev/console; return 1; }
        mount -t ext4 -o noatime "$dev" "$1/var" || { echo "firstboot: cannot mount $dev at /var" >/dev/console; return 1; }
}
