# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=sh
# Sourced by initrd/init: the device's own partitions. The factory image holds esp, store_1 and
# _empty; the disk it is written to is larger. On every boot the initrd runs abota repart with the
# definitions in /usr/lib/repart.d (data: ext4, encrypted) on the boot disk, with --empty=refuse: the first
# boot creates the data partition in the free space, every later boot finds it and changes nothing
# (repart converges; it never shrinks, moves or reformats an existing partition). Then the data
# partition is mounted at /sysroot/var.
#
# Encryption (Encrypt=tpm2 in the definition): repart makes the data partition a LUKS2 volume whose
# key is sealed to this device's TPM (PCR 7) and exists nowhere else. The initrd unlocks the volume
# with abota unlock through the TPM on every boot; on the first one it adds a recovery key, shows it
# once on the console and stores it nowhere. When the TPM refuses (another machine, a cleared TPM,
# another boot chain), it says so and asks for the recovery key on the console; without one it
# stops with a clear failure. It never formats the data partition again: repart only ever creates
# partitions that are not in the table.
FIRSTBOOT_TPM=/dev/tpmrm0
FIRSTBOOT_KEY_TIMEOUT=120
firstboot_created= # the labels of the partitions this boot's repart created

# firstboot_disk PARTITION_DEVICE: the disk holding the partition (/dev/vda2 -> /dev/vda).
firstboot_disk() {
        p=$(basename "$1")
        [ -e "/sys/class/block/$p/partition" ] || return 1
        echo "/dev/$(basename "$(readlink -f "/sys/class/block/$p/..")")"
}

# firstboot_repart DISK: creates what is missing; says on the console what it did.
firstboot_repart() {
        disk=$1
        tpm=
        [ -c "$FIRSTBOOT_TPM" ] && tpm=--tpm2-device=$FIRSTBOOT_TPM
        # shellcheck disable=SC2086 # $tpm is one word or none
        if ! out=$(TMPDIR=/tmp abota repart --dry-run=no --empty=refuse --definitions=/usr/lib/repart.d \
                        $tpm --json=short "$disk" 2>/tmp/repart.err); then
                cat /tmp/repart.err >/dev/console
                return 1
        fi
        # one activity per partition abota repart knows about: create, resize or unchanged
        created=$(echo "$out" | grep -o '"label":"[^"]*"[^}]*"activity":"create"' | sed 's/"label":"\([^"]*\)".*/\1/' | tr '\n' ' ')
        firstboot_created=$created
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
        volume=
        if [ "$(dd if="$dev" bs=4 count=1 2>/dev/null)" = LUKS ]; then
                mkdir -p /run/cryptsetup # libcryptsetup's lock directory
                export DM_DISABLE_UDEV=1 # no udev in the initrd: libdevmapper makes /dev/mapper/data itself
                firstboot_unlock "$dev" || return 1
                volume=$dev
                dev=/dev/mapper/data
        fi
        mount -t ext4 -o noatime "$dev" "$1/var" || { echo "firstboot: cannot mount $dev at /var" >/dev/console; return 1; }
        [ -z "$volume" ] || firstboot_recovery_key "$volume" "$1/var/lib/abota/recovery-key-added"
}

# firstboot_recovery_key VOLUME MARKER: a volume without MARKER (on the volume's file system) gets a
# recovery key, shown once on the console, checked to open the volume, then MARKER is written: a
# power cut before that (the first boot, or the key slot half written) adds a new key on the next
# boot, and that boot says so (it did not encrypt the volume). The key itself is stored nowhere.
firstboot_recovery_key() {
        [ -e "$2" ] && return 0
        if ! out=$(abota enroll --recovery-key --unlock-tpm2-device="$FIRSTBOOT_TPM" "$1" 2>/tmp/enroll.err); then
                echo "firstboot: cannot add a recovery key to $1: $(cat /tmp/enroll.err)" >/dev/console
                return 0
        fi
        key=$(echo "$out" | grep -E '^ +[a-z]{8}(-[a-z]{8}){7}$' | tr -d ' ')
        case " $firstboot_created " in
        *" data "*) echo "firstboot: encrypted the data partition $1 with a key sealed to this device's TPM (PCR 7)" >/dev/console ;;
        *) echo "firstboot: added a recovery key to the data partition $1, encrypted by an earlier boot (cut before its recovery key was kept)" >/dev/console ;;
        esac
        echo "firstboot: RECOVERY KEY (shown once, stored nowhere; write it down):" >/dev/console
        echo "    $key" >/dev/console
        if echo "$key" | abota unlock --test --recovery-key "$1" >/dev/null 2>/tmp/enroll.err; then
                sync
                mkdir -p "$(dirname "$2")" && echo "a recovery key was added at the first boot" >"$2" && sync
        else
                echo "firstboot: the recovery key does not open $1: $(cat /tmp/enroll.err)" >/dev/console
        fi
        key=
}

# firstboot_unlock VOLUME: /dev/mapper/data through the TPM, else with the recovery key typed on the
# console.
firstboot_unlock() {
        if abota unlock --tpm2-device="$FIRSTBOOT_TPM" "$1" data >/tmp/unlock.out 2>/tmp/unlock.err; then
                echo "firstboot: $(cat /tmp/unlock.out)" >/dev/console
                return 0
        fi
        echo "firstboot: the TPM did not unlock the data partition $1:" >/dev/console
        sed 's/^/firstboot:   /' /tmp/unlock.err >/dev/console
        for try in 1 2 3; do
                echo "firstboot: type the recovery key of the data partition ($FIRSTBOOT_KEY_TIMEOUT s):" >/dev/console
                if ! read -r -t "$FIRSTBOOT_KEY_TIMEOUT" key </dev/console; then
                        echo "firstboot: no recovery key typed: the data partition stays locked" >/dev/console
                        return 1
                fi
                if echo "$key" | abota unlock --recovery-key "$1" data >/tmp/unlock.out 2>/tmp/unlock.err; then
                        echo "firstboot: $(cat /tmp/unlock.out)" >/dev/console
                        return 0
                fi
                sed 's/^/firstboot:   /' /tmp/unlock.err >/dev/console
        done
        echo "firstboot: no valid recovery key: the data partition stays locked" >/dev/console
        return 1
}
