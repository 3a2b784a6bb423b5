# SPDX-License-Identifier: LGPL-2.1-or-later
"""abota repart never harms what is on a disk: existing partitions never shrink, CopyFiles= into
vfat does not follow links out of the source tree, small vfat partitions work, huge sizes are
refused, and the table is written contents -> backup -> primary with an fsync after each.
Where systemd-repart 252 can run the same case, it runs side by side."""
import json
import shutil
import subprocess

from test_repart import MiB, SEED, esp_tree, sfdisk_table, systemd_repart, without_node, write_defs  # noqa: F401


def make_disk(abota, defs, img, size="64M"):
    abota("repart", "--empty=create", f"--size={size}", f"--seed={SEED}", f"--definitions={defs}",
          "--dry-run=no", img)


def test_existing_partition_never_shrinks(abota, tmp_path):
    """A release that tightens SizeMaxBytes= below what a device already has: the partition (and
    its file system) keeps its size; as in systemd-repart 252 it only ever grows, to the
    definition's minimum (10 MiB by default)."""
    defs = tmp_path / "defs"
    for current, expect in ((16, "unchanged"), (8, "resize")):
        write_defs(defs, {"10-data.conf": f"Type=linux-generic\nLabel=data\nFormat=ext4\n"
                                          f"SizeMinBytes={current}M\nSizeMaxBytes={current}M"})
        a, b = tmp_path / f"a{current}.raw", tmp_path / f"b{current}.raw"
        make_disk(abota, defs, a)
        shutil.copy(a, b)
        write_defs(defs, {"10-data.conf": "Type=linux-generic\nLabel=data\nFormat=ext4\nSizeMaxBytes=4M"})
        r = abota("repart", f"--definitions={defs}", "--dry-run=no", "--json=short", a)
        rb = systemd_repart(f"--definitions={defs}", "--dry-run=no", "--json=short", b)
        j = json.loads(r.stdout)
        assert j[0]["activity"] == expect, j
        assert j[0]["raw_size"] == max(current, 10) * MiB
        assert without_node(j) == without_node(json.loads(rb.stdout))
        assert sfdisk_table(a) == sfdisk_table(b)
        # the file system still fits its partition
        start = sfdisk_table(a)["partitions"][0]["start"] * 512
        part = tmp_path / "part.img"
        with open(a, "rb") as f, open(part, "wb") as o:
            f.seek(start)
            o.write(f.read(j[0]["raw_size"]))
        subprocess.run(["e2fsck", "-fn", str(part)], check=True, capture_output=True)


def test_huge_sizes_refused(abota, tmp_path):
    """Sizes near 2^64 are refused naming FILE:LINE; none is read as "unset" or overflows."""
    for key, value in (("SizeMinBytes", "18446744073709551615"), ("SizeMaxBytes", "18446744073709551614"),
                       ("PaddingMinBytes", "18446744073709551615"), ("PaddingMaxBytes", "16E"),
                       ("SizeMinBytes", "5E")):
        defs = write_defs(tmp_path / f"defs-{key}-{value}",
                          {"10-a.conf": f"Type=linux-generic\n{key}={value}"})
        img = tmp_path / "x.raw"
        r = abota("repart", "--empty=create", "--size=auto", f"--definitions={defs}", "--dry-run=no", img,
                  check=False)
        assert r.returncode != 0, (key, value, r)
        assert f"{defs}/10-a.conf:3: {key}={value}: too large" in r.stderr, r.stderr
        assert not img.exists()
    # below the limit, but two of them do not fit a file: one line naming the image
    defs = write_defs(tmp_path / "defs-sum", {"10-a.conf": "Type=linux-generic\nSizeMinBytes=4E",
                                              "20-b.conf": "Type=linux-generic\nSizeMinBytes=4E"})
    r = abota("repart", "--empty=create", "--size=auto", f"--definitions={defs}", "--dry-run=no",
              tmp_path / "y.raw", check=False)
    assert r.returncode != 0 and "y.raw: the image would be larger than a file can be" in r.stderr, r.stderr


def fat_geometry(image, offset):
    """(FAT bits by cluster count, bytes per cluster, clusters) of the vfat at offset."""
    with open(image, "rb") as f:
        f.seek(offset)
        b = f.read(512)
    le = lambda o, n: int.from_bytes(b[o:o + n], "little")  # noqa: E731
    bps, spc, reserved, fats = le(11, 2), b[13], le(14, 2), b[16]
    root = (le(17, 2) * 32 + bps - 1) // bps
    fat_size = le(22, 2) or le(36, 4)
    total = le(19, 2) or le(32, 4)
    clusters = (total - reserved - fats * fat_size - root) // spc
    bits = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
    return bits, bps * spc, clusters


def part_offset(image, n=0):
    return sfdisk_table(image)["partitions"][n]["start"] * 512


def test_small_vfat(abota, tmp_path, esp_tree):
    """The 10 MiB default ESP with files: systemd-repart 252 lays out the same GPT but formats an
    out-of-spec FAT32 (fewer than 65525 clusters: mtools cannot write it, fsck.fat warns, some
    firmware does not read it); abota makes the FAT16 that mkfs.vfat picks for the size. From
    about 33 MiB both make the same FAT32."""
    for size, bits in ((None, 16), ("40M", 32)):
        sizes = f"\nSizeMinBytes={size}\nSizeMaxBytes={size}" if size else ""
        ours = write_defs(tmp_path / f"ours{size}", {"10-esp.conf": f"Type=esp\nFormat=vfat\nCopyFiles={esp_tree}:/" + sizes})
        theirs = write_defs(tmp_path / f"theirs{size}", {"10-esp.conf": "Type=esp\nFormat=vfat" + sizes})
        a, b = tmp_path / f"a{size}.raw", tmp_path / f"b{size}.raw"
        abota("repart", "--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={ours}", "--dry-run=no", a)
        systemd_repart("--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={theirs}", "--dry-run=no", b)
        assert sfdisk_table(a) == sfdisk_table(b)
        off = part_offset(a)
        got, ref = fat_geometry(a, off), fat_geometry(b, off)
        assert got[0] == bits, got
        if bits == 32:
            assert got == ref
        else:
            assert ref[0] != 32 and ref[2] < 65525  # 252's FAT32 that is not one
        part = tmp_path / "esp.img"
        with open(a, "rb") as f, open(part, "wb") as o:
            f.seek(off)
            o.write(f.read(sfdisk_table(a)["partitions"][0]["size"] * 512))
        fsck = subprocess.run(["fsck.fat", "-n", str(part)], capture_output=True, text=True)
        assert fsck.returncode == 0 and "Warning" not in fsck.stdout + fsck.stderr, fsck
        got_file = subprocess.run(["mtype", "-i", str(part), "::/loader/loader.conf"], check=True,
                                  capture_output=True, text=True).stdout
        assert got_file == "timeout 0\n"


def test_vfat_too_small_names_minimum(abota, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(b"\x5a" * (3 * MiB))
    defs = write_defs(tmp_path / "defs", {"10-esp.conf": f"Type=esp\nFormat=vfat\nCopyFiles={src}:/\n"
                                                         "SizeMinBytes=2M\nSizeMaxBytes=2M"})
    img = tmp_path / "a.raw"
    r = abota("repart", "--empty=create", "--size=auto", f"--definitions={defs}", "--dry-run=no", img, check=False)
    assert r.returncode != 0 and not img.exists()
    line = [x for x in r.stderr.splitlines() if "needs at least" in x]
    assert line and "10-esp.conf: the files do not fit into a vfat of 2.0 MiB" in line[0], r.stderr
    need = int(line[0].rsplit("SizeMinBytes=", 1)[1].rstrip(")"))
    assert 3 * MiB < need < 4 * MiB and need % 4096 == 0
    # the named minimum works, 4 KiB less does not
    for size, ok in ((need, True), (need - 4096, False)):
        write_defs(defs, {"10-esp.conf": f"Type=esp\nFormat=vfat\nCopyFiles={src}:/\n"
                                         f"SizeMinBytes={size}\nSizeMaxBytes={size}"})
        r = abota("repart", "--empty=create", "--size=auto", f"--definitions={defs}", "--dry-run=no", img,
                  check=False)
        assert (r.returncode == 0) == ok, r
        img.unlink(missing_ok=True)


def test_vfat_links_out_of_tree_refused(abota, tmp_path, esp_tree):
    """A link in a CopyFiles= tree that leads to a host file is refused, naming it; ext4 keeps
    links as links; a link within the tree is copied as what it points to."""
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    for name, target in (("leak", str(secret)), ("up", "../../../../../../../../etc/hostname")):
        (esp_tree / "EFI" / name).symlink_to(target)
        # 40 MiB: a FAT32 that mtools could always fill, so only the link decides
        defs = write_defs(tmp_path / f"defs-{name}", {"10-esp.conf": f"Type=esp\nFormat=vfat\nCopyFiles={esp_tree}:/\n"
                                                                     "SizeMinBytes=40M\nSizeMaxBytes=40M"})
        img = tmp_path / "a.raw"
        r = abota("repart", "--empty=create", "--size=auto", f"--definitions={defs}", "--dry-run=no", img,
                  check=False)
        assert r.returncode != 0 and not img.exists(), r
        assert f"10-esp.conf: CopyFiles=: refusing /EFI/{name} -> {target}" in r.stderr, r.stderr
        (esp_tree / "EFI" / name).unlink()
    (esp_tree / "EFI" / "inside").symlink_to("../loader/loader.conf")
    img = tmp_path / "b.raw"
    r = abota("repart", "--empty=create", "--size=auto", f"--definitions={defs}", "--dry-run=no", img)
    part = tmp_path / "esp.img"
    with open(img, "rb") as f, open(part, "wb") as o:
        f.seek(part_offset(img))
        o.write(f.read(40 * MiB))
    assert subprocess.run(["mtype", "-i", str(part), "::/EFI/inside"], check=True, capture_output=True,
                          text=True).stdout == "timeout 0\n"
