# SPDX-License-Identifier: LGPL-2.1-or-later
"""Build host to device, the whole release path of the seed: `abota repart` builds version 1's
full image and version 2's full image with --split, `abota publish` puts version 2's split
payload into an update directory served over HTTP, and the update agent installs it into version
1's image. The installed slot must equal the store partition of version 2's full image byte for
byte, and version 1's slot must be untouched."""
import subprocess

import pytest

from agent_env import Server, read_partitions, slot_bytes

SEED = "0867da16-f251-457d-a9e8-c31f9a3c220b"
SLOT = "16M"


def repart_definitions(d, version):
    d.mkdir()
    (d / "10-store.conf").write_text(
        "[Partition]\nType=linux-generic\n"
        f"Label=store_{version}\nFormat=squashfs\nCopyFiles={d.parent}/tree-{version}:/\n"
        f"SizeMinBytes={SLOT}\nSizeMaxBytes={SLOT}\nSplitName=store\n")
    (d / "20-empty.conf").write_text(
        "[Partition]\nType=linux-generic\nLabel=_empty\n"
        f"SizeMinBytes={SLOT}\nSizeMaxBytes={SLOT}\nSplitName=-\n")


def build(abota, tmp, version, split):
    tree = tmp / f"tree-{version}"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/os-release").write_text(f"ID=appliance\nIMAGE_VERSION={version}\n")
    (tree / "payload").write_bytes(bytes(range(256)) * 4096 * int(version))
    defs = tmp / f"repart-{version}"
    repart_definitions(defs, version)
    image = tmp / f"appliance_{version}.raw"
    abota("repart", f"--definitions={defs}", "--empty=create", "--size=auto", f"--seed={SEED}",
          "--dry-run=no", f"--split={'yes' if split else 'no'}", image,
          env={"SOURCE_DATE_EPOCH": "1700000000", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    return image


@pytest.fixture
def server(tmp_path):
    srv = tmp_path / "srv"
    srv.mkdir()
    s = Server(srv, tmp_path)
    yield s
    s.stop()


def test_published_split_payload_installs_byte_identical(abota, tmp_path, server):
    v1 = build(abota, tmp_path, "1", split=False)
    v2 = build(abota, tmp_path, "2", split=True)
    split = tmp_path / "appliance_2.store.raw"
    assert split.exists(), "repart --split did not write the store payload"

    abota("publish", "--pattern=appliance_@v.store.raw", "--compress=zstd", server.root, split)
    server.start()

    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=appliance\nIMAGE_VERSION=1\n")
    disk = root / "disk.raw"
    v1.rename(disk)
    before_slot1 = slot_bytes(disk, "store_1")
    defs = tmp_path / "sysupdate.d"
    defs.mkdir()
    (defs / "10-store.transfer").write_text(
        "[Transfer]\nVerify=no\n"
        f"[Source]\nType=url-file\nPath={server.url}\nMatchPattern=appliance_@v.store.raw\n"
        "[Target]\nType=partition\nPath=/disk.raw\nMatchPattern=store_@v\nReadOnly=yes\n")

    r = abota(f"--definitions={defs}", f"--root={root}", "check-new")
    assert r.stdout.strip() == "2"
    abota(f"--definitions={defs}", f"--root={root}", "update")

    labels = [name for name, *_ in read_partitions(disk)]
    assert labels == ["store_1", "store_2"]
    assert slot_bytes(disk, "store_2") == slot_bytes(v2, "store_2")
    assert slot_bytes(disk, "store_1") == before_slot1
    # the installed slot is a squashfs that unsquashfs reads, with version 2's files
    listing = subprocess.run(["unsquashfs", "-l", "-o", str(dict(
        (n, s) for n, s, *_ in read_partitions(disk))["store_2"]), str(disk)],
        capture_output=True, text=True, check=True).stdout
    assert "squashfs-root/payload" in listing
