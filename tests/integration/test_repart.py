# SPDX-License-Identifier: LGPL-2.1-or-later
"""abota repart: GPT layout and UUIDs equal to systemd-repart 252's, file systems with content,
reproducible bytes, split files, JSON, and first-boot growth of an existing disk."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

SEED = "0867da16-f251-457d-a9e8-c31f9a3c220b"
EPOCH = "1700000000"
MiB = 1024 * 1024
GiB = 1024 * MiB


def write_defs(d: Path, defs: dict):
    d.mkdir(parents=True, exist_ok=True)
    for name, body in defs.items():
        (d / name).write_text("[Partition]\n" + body.strip() + "\n")
    return d


def sfdisk_table(image: Path):
    t = json.loads(subprocess.run(["sfdisk", "--json", str(image)], check=True, capture_output=True,
                                  text=True).stdout)["partitiontable"]
    t.pop("device")
    for p in t["partitions"]:
        p["node"] = p["node"][len(str(image)):]
    return t


def assert_same_gpt(a: Path, b: Path):
    """Protective MBR, headers and entry arrays (first 34 and last 33 sectors) byte-identical."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        assert fa.read(34 * 512) == fb.read(34 * 512)
        fa.seek(-33 * 512, 2)
        fb.seek(-33 * 512, 2)
        assert fa.read() == fb.read()


def without_node(j):
    return [{k: v for k, v in p.items() if k != "node"} for p in j]


def systemd_repart(*args):
    p = subprocess.run(["systemd-repart", *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p


def env_epoch():
    return dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)


def build(abota, defs, image, *extra, env=None, check=True):
    return abota("repart", "--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={defs}",
                 "--dry-run=no", *extra, image, env=env or env_epoch(), check=check)


@pytest.fixture
def tree(tmp_path):
    t = tmp_path / "tree"
    (t / "etc").mkdir(parents=True)
    (t / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=1\n")
    (t / "etc" / "name with spaces").write_text("x\n")
    (t / "usr" / "bin").mkdir(parents=True)
    (t / "usr" / "bin" / "tool").write_bytes(os.urandom(70000))
    return t


@pytest.fixture
def esp_tree(tmp_path):
    t = tmp_path / "esp"
    (t / "EFI" / "BOOT").mkdir(parents=True)
    (t / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(b"MZ" + b"\0" * 1000)
    (t / "loader").mkdir()
    (t / "loader" / "loader.conf").write_text("timeout 0\n")
    return t


def seed_defs(tree, esp_tree, esp_copy=True, esp="200M", slot="2G"):
    """The seed appliance: ESP 200M vfat, store squashfs 2G fixed, _empty 2G, data ext4 (smaller
    sizes where only the behaviour matters, to keep the I/O of the tests down)."""
    return {
        "10-esp.conf": f"Type=esp\nFormat=vfat\n{'CopyFiles=' + str(esp_tree) + ':/' if esp_copy else ''}\n"
                       f"SizeMinBytes={esp}\nSizeMaxBytes={esp}\nSplitName=-",
        "20-store.conf": f"Type=linux-generic\nLabel=store_1\nFormat=squashfs\nCopyFiles={tree}:/\n"
                         f"SizeMinBytes={slot}\nSizeMaxBytes={slot}\nSplitName=store",
        "30-empty.conf": f"Type=linux-generic\nLabel=_empty\nSizeMinBytes={slot}\nSizeMaxBytes={slot}\nSplitName=-",
        "40-data.conf": f"Type=linux-generic\nLabel=data\nFormat=ext4\nCopyFiles={tree}/etc:/etc\n"
                        "MakeDirectories=/var/lib\nSplitName=-",
    }


def test_seed_image_layout_equals_systemd_repart(abota, tmp_path, tree, esp_tree):
    ours = write_defs(tmp_path / "ours", seed_defs(tree, esp_tree))
    # systemd-repart 252 cannot populate vfat here (no vfat in the kernel): same definitions
    # without the ESP's CopyFiles=; the GPT does not depend on the content.
    theirs = write_defs(tmp_path / "theirs", seed_defs(tree, esp_tree, esp_copy=False))
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    r = build(abota, ours, a, "--json=short")
    rb = systemd_repart("--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={theirs}",
                        "--dry-run=no", "--json=short", b)
    assert without_node(json.loads(r.stdout)) == without_node(json.loads(rb.stdout))
    assert a.stat().st_size == b.stat().st_size == 1044 * 1024 + 200 * MiB + 4 * GiB + 10 * MiB
    assert sfdisk_table(a) == sfdisk_table(b)
    assert_same_gpt(a, b)
    j = json.loads(r.stdout)
    assert [p["uuid"] for p in j] == ["dac4058a-2fc0-4808-a7ef-b8b4501c00ce", "be6595b1-70b2-4c1e-a455-2693510a426f",
                                      "8e96213d-8e49-4402-819d-bf44af665035", "886a30bb-93cc-42c4-a9e5-e7fa5acc7cd8"]
    assert sfdisk_table(a)["id"] == "B581FEF7-24ED-4F31-990B-099EC86BBA03"
    # File system type, label and UUID (derived from the partition UUID) as systemd-repart makes them.
    for p in j:
        probe = [subprocess.run(["blkid", "-p", "-o", "export", "-O", str(p["offset"]), str(f)],
                                capture_output=True, text=True).stdout for f in (a, b)]
        keep = [{k: v for k, v in (l.split("=", 1) for l in x.splitlines()) if k in ("TYPE", "LABEL", "UUID")}
                for x in probe]
        assert keep[0] == keep[1], p["label"]
    assert "793A-442B" in subprocess.run(["blkid", "-p", "-O", str(MiB), str(a)], capture_output=True,
                                         text=True).stdout


def test_seed_image_contents_and_fsck(abota, tmp_path, tree, esp_tree):
    defs = write_defs(tmp_path / "defs", seed_defs(tree, esp_tree))
    img = tmp_path / "appliance_1.raw"
    r = build(abota, defs, img, "--split=yes", "--json=pretty")
    j = json.loads(r.stdout)
    assert [p["label"] for p in j] == ["esp", "store_1", "_empty", "data"]
    assert [p["split_path"] for p in j] == [None, str(tmp_path / "appliance_1.store.raw"), None, None]
    assert [p["activity"] for p in j] == ["create"] * 4
    assert not (tmp_path / "appliance_1.esp.raw").exists()
    off = {p["label"]: (p["offset"], p["raw_size"]) for p in j}

    def extract(label):
        o, n = off[label]
        out = tmp_path / f"{label}.part"
        subprocess.run(["dd", f"if={img}", f"of={out}", "bs=1M", f"skip={o // MiB}", f"count={n // MiB}",
                        "conv=sparse", "status=none"], check=True)
        return out

    # ESP: vfat with volume id derived from the partition UUID (spec 1.7), the files inside.
    esp = extract("esp")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    d = subprocess.run(["mdir", "-i", str(esp), "::/EFI/BOOT"], check=True, capture_output=True, text=True,
                       env=env).stdout
    assert "793A-442B" in d and "BOOTX64  EFI" in d
    t = subprocess.run(["mtype", "-i", str(esp), "::/loader/loader.conf"], check=True, capture_output=True,
                       text=True, env=env).stdout
    assert t == "timeout 0\n"
    subprocess.run(["fsck.vfat", "-n", str(esp)], check=True, capture_output=True)

    # store: the split file is the partition, a squashfs with the tree.
    store = tmp_path / "appliance_1.store.raw"
    assert store.stat().st_size == 2 * GiB
    with open(store, "rb") as f:
        assert f.read(4) == b"hsqs"
    ls = subprocess.run(["unsquashfs", "-l", str(store)], check=True, capture_output=True, text=True).stdout
    assert "squashfs-root/usr/bin/tool" in ls and "squashfs-root/etc/os-release" in ls
    cat = subprocess.run(["unsquashfs", "-cat", str(store), "usr/bin/tool"], check=True, capture_output=True).stdout
    assert cat == (tree / "usr" / "bin" / "tool").read_bytes()

    # data: ext4 with CopyFiles= to /etc and MakeDirectories=, UUID from the partition UUID.
    data = extract("data")
    subprocess.run(["fsck.ext4", "-fn", str(data)], check=True, capture_output=True)
    ls = subprocess.run(["debugfs", "-R", "ls -p /var", str(data)], check=True, capture_output=True, text=True).stdout
    assert "/lib/" in ls
    cat = subprocess.run(["debugfs", "-R", "cat /etc/os-release", str(data)], check=True, capture_output=True,
                         text=True).stdout
    assert cat == "ID=appliance\nIMAGE_VERSION=1\n"
    blkid = subprocess.run(["blkid", "-p", "-o", "export", str(data)], check=True, capture_output=True,
                           text=True).stdout
    assert "LABEL=data" in blkid and "TYPE=ext4" in blkid
    # _empty is all zeros (a hole).
    o, n = off["_empty"]
    with open(img, "rb") as f:
        f.seek(o)
        assert f.read(MiB) == b"\0" * MiB


def test_reproducible(abota, tmp_path, tree, esp_tree):
    defs = write_defs(tmp_path / "defs", seed_defs(tree, esp_tree, esp="40M", slot="64M"))
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    build(abota, defs, a)
    for f in ("usr/bin/tool", "etc/name with spaces", "etc"):
        os.utime(tree / f)  # newer times (and ctime changes) must not matter
    build(abota, defs, b)
    subprocess.run(["cmp", str(a), str(b)], check=True)


def test_erofs_swap_minimize(abota, tmp_path, tree):
    defs = write_defs(tmp_path / "defs", {
        "10-usr.conf": f"Type=usr\nFormat=erofs\nCopyFiles={tree}:/\nMinimize=best\nSizeMinBytes=4K",
        "20-swap.conf": "Type=swap\nSizeMinBytes=16M\nSizeMaxBytes=16M",
        "30-root.conf": f"Type=root\nFormat=squashfs\nCopyFiles={tree}/usr:/usr\nMinimize=yes\nLabel=root_1",
    })
    img = tmp_path / "a.raw"
    j = json.loads(build(abota, defs, img, "--json=short").stdout)
    assert [p["type"] for p in j] == ["usr-x86-64", "swap", "root-x86-64"]
    usr_off, usr_size = j[0]["offset"], j[0]["raw_size"]
    assert usr_size % 4096 == 0 and usr_size < MiB  # minimized: exactly the erofs image, grain-rounded
    assert j[2]["raw_size"] == 10 * MiB  # Minimize= keeps the 10 MiB default minimum
    part = tmp_path / "usr.erofs"
    with open(img, "rb") as f:
        f.seek(usr_off)
        part.write_bytes(f.read(usr_size))
    subprocess.run(["fsck.erofs", "--extract=" + str(tmp_path / "x"), str(part)], check=True, capture_output=True)
    assert (tmp_path / "x" / "usr" / "bin" / "tool").read_bytes() == (tree / "usr" / "bin" / "tool").read_bytes()
    swap = subprocess.run(["blkid", "-p", "-o", "export", "-O", str(j[1]["offset"]), str(img)], check=True,
                          capture_output=True, text=True).stdout
    assert "TYPE=swap" in swap and "LABEL=swap" in swap
    # The GPT equals systemd-repart's for the same sizes (252 has no erofs/Minimize): fixed sizes.
    theirs = write_defs(tmp_path / "theirs", {
        "10-usr.conf": f"Type=usr\nSizeMinBytes={usr_size}\nSizeMaxBytes={usr_size}",
        "20-swap.conf": "Type=swap\nSizeMinBytes=16M\nSizeMaxBytes=16M",
        "30-root.conf": "Type=root\nLabel=root_1",
    })
    b = tmp_path / "b.raw"
    systemd_repart("--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={theirs}", "--dry-run=no", b)
    assert sfdisk_table(img) == sfdisk_table(b)


def test_minimize_guess_ext4(abota, tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    blob = os.urandom(20 * MiB)
    (big / "blob").write_bytes(blob)
    defs = write_defs(tmp_path / "defs", {"10-a.conf": f"Type=linux-generic\nFormat=ext4\nCopyFiles={big}:/\n"
                                                      "Minimize=guess"})
    img = tmp_path / "a.raw"
    j = json.loads(build(abota, defs, img, "--json=short").stdout)
    size = j[0]["raw_size"]
    assert 20 * MiB < size < 40 * MiB and size % 4096 == 0  # allocated bytes + 50 %
    part = tmp_path / "p.ext4"
    with open(img, "rb") as f:
        f.seek(j[0]["offset"])
        part.write_bytes(f.read(size))
    subprocess.run(["fsck.ext4", "-fn", str(part)], check=True, capture_output=True)
    out = tmp_path / "blob.out"
    subprocess.run(["debugfs", "-R", f"dump /blob {out}", str(part)], check=True, capture_output=True)
    assert out.read_bytes() == blob


WEIGHTS = {
    "10-a.conf": "Type=esp\nSizeMinBytes=64M\nWeight=100\nPaddingWeight=50",
    "20-b.conf": "Type=root\nWeight=300\nSizeMaxBytes=100M",
    "30-c.conf": "Type=linux-generic\nPaddingMinBytes=1M\nPaddingWeight=10\nSizeMinBytes=3M",
    "40-d.conf": "Type=linux-generic\nWeight=0\nSizeMinBytes=7M\nPaddingMaxBytes=5M\nPaddingWeight=1000",
    "50-e.conf": "Type=home\nWeight=2000",
}


@pytest.mark.parametrize("size", ["1G", "300M", "97M"])
def test_weights_and_padding_equal_systemd_repart(abota, tmp_path, size):
    defs = write_defs(tmp_path / "defs", WEIGHTS)
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    ra = abota("repart", "--empty=create", f"--size={size}", f"--seed={SEED}", f"--definitions={defs}",
               "--dry-run=no", "--json=short", a)
    rb = systemd_repart("--empty=create", f"--size={size}", f"--seed={SEED}", f"--definitions={defs}",
                        "--dry-run=no", "--json=short", b)
    assert sfdisk_table(a) == sfdisk_table(b)
    assert without_node(json.loads(ra.stdout)) == without_node(json.loads(rb.stdout))
    assert_same_gpt(a, b)


def test_priority_drops_partition(abota, tmp_path):
    # systemd-repart 252 crashes on this one, so the expectation is written out: 50-e does not fit
    # into 90M and has the highest Priority=, so it goes; the others stay.
    d = dict(WEIGHTS)
    d["50-e.conf"] += "\nPriority=1"
    defs = write_defs(tmp_path / "defs", d)
    r = abota("repart", "--empty=create", "--size=90M", f"--seed={SEED}", f"--definitions={defs}",
              "--dry-run=no", "--json=short", tmp_path / "a.raw")
    j = json.loads(r.stdout)
    assert [p["file"] for p in j] == ["10-a.conf", "20-b.conf", "30-c.conf", "40-d.conf"]
    assert "50-e.conf: dropped" in r.stderr
    r = abota("repart", "--empty=create", "--size=90M", f"--seed={SEED}", f"--definitions={write_defs(tmp_path / 'x', WEIGHTS)}",
              "--dry-run=no", tmp_path / "b.raw", check=False)
    assert r.returncode != 0 and "do not fit" in r.stderr
    assert not (tmp_path / "b.raw").exists()


def test_first_boot_growth(abota, tmp_path, tree, esp_tree):
    sizes = dict(esp="40M", slot="64M")
    full = seed_defs(tree, esp_tree, **sizes)
    first = write_defs(tmp_path / "first", {k: v for k, v in full.items() if k < "30"})
    later = write_defs(tmp_path / "later", full)
    img = tmp_path / "disk.raw"
    build(abota, first, img)
    orig, ref = tmp_path / "orig.raw", tmp_path / "ref.raw"
    for f in (orig, ref):
        subprocess.run(["cp", "--sparse=always", str(img), str(f)], check=True)
    disk = 512 * MiB
    for f in (img, ref):
        os.truncate(f, disk)   # copied onto a larger disk

    # dry-run: the plan as a table, nothing written
    r = abota("repart", f"--definitions={later}", f"--seed={SEED}", img)
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["TYPE", "LABEL", "UUID"]
    assert [l.split()[1] for l in lines[1:]] == ["esp", "store_1", "_empty", "data"]
    assert [l.split()[-1] for l in lines[1:]] == ["unchanged", "unchanged", "create", "create"]
    assert subprocess.run(["cmp", "-n", str(orig.stat().st_size), str(img), str(orig)]).returncode == 0

    r = abota("repart", f"--definitions={later}", f"--seed={SEED}", "--dry-run=no", "--json=short", img,
              env=env_epoch())
    j = json.loads(r.stdout)
    assert [p["activity"] for p in j] == ["unchanged", "unchanged", "create", "create"]
    assert [p["label"] for p in j] == ["esp", "store_1", "_empty", "data"]
    # data (the weighted one) fills the disk up to the backup GPT, rounded down to 4 KiB
    assert j[3]["offset"] == j[2]["offset"] + 64 * MiB
    assert j[3]["offset"] + j[3]["raw_size"] == (disk - 33 * 512) // 4096 * 4096
    t = sfdisk_table(img)
    assert t["lastlba"] == disk // 512 - 34
    subprocess.run(["sfdisk", "-V", str(img)], check=True, capture_output=True)
    subprocess.run(["fsck.ext4", "-fn", f"{img}?offset={j[3]['offset']}"], capture_output=True)

    # systemd-repart does the same to the same disk
    theirs = write_defs(tmp_path / "theirs", seed_defs(tree, esp_tree, esp_copy=False, **sizes))
    rr = systemd_repart(f"--definitions={theirs}", f"--seed={SEED}", "--dry-run=no", "--json=short", ref)
    assert sfdisk_table(img) == sfdisk_table(ref)
    assert without_node(j) == without_node(json.loads(rr.stdout))  # incl. old/raw sizes and paddings
    assert [p["node"] for p in j] == [f"{img}{n}" for n in range(1, 5)]  # absolute, as systemd-repart

    # slot A and the ESP were not touched
    with open(img, "rb") as fa, open(orig, "rb") as fo:
        for p in j[:2]:
            fa.seek(p["offset"])
            fo.seek(p["offset"])
            assert fa.read(p["raw_size"]) == fo.read(p["raw_size"])

    # running again changes nothing
    r = abota("repart", f"--definitions={later}", f"--seed={SEED}", "--dry-run=no", "--json=short", img)
    assert [p["activity"] for p in json.loads(r.stdout)] == ["unchanged"] * 4


def test_foreign_partitions_and_gaps(abota, tmp_path):
    """Partitions no definition claims stay; new ones go into the smallest gap that fits them,
    as systemd-repart 252 places them."""
    defs = write_defs(tmp_path / "defs", {"10-a.conf": "Type=root\nSizeMinBytes=30M\nSizeMaxBytes=30M",
                                          "20-b.conf": "Type=swap\nSizeMinBytes=4M\nSizeMaxBytes=4M"})
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    for f in (a, b):
        f.write_bytes(b"")
        os.truncate(f, 100 * MiB)
        subprocess.run(["sfdisk", "-q", str(f)], check=True, text=True,
                       input="label: gpt\nlabel-id: 11111111-2222-4333-8444-555555555555\n"
                             "start=2048, size=20480, type=linux, uuid=11111111-2222-4333-8444-000000000001\n"
                             "start=30720, size=20480, type=linux, uuid=11111111-2222-4333-8444-000000000002\n")
    r = abota("repart", f"--definitions={defs}", f"--seed={SEED}", "--dry-run=no", "--json=short", a)
    rb = systemd_repart(f"--definitions={defs}", f"--seed={SEED}", "--dry-run=no", "--json=short", b)
    assert sfdisk_table(a) == sfdisk_table(b)
    assert without_node(json.loads(r.stdout)) == without_node(json.loads(rb.stdout))
    j = json.loads(r.stdout)
    assert [(p["file"], p["node"][-1], p["activity"]) for p in j] == [
        ("10-a.conf", "4", "create"), ("20-b.conf", "3", "create"), ("-", "1", "unchanged"), ("-", "2", "unchanged")]
    assert j[1]["offset"] == 11 * MiB


def test_existing_partition_grows(abota, tmp_path):
    """A disk that got bigger: the last partition, with weight and no maximum, grows in place
    (activity resize); its start and data stay."""
    defs = write_defs(tmp_path / "defs", {"10-a.conf": "Type=root\nSizeMinBytes=20M\nSizeMaxBytes=20M",
                                          "20-b.conf": "Type=var\nSizeMinBytes=10M"})
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    abota("repart", "--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={defs}", "--dry-run=no", a)
    with open(a, "r+b") as f:
        f.seek(21 * MiB)
        f.write(b"var data")
    subprocess.run(["cp", "--sparse=always", str(a), str(b)], check=True)
    r = abota("repart", f"--definitions={defs}", "--dry-run=no", "--size=100M", "--json=short", a)
    rb = systemd_repart(f"--definitions={defs}", "--dry-run=no", "--size=100M", "--json=short", b)
    j = json.loads(r.stdout)
    assert [p["activity"] for p in j] == ["unchanged", "resize"]
    assert j[1]["offset"] == 21 * MiB and j[1]["old_size"] == 10 * MiB
    assert j[1]["offset"] + j[1]["raw_size"] == (100 * MiB - 33 * 512) // 4096 * 4096
    assert a.stat().st_size == 100 * MiB
    assert sfdisk_table(a) == sfdisk_table(b)
    assert without_node(j) == without_node(json.loads(rb.stdout))
    with open(a, "rb") as f:
        f.seek(21 * MiB)
        assert f.read(8) == b"var data"


def test_copy_blocks(abota, tmp_path):
    payload = os.urandom(3 * MiB + 512)
    (tmp_path / "blob.img").write_bytes(payload)
    defs = write_defs(tmp_path / "defs", {"10-a.conf": f"Type=linux-generic\nCopyBlocks={tmp_path}/blob.img\n"
                                                      "SizeMinBytes=1M",
                                          "20-b.conf": f"Type=linux-generic\nCopyBlocks={tmp_path}/blob.img\n"
                                                      "SizeMaxBytes=2M"})
    img = tmp_path / "a.raw"
    r = build(abota, defs, img, check=False)
    assert r.returncode != 0 and "20-b.conf: needs at least 3.0 MiB, more than SizeMaxBytes= (2.0 MiB)" in r.stderr
    (defs / "20-b.conf").unlink()
    # without content, the default 10 MiB minimum beats a smaller maximum (as in systemd-repart)
    write_defs(defs, {"30-c.conf": "Type=linux-generic\nSizeMaxBytes=2M"})
    j = json.loads(build(abota, defs, img, "--json=short").stdout)
    assert j[0]["raw_size"] == 3 * MiB + 4096  # the payload, rounded up to the grain
    assert j[1]["raw_size"] == 10 * MiB
    with open(img, "rb") as f:
        f.seek(j[0]["offset"])
        assert f.read(j[0]["raw_size"]) == payload + b"\0" * (4096 - 512)


def test_root(abota, tmp_path):
    """--root: definitions from ROOT/usr/lib/repart.d (ROOT/etc/repart.d overrides by name),
    CopyFiles= below ROOT, the seed from ROOT/etc/machine-id, specifiers from its os-release."""
    root = tmp_path / "root"
    write_defs(root / "usr/lib/repart.d", {"10-usr.conf": "Type=usr\nFormat=squashfs\nCopyFiles=/payload:/\n"
                                                          "Label=usr_%A\nMinimize=best",
                                           "20-var.conf": "Type=var\nLabel=masked-by-etc"})
    write_defs(root / "etc/repart.d", {"20-var.conf": "Type=var\nLabel=var\nSizeMinBytes=4M"})
    (root / "payload").mkdir()
    (root / "payload" / "hello").write_text("hi\n")
    (root / "etc" / "machine-id").write_text(SEED.replace("-", "") + "\n")
    (root / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=7\n")
    img = tmp_path / "a.raw"
    j = json.loads(abota("repart", f"--root={root}", "--empty=create", "--size=auto", "--dry-run=no",
                         "--json=short", img, env=env_epoch()).stdout)
    assert [(p["label"], p["uuid"]) for p in j] == [
        ("usr_7", "59625be4-083f-48ee-a96e-c3f4a409474e"),  # seed = machine-id
        ("var", "f1877a66-e705-4666-b185-f88d7ea08253")]
    assert j[1]["raw_size"] == 4 * MiB
    with open(img, "rb") as f:
        f.seek(j[0]["offset"])
        part = f.read(j[0]["raw_size"])
    (tmp_path / "usr.sqfs").write_bytes(part)
    cat = subprocess.run(["unsquashfs", "-cat", str(tmp_path / "usr.sqfs"), "hello"], check=True,
                         capture_output=True, text=True).stdout
    assert cat == "hi\n"


def test_first_boot_on_block_device(abota, tmp_path, tree, esp_tree):
    """First boot on a real device (a loop device over the image): partitions added, nodes named
    LOOPpN, stale signatures in the new empty slot gone, the new data partition formatted."""
    sizes = dict(esp="40M", slot="64M")
    full = seed_defs(tree, esp_tree, **sizes)
    first = write_defs(tmp_path / "first", {k: v for k, v in full.items() if k < "30"})
    later = write_defs(tmp_path / "later", full)
    img = tmp_path / "disk.raw"
    j0 = json.loads(build(abota, first, img, "--json=short").stdout)
    os.truncate(img, 400 * MiB)
    slot_b = j0[1]["offset"] + 64 * MiB
    with open(img, "r+b") as f:  # an old ext4 superblock where slot B will be
        f.seek(slot_b + 1024 + 0x38)
        f.write(b"\x53\xef")
    p = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"no loop devices here: {p.stderr.strip()}")
    loop = p.stdout.strip()
    try:
        r = abota("repart", f"--definitions={later}", f"--seed={SEED}", "--dry-run=no", "--json=short", loop,
                  env=env_epoch())
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)
    j = json.loads(r.stdout)
    assert [p["node"] for p in j] == [f"{loop}p{n}" for n in range(1, 5)]
    assert [p["activity"] for p in j] == ["unchanged", "unchanged", "create", "create"]
    assert j[2]["offset"] == slot_b
    with open(img, "rb") as f:
        f.seek(slot_b)
        assert f.read(MiB) == b"\0" * MiB
    subprocess.run(["sfdisk", "-V", str(img)], check=True, capture_output=True)
    data = tmp_path / "data.ext4"
    with open(img, "rb") as f:
        f.seek(j[3]["offset"])
        data.write_bytes(f.read(j[3]["raw_size"]))
    subprocess.run(["fsck.ext4", "-fn", str(data)], check=True, capture_output=True)


def test_empty_modes(abota, tmp_path):
    defs = write_defs(tmp_path / "defs", {"10-root.conf": "Type=root"})
    img = tmp_path / "blank.raw"
    img.write_bytes(b"")
    os.truncate(img, 64 * MiB)
    r = abota("repart", f"--definitions={defs}", "--dry-run=no", img, check=False)
    assert r.returncode != 0 and "has no GPT disk label" in r.stderr
    abota("repart", f"--definitions={defs}", "--dry-run=no", "--empty=allow", f"--seed={SEED}", img)
    assert sfdisk_table(img)["partitions"][0]["size"] == (64 * MiB - MiB - 20480) // 512 // 8 * 8
    r = abota("repart", f"--definitions={defs}", "--dry-run=no", "--empty=require", img, check=False)
    assert r.returncode != 0 and "already has a GPT" in r.stderr
    r = abota("repart", f"--definitions={defs}", "--dry-run=no", "--empty=create", "--size=auto", img, check=False)
    assert r.returncode != 0 and "exists" in r.stderr
    abota("repart", f"--definitions={defs}", "--dry-run=no", "--empty=force", "--size=32M", f"--seed={SEED}", img)
    assert img.stat().st_size == 32 * MiB
    # force on a new path creates the file; a failed run removes it again
    new = tmp_path / "new.raw"
    r = abota("repart", f"--definitions={defs}", "--dry-run=no", "--empty=force", new, check=False)
    assert r.returncode != 0 and f"{new}: the image is empty, give --size=" in r.stderr
    assert not new.exists()
    # ... but never a file that was there before
    r = abota("repart", f"--definitions={defs}", "--dry-run=no", "--empty=force", "--size=1M", img, check=False)
    assert r.returncode != 0
    assert img.stat().st_size == 32 * MiB


def test_bad_definitions(abota, tmp_path):
    defs = write_defs(tmp_path / "defs", {"10-a.conf": "Type=root\nFrobnicate=yes\nSizeMinBytes=2M"})
    r = abota("repart", f"--definitions={defs}", "--empty=create", "--size=auto", tmp_path / "a.raw")
    assert f"{defs}/10-a.conf:3: unknown key Frobnicate=" in r.stderr
    write_defs(defs, {"10-a.conf": "Type=nonsense"})
    r = abota("repart", f"--definitions={defs}", "--empty=create", "--size=auto", tmp_path / "b.raw", check=False)
    assert r.returncode != 0 and "10-a.conf:2: Type=nonsense: unknown partition type" in r.stderr
    write_defs(defs, {"10-a.conf": "Type=root\nSizeMinBytes=2G\nSizeMaxBytes=1G"})
    r = abota("repart", f"--definitions={defs}", "--empty=create", "--size=auto", tmp_path / "b.raw", check=False)
    assert r.returncode != 0 and "SizeMinBytes= is larger than SizeMaxBytes=" in r.stderr


@pytest.mark.parametrize("body", ["[Partition]\nLabel=_empty\nSizeMinBytes=16M\n",
                                  "[Partiton]\nType=linux-generic\nLabel=_empty\nSizeMinBytes=16M\n"])
def test_type_required_as_systemd_repart(abota, tmp_path, body):
    """A partition without Type= (or with a misspelt section) is refused, as by systemd-repart 252,
    instead of silently becoming a linux-generic partition; no image is written."""
    d = tmp_path / "defs"
    d.mkdir()
    (d / "10-a.conf").write_text("[Partition]\nType=linux-generic\nLabel=store_1\nSizeMinBytes=16M\n")
    (d / "20-b.conf").write_text(body)
    p = subprocess.run(["systemd-repart", f"--definitions={d}", "--empty=create", "--size=auto", "--dry-run=no",
                        tmp_path / "sd.raw"], capture_output=True, text=True)
    assert p.returncode != 0 and "Type= not defined, refusing." in p.stderr
    r = build(abota, d, tmp_path / "disk.raw", check=False)
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == (f"abota: {d}/20-b.conf: Type= not defined, refusing "
                                         "(every partition needs one, e.g. Type=linux-generic)")
    assert not (tmp_path / "disk.raw").exists()


def test_strict_turns_warnings_into_errors(abota, tmp_path):
    d = write_defs(tmp_path / "defs", {"10-a.conf": "Type=linux-generic\nLabel=a\nSizeMinBytes=16M\nSizeMinByte=1G\n"})
    r = build(abota, d, tmp_path / "disk.raw")
    assert "unknown key SizeMinByte=, ignoring" in r.stderr
    assert (tmp_path / "disk.raw").exists()
    r = build(abota, d, tmp_path / "strict.raw", "--strict", check=False)
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == "abota: --strict: 1 warning(s) about the repart.d definitions, refusing"
    assert not (tmp_path / "strict.raw").exists()
    # clean definitions pass with --strict
    d2 = write_defs(tmp_path / "defs2", {"10-a.conf": "Type=linux-generic\nLabel=a\nSizeMinBytes=16M\n"})
    build(abota, d2, tmp_path / "clean.raw", "--strict")
