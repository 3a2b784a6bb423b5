# SPDX-License-Identifier: LGPL-2.1-or-later
"""--image=FILE on a whole appliance image of the seed appliance's layout (abota repart: an ESP
with the factory UKI, store_1 holding a root file system with os-release and sysupdate.d, an
`_empty` slot, data): the image's own definitions and os-release
are read from store_1, the ESP is reached through mtools (this kernel has no vfat), and list,
update from `abota publish` output over HTTP, and vacuum work on the image file. No VM."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agent_env import SEED_DEFS, Server, payload, read_partitions, slot_bytes

REPO = Path(__file__).resolve().parents[2]
# The seed appliance's image (the demo's layout before its slots became dm-verity pairs): ESP,
# store_1 from /store.raw, an equal _empty slot, data.
SEED_LAYOUT = {
    "00-esp.conf": "[Partition]\nType=esp\nLabel=esp\nFormat=vfat\nCopyFiles=/esp:/\nSizeMinBytes=40M\nSizeMaxBytes=40M\n",
    "10-store.conf": "[Partition]\nType=linux-generic\nLabel=store_%A\nCopyBlocks=/store.raw\n"
                     "SizeMinBytes=4M\nSizeMaxBytes=4M\n",
    "20-empty.conf": "[Partition]\nType=linux-generic\nLabel=_empty\nSizeMinBytes=4M\nSizeMaxBytes=4M\n",
    "30-data.conf": "[Partition]\nType=linux-generic\nLabel=data\nFormat=ext4\nSizeMinBytes=32M\nSizeMaxBytes=32M\n",
}
MiB = 1024 * 1024


def os_release(version):
    return f'ID=appliance\nIMAGE_ID=appliance\nIMAGE_VERSION={version}\n'


def make_store(tmp, version, url, fs="squashfs", edit=lambda name, text: text):
    """A store image of version: os-release and the example definitions pointed at url (and
    changed by edit)."""
    root = tmp / f"rootfs-{version}"
    (root / "usr/lib/sysupdate.d").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "usr/lib/os-release").write_text(os_release(version))
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    for t in SEED_DEFS.iterdir():  # one plain store slot + the UKI (the demo's pairs: test_demo_image)
        (root / "usr/lib/sysupdate.d" / t.name).write_text(edit(t.name, t.read_text().replace("http://localhost/", url)))
    out = tmp / f"appliance_{version}.store.raw"
    if fs == "squashfs":
        subprocess.run(["mksquashfs", root, out, "-noappend", "-all-root", "-quiet"], check=True,
                       capture_output=True)
    elif fs == "erofs":
        subprocess.run(["mkfs.erofs", out, root], check=True, capture_output=True)
    else:
        subprocess.run(["truncate", "-s", "2M", out], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-d", root, out], check=True, capture_output=True)
    return out


def esp_files(disk, esp_dir="::/EFI/Linux"):
    start = next(s for name, s, _, _ in read_partitions(disk) if name == "esp")
    r = subprocess.run(["mdir", "-b", "-i", f"{disk}@@{start}", esp_dir], capture_output=True, text=True,
                       env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
    return sorted(line.rsplit("/", 1)[1] for line in r.stdout.splitlines() if line.startswith("::"))


def labels(disk):
    return [name for name, _, _, _ in read_partitions(disk)]


class Image:
    def __init__(self, tmp, abota, fs="squashfs", edit=lambda name, text: text):
        self.tmp = tmp
        self.server_dir = tmp / "server"
        self.server_dir.mkdir()
        self.server = Server(self.server_dir, tmp).start()
        url = self.server.url
        staged = tmp / "image-root"
        (staged / "esp/EFI/Linux").mkdir(parents=True)
        (staged / "esp/loader").mkdir()
        (staged / "esp/loader/loader.conf").write_text("timeout 1\n")
        (staged / "etc").mkdir()
        (staged / "etc/os-release").write_text(os_release(1))
        (staged / "esp/EFI/Linux/appliance_1.efi").write_bytes(payload("1", 64 * 1024, b"efi"))
        shutil.copy(make_store(tmp, "1", url, fs, edit), staged / "store.raw")
        # the seed appliance's layout (a plain store slot per version), with small slots
        defs = tmp / "repart.d"
        defs.mkdir()
        for name, text in SEED_LAYOUT.items():
            (defs / name).write_text(text)
        self.disk = tmp / "disk.raw"
        abota("repart", f"--definitions={defs}", f"--root={staged}", "--empty=create", "--size=auto",
              "--dry-run=no", "--json=off", self.disk)
        self.abota = abota
        self.fs = fs

    def publish(self, version):
        efi = self.tmp / f"appliance_{version}.efi"
        efi.write_bytes(payload(version, 64 * 1024, b"efi"))
        store = make_store(self.tmp, version, self.server.url, self.fs)
        self.abota("publish", f"--pattern=appliance_@v.store.raw", "--pattern=appliance_@v.efi", "--deltas=0",
                   self.server_dir, store, efi)
        return store

    def run(self, *args, **kw):
        return self.abota(f"--image={self.disk}", *args, **kw)


@pytest.fixture
def image(tmp_path, abota):
    i = Image(tmp_path, abota)
    yield i
    i.server.stop()


def test_list_reads_the_image_definitions_and_esp(image):
    image.publish("2")
    j = json.loads(image.run("--json=short", "list").stdout)
    assert j["current"] == "1" and j["all"] == ["2", "1"]
    # the image's definitions, not the host's: both transfers, the ESP file found through mtools
    j = json.loads(image.run("--json=short", "list", "1").stdout)
    paths = sorted(c["path"] for c in j["contents"])
    assert paths == ["/EFI/Linux/appliance_1.efi", f"{image.disk}:2"]
    assert j["protected"] is True  # IMAGE_VERSION of the image's os-release
    # nothing was left mounted
    assert str(image.disk) not in Path("/proc/self/mountinfo").read_text()
    assert "abota-image" not in Path("/proc/self/mountinfo").read_text()


def test_update_then_vacuum_on_the_image(image):
    store2 = image.publish("2")
    image.run("update")
    assert "store_2" in labels(image.disk)
    assert slot_bytes(image.disk, "store_2")[:store2.stat().st_size] == store2.read_bytes()
    assert esp_files(image.disk) == ["appliance_1.efi", "appliance_2+3-0.efi"]
    # the image's root is now store_2 (newest label with an os-release): version 2 is current
    j = json.loads(image.run("--json=short", "list").stdout)
    assert j["current"] == "2"

    image.run("vacuum", "-m", "1")
    assert labels(image.disk).count("_empty") == 1 and "store_1" not in labels(image.disk)
    assert esp_files(image.disk) == ["appliance_2+3-0.efi"]
    # what mtools wrote is a clean FAT, with the new UKI's bytes
    start, size = next((s, n) for name, s, n, _ in read_partitions(image.disk) if name == "esp")
    esp = image.tmp / "esp.fat"
    with open(image.disk, "rb") as f:
        f.seek(start)
        esp.write_bytes(f.read(size))
    subprocess.run(["fsck.vfat", "-n", esp], check=True, capture_output=True)
    out = subprocess.run(["mtype", "-i", esp, "::/EFI/Linux/appliance_2+3-0.efi"], check=True, capture_output=True,
                         env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}).stdout
    assert out == (image.tmp / "appliance_2.efi").read_bytes()


def test_vacuum_keeps_the_image_version(image):
    # version 2's store holds no file system: store_1 stays the image's root, IMAGE_VERSION=1
    (image.tmp / "appliance_2.store.raw").write_bytes(payload("2", 64 * 1024))
    efi = image.tmp / "appliance_2.efi"
    efi.write_bytes(payload("2", 64 * 1024, b"efi"))
    image.abota("publish", "--pattern=appliance_@v.store.raw", "--pattern=appliance_@v.efi", "--deltas=0",
                image.server_dir, image.tmp / "appliance_2.store.raw", efi)
    image.run("update")
    assert esp_files(image.disk) == ["appliance_1.efi", "appliance_2+3-0.efi"]
    image.run("vacuum", "-m", "1")
    assert "store_1" in labels(image.disk) and "store_2" not in labels(image.disk)
    assert esp_files(image.disk) == ["appliance_1.efi"]


@pytest.mark.parametrize("fs", ["ext4", "erofs"])
def test_root_file_systems(tmp_path, abota, fs):
    i = Image(tmp_path, abota, fs)
    try:
        i.publish("2")
        j = json.loads(i.run("--json=short", "list").stdout)
        assert j["current"] == "1" and j["all"] == ["2", "1"]
    finally:
        i.server.stop()


def test_definitions_option_still_reads_the_image_os_release(image, tmp_path):
    defs = tmp_path / "defs"
    defs.mkdir()
    for t in SEED_DEFS.iterdir():  # one plain store slot + the UKI (the demo's pairs: test_demo_image)
        (defs / t.name).write_text(t.read_text().replace("http://localhost/", image.server.url))
    image.publish("2")
    j = json.loads(image.run(f"--definitions={defs}", "--json=short", "list", "1").stdout)
    assert j["protected"] is True


def test_image_without_root_file_system(tmp_path, abota):
    disk = tmp_path / "disk.raw"
    subprocess.run(["truncate", "-s", "8M", disk], check=True)
    subprocess.run(["sfdisk", "-q", disk], input="label: gpt\nsize=2MiB, name=store_1\n", text=True, check=True)
    r = abota(f"--image={disk}", "list", check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == [f"abota: {disk}: no root file system with an os-release found (a partition of a root, "
                                     "usr or generic Linux type, not `_empty`); pass --definitions=DIR"]


def test_current_symlink_in_the_esp_refused(tmp_path, abota):
    # FAT keeps no symlinks: refused before anything is written
    def edit(name, text):
        return text.replace("[Target]\n", "[Target]\nCurrentSymlink=current.efi\n") if "kernel" in name else text
    i = Image(tmp_path, abota, edit=edit)
    try:
        i.publish("2")
        gpt = read_partitions(i.disk)
        r = i.run("update", check=False)
        assert r.returncode == 1
        # the file is named where the image's root is mounted for the run
        assert re.fullmatch(r"abota: /tmp/abota-image-\w+/root/usr/lib/sysupdate.d/20-kernel.transfer: "
                            rf"CurrentSymlink=current.efi: ESP of {re.escape(str(i.disk))} keeps no symlinks",
                            r.stderr.splitlines()[-1]), r.stderr
        assert read_partitions(i.disk) == gpt and esp_files(i.disk) == ["appliance_1.efi"]
    finally:
        i.server.stop()
