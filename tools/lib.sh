# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by demo.sh, test.sh and .ci/run: install missing Debian packages, build.

# What building needs.
BUILD_PACKAGES=(meson ninja-build pkg-config gcc clang libcurl4-openssl-dev libssl-dev libfdisk-dev
                zlib1g-dev liblzma-dev libzstd-dev libcmocka-dev libcryptsetup-dev libtss2-dev
                libjson-c-dev)
# What the tests drive: real mkfs tools, a real HTTP server, gpg, QEMU with OVMF. systemd-repart 252
# (the side-by-side repart tests) comes with the systemd package on Debian 12; there is no
# systemd-repart package before Debian 13. Encryption tests: swtpm (a TPM 2.0 on a socket) reached through
# tpm2-tss's swtpm TCTI, cryptsetup and systemd-cryptenroll 252 (systemd) for interoperability,
# tpm2-tools for an independent unseal, python3-cryptography to decrypt volumes without device-mapper.
# debootstrap builds the trixie chroot with systemd-sysupdate 257 for tests/compat.
TEST_PACKAGES=(python3 python3-pytest python3-pytest-xdist fdisk util-linux e2fsprogs dosfstools mtools squashfs-tools
               erofs-utils btrfs-progs xz-utils zstd gzip curl lighttpd gpg gpgv gpg-agent strace
               libclang-rt-14-dev time openssl systemd man-db groff-base zsh
               swtpm swtpm-tools libtss2-tcti-swtpm0 cryptsetup-bin tpm2-tools python3-cryptography
               debootstrap)
# What tests/packaging/run needs to build and check the .deb (test.sh without --quick).
PACKAGING_PACKAGES=(dpkg-dev debhelper build-essential lintian bash-completion systemd)
# What bench/delta measures against (casync, zchunk) and with (GNU time, curl).
BENCH_PACKAGES=(casync zchunk time curl zstd)
# The appliance: swtpm is the VM's TPM (QEMU tpm-tis); the initrd unlocks through /dev/tpmrm0
# with tpm2-tss's device TCTI.
E2E_PACKAGES=(qemu-system-x86 ovmf systemd-boot-efi binutils busybox-static socat cpio kmod swtpm
              libtss2-tcti-device0 e2fsprogs sbsigntool efitools openssl
              dmsetup)

# Installs the given packages that are not installed yet (apt-get update first, once).
need_packages() {
        local missing=() p
        for p in "$@"; do
                dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        echo "Installing Debian packages: ${missing[*]}"
        local sudo=
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR [MESON-OPTIONS...]: configure once, then compile.
build() {
        local dir=$1; shift
        if [ ! -f "$dir/build.ninja" ]; then
                meson setup "$dir" "$@" >/dev/null
        fi
        meson compile -C "$dir" >/dev/null
}

# build_deb WORKDIR: the Debian package of this source tree, built with dpkg-buildpackage -b -us -uc
# in WORKDIR/abota, a copy of the tracked files and the new ones not ignored (as a release tarball
# holds them); prints the path of the .deb. The build's log is WORKDIR/build.log (its tail is
# printed on failure). Run from the top of the source tree.
build_deb() {
        local work=$1
        rm -rf "$work/abota" "$work"/abota_* "$work"/abota-dbgsym_*
        mkdir -p "$work/abota"
        git ls-files -z --cached --others --exclude-standard | grep -zv '^build' |
                xargs -0 tar -cf - | tar -C "$work/abota" -xf -
        (cd "$work/abota" && dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1) || {
                tail -40 "$work/build.log" >&2
                echo "dpkg-buildpackage failed (log: $work/build.log)" >&2
                return 1
        }
        ls "$work"/abota_*_*.deb
}
