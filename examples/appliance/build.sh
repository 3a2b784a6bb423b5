#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the demo appliance from Debian packages without installing them on the host
# (apt-get download into out/debs + dpkg-deb -x): bookworm's kernel, busybox-static, systemd-boot's
# loader and UKI stub, plus abota from the meson build directory with its shared libraries.
#
# Usage: examples/appliance/build.sh
# Environment: ABOTA=path/to/abota (default build/abota); OUT=dir (default examples/appliance/out);
#   ABOTA_DEB=path/to/abota_VERSION_ARCH.deb: install abota into the store from that package
#   (demo.sh builds it) instead of copying $ABOTA (the host still runs $ABOTA);
#   IMAGE_BUILDER=repart|sfdisk (default: repart when abota has the verb): how disk.raw is made,
#   with abota repart from repart.d/, or with sfdisk + mkfs.vfat + mtools + dd.
# Output in $OUT (gitignored):
#   disk.raw      factory image: esp (vfat) | store_1 + store-verity_1 (slot A: erofs + dm-verity
#                 hash tree) | _empty + _empty (slot B) | free space (the device's first boot
#                 creates the data partition there: initrd/firstboot.sh)
#   payloads/appliance_N_UUID.store.raw          the data half of version N's slot pair (N = 1, 2,
#                 3; v3 fails its health check): the store padded to the slot; UUID = partition
#                 UUID = first half of the root hash (sysupdate's @u)
#   payloads/appliance_N_UUID.store-verity.raw   the hash half (UUID = second half of the root hash)
#   payloads/appliance_N.efi        UKI of version N, command line roothash=ROOTHASH
#   payloads/appliance_N.roothash   the root hash of version N (for the tests)
#   payloads/appliance_4*           a tampered version 4 (v2 with IMAGE_VERSION=4): its UKI is signed
#                                   with the foreign key, which the firmware's db does not hold
#   keys/                           Secure Boot test keys (secureboot-keys.sh), made once per $OUT
#   disk-plain.raw  version 1 without dm-verity (tests/e2e boot_cost); IMAGE_BUILDER=repart only
#
# Secure Boot: systemd-boot (both copies on the ESP) and every UKI are signed with sbsign (the db
# key); the ESP carries PK/KEK/db.auth in /loader/keys/auto/, which systemd-boot enrolls when the
# firmware is in setup mode (loader.conf secure-boot-enroll force).
#
# Each version's UKI carries its store's dm-verity root hash, so a boot entry pins its slot pair by
# content. The system is two small stages: the UKI's initrd (busybox, kernel modules, dmsetup,
# abota and mke2fs, initrd/init, initrd/verity.sh and initrd/firstboot.sh) creates the data
# partition on the first boot, finds the pair by PARTUUID, sets up dm-verity (on a trial boot it
# reads every block first), mounts the store, unlocks and mounts the data partition at /var and
# switch_roots into the store; the store (busybox, abota, rootfs/) runs rootfs/sbin/init.
#
# The store is an uncompressed erofs with every file's data block-aligned (-E noinline_data): an
# update changes only the blocks of the files that changed, which block reuse and patches exploit;
# squashfs or a compressed erofs would move nearly every byte. Transport compression (publish
# --compress) makes up for the size.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${OUT:-$here/out}
abota=${ABOTA:-$top/build/abota}
versions=(1 2 3 4)
broken_version=3
tampered_version=4

# Partition sizes (MiB). A slot is a pair: the store (erofs, about 26 MiB) and its hash tree; both
# slots have the same sizes. dm-verity covers the whole data partition. The disk is larger than its
# partitions, as a device's disk is larger than the image written to it: the first boot creates the
# data partition (rootfs/usr/lib/repart.d/) in the free space.
esp_size=64
slot_size=40
hash_size=1
disk_size=256
# The seed of abota repart: partition UUIDs, and the verity salt and superblock UUID (the same for
# every version, so that builds are reproducible).
seed=0b7a1c3e-2f4d-4b8a-9c6e-5d1f2a3b4c5d

# Kernel modules the appliance needs (their dependencies are added from modules.dep).
# (erofs needs libcrc32c, which needs crc32c_generic loaded first)
modules=(virtio_pci virtio_blk virtio_net nls_cp437 nls_ascii vfat efivarfs crc32c_generic ext4 erofs dm-mod dm-verity)
# The encrypted data partition (initrd/firstboot.sh): dm-crypt with aes-xts-plain64 (xts over ecb;
# no modprobe in the initrd to load them on demand), and the kernel's crypto API for user space,
# which libcryptsetup uses for the LUKS2 key slots.
modules+=(dm-crypt ecb xts algif_skcipher)

linux_type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
esp_type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
root_type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
root_verity_type=2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5

log() { echo "build: $*" >&2; }
die() { log "$*"; exit 1; }

[ -x "$abota" ] || die "$abota missing: build abota first (meson setup build && meson compile -C build)"
[ -z "${ABOTA_DEB:-}" ] || [ -r "$ABOTA_DEB" ] || die "ABOTA_DEB=$ABOTA_DEB: no such package"
mkdir -p "$out/debs" "$out/x" "$out/work" "$out/payloads"

# fetch PACKAGE: download the .deb once (kept in out/debs) and extract it to out/x/PACKAGE.
fetch() {
        local pkg=$1 deb
        deb=$(ls "$out/debs/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
        if [ -z "$deb" ]; then
                log "downloading $pkg"
                (cd "$out/debs" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >/dev/null) ||
                        (apt-get update -qq && cd "$out/debs" &&
                         apt-get -q -o APT::Sandbox::User=root download "$pkg" >/dev/null) ||
                        die "apt-get download $pkg failed"
                deb=$(ls "$out/debs/${pkg}"_*.deb | head -n1)
        fi
        if [ ! -e "$out/x/$pkg/.done" ] || [ "$deb" -nt "$out/x/$pkg/.done" ]; then
                rm -rf "$out/x/$pkg"
                dpkg-deb -x "$deb" "$out/x/$pkg"
                touch "$out/x/$pkg/.done"
        fi
}

apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt-get update -qq
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
[ -n "$kernel_pkg" ] || kernel_pkg=$(ls "$out/debs" | sed -n 's/^\(linux-image-[0-9][^_]*-amd64\)_.*/\1/p' | head -n1)
[ -n "$kernel_pkg" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
fetch "$kernel_pkg"
fetch busybox-static
fetch systemd-boot-efi

keys=$out/keys
"$here/secureboot-keys.sh" "$keys"

# sign_efi KEY IN OUT: an Authenticode signature (sbsign) with KEY.key/KEY.crt from $keys.
sign_efi() {
        sbsign --key "$keys/$1.key" --cert "$keys/$1.crt" --output "$3" "$2" 2>/dev/null ||
                die "sbsign $2 failed"
}

kdir=$out/x/$kernel_pkg
kver=$(ls "$kdir/lib/modules")
vmlinuz=$kdir/boot/vmlinuz-$kver
busybox=$out/x/busybox-static/bin/busybox
sdboot=$out/x/systemd-boot-efi/usr/lib/systemd/boot/efi/systemd-bootx64.efi
stub=$out/x/systemd-boot-efi/usr/lib/systemd/boot/efi/linuxx64.efi.stub
[ -f "$kdir/lib/modules/$kver/modules.dep" ] || depmod -b "$kdir" "$kver"

# copy_with_libs BINARY DESTROOT: the binary's shared libraries (ldd) at their host paths.
copy_libs() {
        local bin=$1 root=$2 lib
        for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
                mkdir -p "$root$(dirname "$lib")"
                cp -L "$lib" "$root$lib"
        done
}

# abota in the store and the initrd: with ABOTA_DEB, the files of that Debian package as dpkg would
# install them (dpkg-deb -x); otherwise the meson build's binary, stripped. Then its libraries.
install_abota() { # ROOTFS
        if [ -n "${ABOTA_DEB:-}" ]; then
                dpkg-deb -x "$ABOTA_DEB" "$1"
                copy_libs "$1/usr/bin/abota" "$1"
        else
                objcopy --strip-unneeded "$abota" "$1/usr/bin/abota"
                copy_libs "$abota" "$1"
        fi
}

# ---- initrd: first boot (initrd/firstboot.sh) ----
# abota (with the TPM transport), mkfs.ext4 and their libraries, and the data partition's
# definition (from rootfs/usr/lib/repart.d, which the store has too): the first boot creates the
# data partition on the device (abota repart --empty=refuse).
initrd_firstboot() { # INITRD_DIR
        local root=$1 mke2fs
        mke2fs=$(command -v mke2fs) || die "mke2fs (e2fsprogs) missing"
        mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib/repart.d" "$root/etc" "$root/tmp"
        install_abota "$root"
        # tpm2-tss loads its TPM transport (TCTI) with dlopen: the one for /dev/tpmrm0
        tcti=$(dirname "$(ldd "$root/usr/bin/abota" | grep -o '/[^ ]*/libtss2-tctildr\.so[^ ]*')")/libtss2-tcti-device.so.0
        [ -e "$tcti" ] || die "$tcti missing (libtss2-tcti-device0)"
        cp -L "$tcti" "$root$tcti"
        copy_libs "$tcti" "$root"
        cp "$mke2fs" "$root/usr/sbin/mke2fs"
        ln -s mke2fs "$root/usr/sbin/mkfs.ext4"
        copy_libs "$mke2fs" "$root"
        [ ! -f /etc/mke2fs.conf ] || cp /etc/mke2fs.conf "$root/etc/mke2fs.conf"
        cp "$here"/rootfs/usr/lib/repart.d/*.conf "$root/usr/lib/repart.d/"
        cp "$here/initrd/firstboot.sh" "$root/firstboot.sh"
}

# ---- initrd: busybox, modules (dependencies first), init ----
module_order=()
add_module() { # PATH relative to lib/modules/KVER, dependencies first
        local m=$1 d
        for d in $(sed -n "s|^$m: *||p" "$kdir/lib/modules/$kver/modules.dep"); do
                add_module "$d"
        done
        [[ " ${module_order[*]} " == *" $m "* ]] || module_order+=("$m")
}
for name in "${modules[@]}"; do
        if grep -q "/$name.ko$" "$kdir/lib/modules/$kver/modules.builtin"; then
                continue
        fi
        path=$(sed -n "s|^\(.*/$name\.ko\):.*|\1|p" "$kdir/lib/modules/$kver/modules.dep")
        [ -n "$path" ] || die "kernel module $name not found in $kver"
        add_module "$path"
done

initrd_dir=$out/work/initrd
rm -rf "$initrd_dir"
mkdir -p "$initrd_dir"/{bin,dev,lib/modules}
cp "$busybox" "$initrd_dir/bin/busybox"
cp "$here/initrd/init" "$initrd_dir/init"
initrd_firstboot "$initrd_dir"
# dm-verity: initrd/verity.sh drives the kernel's verity target with dmsetup (the smallest
# userspace for it: dmsetup and libdevmapper; veritysetup would add libcryptsetup and its libraries).
cp "$here/initrd/verity.sh" "$initrd_dir/verity.sh"
mkdir -p "$initrd_dir/sbin"
cp /usr/sbin/dmsetup "$initrd_dir/sbin/dmsetup"
copy_libs /usr/sbin/dmsetup "$initrd_dir"
mknod "$initrd_dir/dev/console" c 5 1
for m in "${module_order[@]}"; do
        mkdir -p "$initrd_dir/lib/modules/$(dirname "$m")"
        cp "$kdir/lib/modules/$kver/$m" "$initrd_dir/lib/modules/$m"
        echo "$m"
done >"$initrd_dir/lib/modules/modules.load"
(cd "$initrd_dir" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9) >"$out/work/initrd.cpio.gz"
log "initrd: ${#module_order[@]} modules, $(stat -c %s "$out/work/initrd.cpio.gz") bytes"

# ---- the store (root file system) of one version ----
os_release() { # VERSION
        cat <<EOF
NAME="abota appliance"
ID=appliance
PRETTY_NAME="abota appliance $1"
IMAGE_ID=appliance
IMAGE_VERSION=$1
EOF
}

make_store() { # VERSION OUTPUT
        local v=$1 rootfs=$out/work/rootfs-$1 applet
        rm -rf "$rootfs"
        mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,usr/lib/sysupdate.d,etc,proc,sys,dev,run,tmp,efi,var}
        cp -a "$here/rootfs/." "$rootfs/"
        cp "$busybox" "$rootfs/bin/busybox"
        for applet in $("$busybox" --list-full); do
                [ -e "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
        done
        install_abota "$rootfs"
        os_release "$v" >"$rootfs/usr/lib/os-release"
        ln -s ../usr/lib/os-release "$rootfs/etc/os-release"
        # The guest reaches the update server through QEMU's guestfwd at 10.0.2.100:80.
        for t in "$here"/sysupdate.d/*.transfer; do
                sed 's|http://localhost/|http://10.0.2.100/|' "$t" >"$rootfs/usr/lib/sysupdate.d/$(basename "$t")"
        done
        if [ "$v" = "$broken_version" ]; then
                printf '#!/bin/sh\n# SPDX-License-Identifier: LGPL-2.1-or-later\necho "health: version %s is broken on purpose"\nexit 1\n' \
                        "$v" >"$rootfs/usr/lib/abota/health.d/50-broken"
                chmod 0755 "$rootfs/usr/lib/abota/health.d/50-broken"
        fi
        rm -f "$2"
        # erofs without compression, file data in whole blocks, reproducible (fixed time and UUID)
        mkfs.erofs -T0 --all-root -x-1 -E noinline_data -U 6f3e1d2a-5b4c-4d8e-9a7f-0c1b2d3e4f50 --quiet \
                "$2" "$rootfs" >/dev/null
}

# ---- the slot pair of one version: abota repart --split over the factory's own definitions ----
make_pair() { # VERSION: writes the payloads, sets roothash
        local v=$1 w=$out/work/pair-$1 f
        rm -rf "$w"
        mkdir -p "$w/defs" "$w/root/etc"
        for f in 10-store.conf 11-store-verity.conf; do
                cp "$here/repart.d/$f" "$w/defs/$f"
        done
        os_release "$v" >"$w/root/etc/os-release"
        ln "$out/work/store-$v.erofs" "$w/root/store.raw"
        "$abota" repart --definitions="$w/defs" --root="$w/root" --empty=create --size=auto --seed="$seed" \
                --dry-run=no --split=yes --json=short "$w/pair.raw" >"$w/pair.json"
        roothash=$(python3 -c 'import json,sys; print(next(p["roothash"] for p in json.load(sys.stdin) if p["roothash"]))' <"$w/pair.json")
        rm -f "$out/payloads/appliance_${v}_"*.store*.raw
        mv "$w/pair.store.raw" "$out/payloads/appliance_${v}_${roothash:0:32}.store.raw"
        mv "$w/pair.store-verity.raw" "$out/payloads/appliance_${v}_${roothash:32:32}.store-verity.raw"
        echo "$roothash" >"$out/payloads/appliance_$v.roothash"
        rm -rf "$w"
}

# ---- the UKI: objcopy onto the 252 stub (spec repart-boot.md 5.2) ----
make_uki() { # VERSION OUTPUT [ROOT] (uses roothash; ROOT: root=ROOT instead, no dm-verity)
        local v=$1 w=$out/work/uki-$1${3:+-plain} end addr name file size
        mkdir -p "$w"
        os_release "$v" >"$w/osrel"
        [ "$v" = "$tampered_version" ] && sed -i 's/^PRETTY_NAME=.*/PRETTY_NAME="abota appliance 4 (tampered)"/' "$w/osrel"
        # roothash=, as systemd spells it: the initrd finds the data and hash partitions by the
        # halves of the hash as PARTUUIDs (the Discoverable Partitions convention).
        if [ -n "${3:-}" ]; then
                printf 'console=ttyS0,115200 root=%s ro quiet loglevel=3 panic=5' "$3" >"$w/cmdline"
        else
                printf 'console=ttyS0,115200 roothash=%s ro quiet loglevel=3 panic=5' "$roothash" >"$w/cmdline"
        fi
        # First free address: the end of the stub's last section, 4 KiB aligned; each added section
        # starts at the next 4 KiB boundary, in ascending order (the 252 stub requires it).
        end=0
        while read -r _ _ size vma _; do
                (( 0x$vma + 0x$size > end )) && end=$(( 0x$vma + 0x$size ))
        done < <(objdump -h "$stub" | grep -E '^ +[0-9]+ ')
        addr=$(( (end + 4095) / 4096 * 4096 ))
        local args=()
        for name in osrel cmdline initrd linux; do
                case $name in
                osrel | cmdline) file=$w/$name ;;
                initrd) file=$out/work/initrd.cpio.gz ;;
                linux) file=$vmlinuz ;;
                esac
                size=$(stat -c %s "$file")
                args+=(--add-section ".$name=$file" --change-section-vma ".$name=$(printf 0x%x $addr)")
                if [ $name = linux ]; then
                        args+=(--set-section-flags ".$name=code,readonly")
                else
                        args+=(--set-section-flags ".$name=data,readonly")
                fi
                addr=$(( (addr + size + 4095) / 4096 * 4096 ))
        done
        objcopy "${args[@]}" "$stub" "$w/unsigned.efi"
        if [ "$v" = "$tampered_version" ]; then
                sign_efi foreign "$w/unsigned.efi" "$2"
        else
                sign_efi db "$w/unsigned.efi" "$2"
        fi
}

rm -f "$out/payloads/"appliance_*.store.raw  # the squashfs stores of earlier builds
for v in "${versions[@]}"; do
        make_store "$v" "$out/work/store-$v.erofs"
        [ "$(stat -c %s "$out/work/store-$v.erofs")" -le $((slot_size * 1024 * 1024)) ] || die "store $v larger than a slot"
        make_pair "$v"
        make_uki "$v" "$out/payloads/appliance_$v.efi"
        log "version $v: store (erofs) $(stat -c %s "$out/work/store-$v.erofs") bytes, roothash $roothash, UKI $(stat -c %s "$out/payloads/appliance_$v.efi") bytes"
done

# ---- Secure Boot: check the signatures, stage the keys for enrollment ----
for v in "${versions[@]}"; do
        if [ "$v" = "$tampered_version" ]; then
                ! sbverify --cert "$keys/db.crt" "$out/payloads/appliance_$v.efi" >/dev/null 2>&1 ||
                        die "tampered UKI $v verifies with the db key"
        else
                sbverify --cert "$keys/db.crt" "$out/payloads/appliance_$v.efi" >/dev/null 2>&1 ||
                        die "UKI $v does not verify with the db key"
        fi
done

# secure_boot_esp ESP_TREE: the keys systemd-boot enrolls in setup mode (only the public .auth
# files), and loader.conf's secure-boot-enroll force (enroll /loader/keys/auto/ without asking).
secure_boot_esp() {
        mkdir -p "$1/loader/keys/auto"
        cp "$keys/PK.auth" "$keys/KEK.auth" "$keys/db.auth" "$1/loader/keys/auto/"
        echo 'secure-boot-enroll force' >>"$1/loader/loader.conf"
}

# ---- the factory disk image with version 1 ----
w=$out/work
disk=$out/disk.raw
rm -f "$disk"
# The ESP's content: systemd-boot on the removable path and as itself, the factory UKI.
esp_tree=$w/image-root/esp
rm -rf "$w/image-root"
mkdir -p "$esp_tree/EFI/BOOT" "$esp_tree/EFI/systemd" "$esp_tree/EFI/Linux" "$esp_tree/loader"
sign_efi db "$sdboot" "$esp_tree/EFI/BOOT/BOOTX64.EFI"
cp "$esp_tree/EFI/BOOT/BOOTX64.EFI" "$esp_tree/EFI/systemd/systemd-bootx64.efi"
# A short timeout shows the menu briefly; no "default": with boot counting the loader must be free
# to skip bad entries (spec repart-boot.md 4.5).
printf 'timeout 1\neditor no\n' >"$esp_tree/loader/loader.conf"
secure_boot_esp "$esp_tree"
cp "$out/payloads/appliance_1.efi" "$esp_tree/EFI/Linux/appliance_1.efi"

builder=${IMAGE_BUILDER:-}
if [ -z "$builder" ]; then
        builder=sfdisk
        "$abota" --help | grep -q '^  repart ' && builder=repart
fi

if [ "$builder" = repart ]; then
        # repart.d/ reads the staged tree: /esp (CopyFiles), /store.raw (CopyBlocks) and the
        # os-release that gives %A (the factory version) for the store_%A label.
        mkdir -p "$w/image-root/etc"
        os_release 1 >"$w/image-root/etc/os-release"
        ln "$out/work/store-1.erofs" "$w/image-root/store.raw"
        "$abota" repart --definitions="$here/repart.d" --root="$w/image-root" --empty=create \
                --size=${disk_size}M --seed="$seed" --dry-run=no --json=short "$disk" >"$w/disk.json"
        # slot A's pair must be the one version 1's UKI names
        grep -q "\"roothash\":\"$(cat "$out/payloads/appliance_1.roothash")\"" "$w/disk.json" ||
                die "the factory image's root hash is not version 1's"
else
        rm -f "$w/esp.img"
        truncate -s ${esp_size}M "$w/esp.img"
        mkfs.vfat -F 32 -n ESP "$w/esp.img" >/dev/null
        mcopy -s -i "$w/esp.img" "$esp_tree/EFI" "$esp_tree/loader" ::/
        truncate -s ${disk_size}M "$disk"
        rh=$(cat "$out/payloads/appliance_1.roothash")
        uuid() { echo "${1:0:8}-${1:8:4}-${1:12:4}-${1:16:4}-${1:20:12}"; }
        sfdisk -q "$disk" <<EOF
label: gpt
first-lba: 2048
size=${esp_size}MiB, type=$esp_type, name=esp
size=${slot_size}MiB, type=$root_type, name=store_1, uuid=$(uuid "${rh:0:32}")
size=${hash_size}MiB, type=$root_verity_type, name=store-verity_1, uuid=$(uuid "${rh:32:32}")
size=${slot_size}MiB, type=$root_type, name=_empty
size=${hash_size}MiB, type=$root_verity_type, name=_empty
EOF
        write_partition() { # NUMBER IMAGE
                local start
                start=$(sfdisk --dump "$disk" | sed -n "s|^$disk$1 : start= *\([0-9]*\),.*|\1|p")
                dd if="$2" of="$disk" bs=512 seek="$start" conv=notrunc,sparse status=none
        }
        write_partition 1 "$w/esp.img"
        write_partition 2 "$(ls "$out/payloads/appliance_1_"*.store.raw)"
        write_partition 3 "$(ls "$out/payloads/appliance_1_"*.store-verity.raw)"
fi
log "disk image ($builder): $disk ($(( $(stat -c %s "$disk") / 1024 / 1024 )) MiB), kernel $kver"

# ---- the same version 1 without dm-verity, for the boot-time comparison (tests/e2e boot_cost) ----
# disk-plain.raw: the ESP with a UKI whose command line names the store by label (root=PARTLABEL=),
# slot A a plain partition holding the same erofs, slot B empty; signed as the factory image is.
rm -f "$out/disk-plain.raw"
if [ "$builder" = repart ]; then
        pw=$w/plain
        rm -rf "$pw"
        mkdir -p "$pw/defs" "$pw/root/etc"
        cp -a "$w/image-root/esp" "$pw/root/esp"
        make_uki 1 "$pw/root/esp/EFI/Linux/appliance_1.efi" PARTLABEL=store_1
        os_release 1 >"$pw/root/etc/os-release"
        ln "$out/work/store-1.erofs" "$pw/root/store.raw"
        cp "$here/repart.d/00-esp.conf" "$pw/defs/"
        printf '[Partition]\nType=root\nLabel=store_%%A\nCopyBlocks=/store.raw\nSizeMinBytes=%sM\nSizeMaxBytes=%sM\n' \
                "$slot_size" "$slot_size" >"$pw/defs/10-store.conf"
        printf '[Partition]\nType=root\nLabel=_empty\nSizeMinBytes=%sM\nSizeMaxBytes=%sM\n' \
                "$slot_size" "$slot_size" >"$pw/defs/20-empty.conf"
        "$abota" repart --definitions="$pw/defs" --root="$pw/root" --empty=create --size=${disk_size}M \
                --seed="$seed" --dry-run=no --json=off "$out/disk-plain.raw" >/dev/null
        rm -rf "$pw"
        log "disk image without dm-verity (boot-time comparison): $out/disk-plain.raw"
else
        log "no disk image without dm-verity (disk-plain.raw, for tests/e2e boot_cost): IMAGE_BUILDER=repart makes it"
fi
