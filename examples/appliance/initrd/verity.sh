# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by initrd/init when the command line carries roothash=HEX (systemd's spelling): the store
# is a dm-verity pair. The data partition's PARTUUID is the first half of the root hash, the hash
# partition's the second half (how systemd-repart names a pair and systemd's generator finds it),
# so the UKI pins its slot pair by content, not by label. On a trial boot every block is read once
# before the mount: a changed byte anywhere in the slot fails the boot here, and boot counting
# falls back.

# The GPT entry of a partition (a /sys/class/block name): its unique GUID as on the disk
# (mixed-endian), 32 hex digits.
verity_partuuid_raw() {
        local part=$1 disk n lba size
        disk=$(basename "$(readlink -f "/sys/class/block/$part/..")")
        n=$(cat "/sys/class/block/$part/partition")
        lba=$(od -An -tu8 -j $((512 + 72)) -N 8 "/dev/$disk" | tr -d ' ')
        size=$(od -An -tu4 -j $((512 + 84)) -N 4 "/dev/$disk" | tr -d ' ')
        od -An -tx1 -v -j $((lba * 512 + (n - 1) * size + 16)) -N 16 "/dev/$disk" | tr -d ' \n'
}

# A UUID's 32 hex digits (string order) -> the GPT's on-disk byte order.
verity_uuid_to_raw() {
        local h=$1
        echo "${h:6:2}${h:4:2}${h:2:2}${h:0:2}${h:10:2}${h:8:2}${h:14:2}${h:12:2}${h:16:16}"
}

# /dev node of the partition whose PARTUUID is the given 32 hex digits, or nothing.
verity_find_partuuid() {
        local want u part
        want=$(verity_uuid_to_raw "$(echo "$1" | tr 'A-F' 'a-f')")
        for u in /sys/class/block/*/partition; do
                part=$(basename "$(dirname "$u")")
                [ "$(verity_partuuid_raw "$part")" = "$want" ] && echo "/dev/$part" && return 0
        done
        return 1
}

# True when systemd-boot counts this boot (LoaderBootCountPath is set: the entry has +LEFT[-DONE]).
verity_trial_boot() {
        local vars=/sys/firmware/efi/efivars r=1
        mount -t efivarfs efivarfs "$vars" 2>/dev/null || return 1
        ls "$vars"/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f >/dev/null 2>&1 && r=0
        umount "$vars"
        return $r
}

# Little-endian unsigned integers and bytes of the verity superblock (spec: hash type 1).
verity_sb_u() { od -An -tu"$3" -j "$2" -N "$3" "$1" | tr -d ' '; }

# verity_open ROOTHASH: sets dev=/dev/mapper/root, or calls fail.
verity_open() {
        local rh=$1 data= hash= i magic alg dbs hbs blocks saltlen salt t0
        [ ${#rh} -eq 64 ] || fail "roothash=$rh is not 64 hex digits"
        for i in $(seq 1 50); do
                data=$(verity_find_partuuid "${rh:0:32}") && hash=$(verity_find_partuuid "${rh:32:32}") && break
                sleep 0.1
        done
        [ -n "$data" ] && [ -n "$hash" ] || fail "store pair of roothash=$rh not found (data ${data:-missing}, hash ${hash:-missing})"
        magic=$(dd if="$hash" bs=8 count=1 2>/dev/null | tr -d '\000')
        [ "$magic" = verity ] || fail "$hash: no verity superblock"
        alg=$(dd if="$hash" bs=1 skip=32 count=32 2>/dev/null | tr -d '\000')
        dbs=$(verity_sb_u "$hash" 64 4)
        hbs=$(verity_sb_u "$hash" 68 4)
        blocks=$(verity_sb_u "$hash" 72 8)
        saltlen=$(verity_sb_u "$hash" 80 2)
        salt=$(od -An -tx1 -v -j 88 -N "$saltlen" "$hash" | tr -d ' \n')
        [ -n "$salt" ] || salt=-
        # hash type 1, the tree after the superblock's block (hash start block 1)
        dmsetup create root --readonly --noudevsync \
                --table "0 $((blocks * dbs / 512)) verity 1 $data $hash $dbs $hbs $blocks 1 $alg $rh $salt" ||
                fail "dm-verity: cannot set up the store pair $data + $hash"
        dev=/dev/mapper/root
        [ -b "$dev" ] || dmsetup mknodes root
        echo "initrd: dm-verity: $data + $hash, $blocks blocks of $dbs bytes, $alg" >/dev/console
        # A trial boot (an entry with a boot counter) reads every block once before it can be
        # blessed: dm-verity checks each against the tree, one bad block fails the read and the
        # boot, and boot counting falls back. A blessed entry's blocks are checked as they are read
        # (a bad one is an I/O error), which saves the full read (4-5 s under TCG) on every boot.
        if verity_trial_boot; then
                t0=$(cut -d' ' -f1 /proc/uptime)
                dd if="$dev" of=/dev/null bs=1M 2>/dev/null ||
                        fail "dm-verity: the store ($data + $hash) does not match roothash=$rh: verification failed"
                echo "initrd: dm-verity: trial boot, every block verified in $(awk -v a="$t0" '{ printf "%.1f", $1 - a }' /proc/uptime) s" >/dev/console
        fi
}
