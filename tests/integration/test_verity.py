# SPDX-License-Identifier: LGPL-2.1-or-later
"""abota repart Verity=data|hash: the GPT layout equals systemd-repart 252's for the same
definitions and seed, both tools' verity UUIDs are the halves of their root hashes, abota's
images are byte-identical from run to run (252 salts at random), and veritysetup (cryptsetup-bin,
no device-mapper needed for format/verify) accepts the split payloads with the reported root
hash, and refuses them after one flipped byte. The data partitions are CopyBlocks= from a
prebuilt squashfs so the compared bytes do not depend on mkfs."""
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from agent_env import Server

SEED = "0867da16-f251-457d-a9e8-c31f9a3c220b"
MiB = 1024 * 1024


def run(*args, check=True):
    p = subprocess.run([*map(str, args)], capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def write_defs(d: Path, defs: dict):
    d.mkdir(parents=True, exist_ok=True)
    for name, body in defs.items():
        (d / name).write_text("[Partition]\n" + body.strip() + "\n")
    return d


@pytest.fixture
def squashfs(tmp_path):
    t = tmp_path / "tree"
    (t / "etc").mkdir(parents=True)
    (t / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=1\n")
    (t / "etc" / "blob").write_bytes(bytes(range(256)) * 600)
    out = tmp_path / "store.squashfs"
    run("mksquashfs", t, out, "-noappend", "-quiet", "-all-root", "-mkfs-time", "0", "-all-time", "0")
    return out


def verity_defs(squashfs):
    """Two verity pairs (usr, root) around a plain partition, sizes fixed."""
    return {
        "10-usr.conf": f"Type=usr\nLabel=store_1\nVerity=data\nVerityMatchKey=usr\nCopyBlocks={squashfs}\n"
                       "SizeMinBytes=16M\nSizeMaxBytes=16M\nSplitName=store",
        "20-usr-verity.conf": "Type=usr-verity\nLabel=store-verity_1\nVerity=hash\nVerityMatchKey=usr\n"
                              "SizeMinBytes=2M\nSizeMaxBytes=2M\nSplitName=store-verity",
        "30-data.conf": "Type=linux-generic\nLabel=data\nSizeMinBytes=4M",
        "40-root.conf": f"Type=root\nVerity=data\nVerityMatchKey=root\nCopyBlocks={squashfs}\nSizeMinBytes=8M",
        "50-root-verity.conf": "Type=root-verity\nVerity=hash\nVerityMatchKey=root",
    }


def build(tool, defs, image, *extra, seed=SEED):
    """tool: the abota binary, or "systemd-repart"."""
    verb = [] if tool == "systemd-repart" else ["repart"]
    p = run(tool, *verb, "--empty=create", "--size=auto", f"--seed={seed}", f"--definitions={defs}",
            "--dry-run=no", "--json=short", *extra, image)
    return json.loads(p.stdout)


def sfdisk(image):
    t = json.loads(run("sfdisk", "--json", image).stdout)["partitiontable"]
    t.pop("device")
    for p in t["partitions"]:
        p["node"] = p["node"][len(str(image)):]
    return t


def hash_halves(j):
    """Checks that each pair's UUIDs are the two halves of the hash partition's roothash (the
    data partition reports null, as in systemd-repart 252); returns the root hashes by type."""
    by_type = {p["type"]: p for p in j}
    hashes = {}
    for kind in ("usr", "root"):
        data, hashp = by_type[f"{kind}-x86-64"], by_type[f"{kind}-x86-64-verity"]
        rh = hashp["roothash"]
        assert len(rh) == 64 and data["roothash"] is None
        assert data["uuid"] == str(uuid.UUID(rh[:32]))
        assert hashp["uuid"] == str(uuid.UUID(rh[32:]))
        hashes[kind] = rh
    assert by_type["linux-generic"]["roothash"] is None
    return hashes


def veritysetup_verify(data, hashf, roothash):
    return run("veritysetup", "verify", data, hashf, roothash, check=False).returncode


def test_layout_equals_systemd_repart(abota_bin, tmp_path, squashfs):
    defs = write_defs(tmp_path / "defs", verity_defs(squashfs))
    ours, theirs = tmp_path / "ours" / "img_1.raw", tmp_path / "theirs" / "img_1.raw"
    ours.parent.mkdir()
    theirs.parent.mkdir()
    a = build(abota_bin, defs, ours, "--split=yes")
    b = build("systemd-repart", defs, theirs, "--split=yes")

    # the same JSON apart from the UUIDs and root hashes of the verity partitions (252's salt is
    # random) and the split_path column that 252 does not have
    def strip(j):
        return [{k: v for k, v in p.items() if k not in ("node", "split_path") and
                 not (k in ("uuid", "roothash") and p["type"] != "linux-generic")} for p in j]
    assert strip(a) == strip(b)
    assert [p["roothash"] is None for p in a] == [p["roothash"] is None for p in b]
    assert ours.stat().st_size == theirs.stat().st_size

    # the same GPT: types, labels, offsets, sizes, flags; the UUIDs are each tool's root hash halves
    ta, tb = sfdisk(ours), sfdisk(theirs)
    assert [p["uuid"].lower() for p in ta["partitions"]] == [p["uuid"] for p in a]
    assert [p["uuid"].lower() for p in tb["partitions"]] == [p["uuid"] for p in b]
    for t in (ta, tb):
        for p in t["partitions"]:
            p.pop("uuid")
    assert ta == tb
    assert [p.get("attrs") for p in ta["partitions"]] == ["GUID:59", "GUID:60", None, "GUID:59", "GUID:60"]
    ha, hb = hash_halves(a), hash_halves(b)
    assert ha != hb

    # each image's hash trees verify with its own root hash (252's with 512-byte blocks, abota's
    # with 4096-byte blocks)
    for img, j in ((ours, a), (theirs, b)):
        by_type = {p["type"]: p for p in j}
        usr, usr_hash = by_type["usr-x86-64"], by_type["usr-x86-64-verity"]
        assert veritysetup_verify(img.parent / "img_1.store.raw", img.parent / "img_1.store-verity.raw",
                                  usr_hash["roothash"]) == 0
        root, root_hash = by_type["root-x86-64"], by_type["root-x86-64-verity"]
        assert veritysetup_verify(img.parent / "img_1.root-x86-64.raw",
                                  img.parent / "img_1.root-x86-64-verity.raw", root_hash["roothash"]) == 0
        assert usr.get("split_path", str(img.parent / "img_1.store.raw")) == str(img.parent / "img_1.store.raw")
    dump = run("veritysetup", "dump", ours.parent / "img_1.store-verity.raw").stdout
    assert "Data block size: \t4096" in dump and "Hash block size: \t4096" in dump and "sha256" in dump


def test_flags_of_verity_types_equal_systemd_repart(abota_bin, tmp_path):
    """Without Verity=, the verity types are read-only by default (not the -sig types), as in 252."""
    defs = write_defs(tmp_path / "defs", {"10.conf": "Type=usr-verity-sig", "20.conf": "Type=root-verity",
                                          "30.conf": "Type=root-verity\nReadOnly=no", "40.conf": "Type=usr"})
    a = build(abota_bin, defs, tmp_path / "a.raw")
    b = build("systemd-repart", defs, tmp_path / "b.raw")
    assert [{k: v for k, v in p.items() if k != "node"} for p in a] == \
           [{k: v for k, v in p.items() if k != "node"} for p in b]
    assert sfdisk(tmp_path / "a.raw") == sfdisk(tmp_path / "b.raw")


def test_reproducible(abota_bin, tmp_path, squashfs):
    defs = write_defs(tmp_path / "defs", verity_defs(squashfs))
    outs = []
    for n in ("1", "2"):
        (tmp_path / n).mkdir()
        outs.append(build(abota_bin, defs, tmp_path / n / "img.raw", "--split=yes"))
    def strip(j):
        return [{k: v for k, v in p.items() if k not in ("node", "split_path")} for p in j]
    assert strip(outs[0]) == strip(outs[1])
    hash_halves(outs[0])
    assert [p["uuid"] for p in outs[0]] == [p["uuid"] for p in outs[1]]
    names = sorted(f.name for f in (tmp_path / "1").iterdir())
    assert names == sorted(f.name for f in (tmp_path / "2").iterdir()) and len(names) == 6
    for name in names:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
    # another seed: another salt, so other root hashes and UUIDs
    (tmp_path / "3").mkdir()
    other = build(abota_bin, defs, tmp_path / "3" / "img.raw", seed="f0a2f4b0-3c9d-4c6b-9a5e-9d0f3a7c1e22")
    assert hash_halves(other) != hash_halves(outs[0])


def test_split_payloads_verify(abota_bin, tmp_path, squashfs):
    defs = write_defs(tmp_path / "defs", verity_defs(squashfs))
    img = tmp_path / "img_1.raw"
    j = build(abota_bin, defs, img, "--split=yes")
    rh = hash_halves(j)["usr"]
    data, hashf = tmp_path / "img_1.store.raw", tmp_path / "img_1.store-verity.raw"
    assert data.stat().st_size == 16 * MiB and hashf.stat().st_size == 2 * MiB
    assert data.read_bytes()[:squashfs.stat().st_size] == squashfs.read_bytes()
    assert veritysetup_verify(data, hashf, rh) == 0

    # the hash area is what `veritysetup format` writes for the same salt and superblock UUID
    dump = dict(line.split(":", 1) for line in run("veritysetup", "dump", hashf).stdout.splitlines() if ":" in line)
    ref = tmp_path / "ref.hash"
    out = run("veritysetup", "format", "--data-block-size=4096", "--hash-block-size=4096",
              f"--salt={dump['Salt'].strip()}", f"--uuid={dump['UUID'].strip()}", data, ref).stdout
    assert f"Root hash:      \t{rh}" in out
    tree = ref.read_bytes()
    assert hashf.read_bytes() == tree + b"\0" * (2 * MiB - len(tree))

    # one flipped byte, in the data or in the tree, and verify fails
    for f, off in ((data, 5 * MiB + 17), (data, squashfs.stat().st_size - 1), (hashf, 4096 + 3)):
        orig = f.read_bytes()
        flipped = bytearray(orig)
        flipped[off] ^= 0x01
        f.write_bytes(bytes(flipped))
        assert veritysetup_verify(data, hashf, rh) != 0, (f.name, off)
        f.write_bytes(orig)
    assert veritysetup_verify(data, hashf, rh) == 0
    wrong = ("0" if rh[0] != "0" else "1") + rh[1:]
    assert veritysetup_verify(data, hashf, wrong) != 0


def test_split_name_has_the_final_uuid(abota_bin, tmp_path, squashfs):
    """SplitName=%U names the payload by the partition UUID that the root hash gives (the name a
    sysupdate.d transfer reads with @u), not the one derived from the seed before hashing."""
    defs = verity_defs(squashfs)
    defs["10-usr.conf"] = defs["10-usr.conf"].replace("SplitName=store", "SplitName=store_%U")
    defs["20-usr-verity.conf"] = defs["20-usr-verity.conf"].replace("SplitName=store-verity",
                                                                    "SplitName=store-verity_%U")
    d = write_defs(tmp_path / "defs", defs)
    j = build(abota_bin, d, tmp_path / "img_1.raw", "--split=yes")
    rh = hash_halves(j)["usr"]
    data, hashf = tmp_path / f"img_1.store_{rh[:32]}.raw", tmp_path / f"img_1.store-verity_{rh[32:]}.raw"
    assert [p["split_path"] for p in j[:2]] == [str(data), str(hashf)]
    assert veritysetup_verify(data, hashf, rh) == 0


TRANSFER = """[Transfer]
Verify=no

[Source]
Type=url-file
Path={url}
MatchPattern=appliance_@v.{name}_@u.raw

[Target]
Type=partition
Path=/disk.raw
MatchPartitionType={type}
MatchPattern={name}_@v
InstancesMax=2
ReadOnly=yes
"""


def test_publish_and_update_install_the_pair(abota, abota_bin, tmp_path):
    """The split pair of version 2 (named by @u, SplitName=NAME_%U), published by abota publish and
    installed by abota update into the _empty usr and usr-verity slots of a version 1 disk built by
    abota repart: the slots get the UUIDs from the payload names (the root hash halves) and
    veritysetup accepts the installed slots with version 2's root hash."""
    images = []
    for v in ("1", "2"):
        t = tmp_path / f"tree{v}"
        (t / "etc").mkdir(parents=True)
        (t / "etc" / "os-release").write_text(f"ID=appliance\nIMAGE_VERSION={v}\n")
        sq = tmp_path / f"store{v}.squashfs"
        run("mksquashfs", t, sq, "-noappend", "-quiet", "-all-root", "-mkfs-time", "0", "-all-time", "0")
        defs = {
            "10-usr.conf": f"Type=usr\nLabel=store_{v}\nVerity=data\nVerityMatchKey=usr\nCopyBlocks={sq}\n"
                           "SizeMinBytes=8M\nSizeMaxBytes=8M\nSplitName=store_%U",
            "20-usr-verity.conf": f"Type=usr-verity\nLabel=store-verity_{v}\nVerity=hash\nVerityMatchKey=usr\n"
                                  "SizeMinBytes=1M\nSizeMaxBytes=1M\nSplitName=store-verity_%U",
            "30-usr-empty.conf": "Type=usr\nLabel=_empty\nSizeMinBytes=8M\nSizeMaxBytes=8M\nSplitName=-",
            "40-usr-verity-empty.conf": "Type=usr-verity\nLabel=_empty\nSizeMinBytes=1M\nSizeMaxBytes=1M\n"
                                        "SplitName=-",
        }
        (tmp_path / f"build{v}").mkdir()
        images.append(build(abota_bin, write_defs(tmp_path / f"defs{v}", defs),
                            tmp_path / f"build{v}" / f"appliance_{v}.raw", "--split=yes"))
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=appliance\nIMAGE_ID=appliance\nIMAGE_VERSION=1\n")
    disk = root / "disk.raw"
    (tmp_path / "build1" / "appliance_1.raw").rename(disk)

    server = tmp_path / "server"
    server.mkdir()
    transfers = tmp_path / "sysupdate.d"
    transfers.mkdir()
    srv = Server(server, tmp_path).start()
    try:
        for name, t in (("store", "usr"), ("store-verity", "usr-verity")):
            (transfers / f"10-{name}.transfer").write_text(TRANSFER.format(url=srv.url, name=name, type=t))
        v2 = images[1]
        rh = v2[1]["roothash"]
        payloads = [tmp_path / "build2" / f"appliance_2.store_{rh[:32]}.raw",
                    tmp_path / "build2" / f"appliance_2.store-verity_{rh[32:]}.raw"]
        abota("publish", "--definitions", transfers, server, *payloads)
        # each partition payload with its block index and blocks
        assert sorted(p.name for p in server.iterdir()) == sorted(
            [f"{prefix}{p.name}" for p in payloads for prefix in ("", "@index@", "@blocks@")] + ["SHA256SUMS"])
        abota("update", "--definitions", transfers, "--root", root)
    finally:
        srv.stop()

    table = {p["name"]: p for p in sfdisk(disk)["partitions"]}
    assert set(table) == {"store_1", "store-verity_1", "store_2", "store-verity_2"}
    assert table["store_2"]["uuid"].lower() == str(uuid.UUID(rh[:32]))
    assert table["store-verity_2"]["uuid"].lower() == str(uuid.UUID(rh[32:]))
    parts = tmp_path / "installed"
    parts.mkdir()
    for label in ("store_2", "store-verity_2"):
        p = table[label]
        with open(disk, "rb") as f:
            f.seek(p["start"] * 512)
            (parts / label).write_bytes(f.read(p["size"] * 512))
    assert veritysetup_verify(parts / "store_2", parts / "store-verity_2", rh) == 0
    # version 1's pair is untouched and still verifies with its own root hash
    rh1 = images[0][1]["roothash"]
    assert table["store_1"]["uuid"].lower() == str(uuid.UUID(rh1[:32]))


@pytest.mark.parametrize("defs,message", [
    ({"10-usr.conf": "Type=usr\nVerity=data\nVerityMatchKey=usr\nSizeMinBytes=16M"},
     "10-usr.conf: Verity=data with VerityMatchKey=usr has no Verity=hash partner"),
    ({"10-usr.conf": "Type=usr\nVerity=data"}, "10-usr.conf: Verity=data needs VerityMatchKey="),
    ({"10-usr.conf": "Type=usr-verity-sig\nVerity=signature\nVerityMatchKey=usr"},
     "Verity=signature is not supported"),
    ({"10-usr.conf": "Type=usr\nVerity=data\nVerityMatchKey=usr\nSizeMinBytes=1G",
      "20-usr-verity.conf": "Type=usr-verity\nVerity=hash\nVerityMatchKey=usr\nSizeMinBytes=4K\nSizeMaxBytes=4K"},
     "20-usr-verity.conf: the hash tree of 10-usr.conf needs"),
    ({"10-a.conf": "Type=usr\nVerity=hash\nVerityMatchKey=usr\nFormat=ext4"},
     "10-a.conf: Verity=hash cannot be combined with"),
])
def test_bad_definitions(abota_bin, tmp_path, defs, message):
    d = write_defs(tmp_path / "defs", defs)
    img = tmp_path / "x.raw"
    p = run(abota_bin, "repart", "--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={d}",
            "--dry-run=no", img, check=False)
    assert p.returncode != 0 and message in p.stderr, p.stderr
    assert not img.exists()
