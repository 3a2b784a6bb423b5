# SPDX-License-Identifier: LGPL-2.1-or-later
"""First-boot growth of a disk by `abota repart` is crash-safe: the new partitions' contents are
synced before the backup table, the backup table before the primary one; killed at any of its
data-changing system calls (the LD_PRELOAD shim of tests/helpers/syscall_shim.c), the disk holds
the old table or the new one, the existing partitions are untouched, and a rerun converges."""
import json
import os
import shutil
import signal
import subprocess

import pytest

from syscall_shim import build_shim, read_log, shim_env
from test_repart import MiB, SEED, env_epoch, sfdisk_table, write_defs

DISK = 64 * MiB


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture
def grown(abota, tmp_path):
    """A seed image (ESP with files, store_1 with a pattern) copied onto a larger disk, and the
    definitions of first boot: an _empty slot and a data ext4 filling the rest."""
    esp = tmp_path / "esp"
    (esp / "EFI" / "BOOT").mkdir(parents=True)
    (esp / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(b"MZ" + bytes(range(256)) * 40)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "os-release").write_text("ID=appliance\n")
    seed = {"10-esp.conf": f"Type=esp\nFormat=vfat\nCopyFiles={esp}:/\nSplitName=-",
            "20-store.conf": "Type=linux-generic\nLabel=store_1\nSizeMinBytes=4M\nSizeMaxBytes=4M"}
    later = dict(seed)
    later["30-empty.conf"] = "Type=linux-generic\nLabel=_empty\nSizeMinBytes=4M\nSizeMaxBytes=4M"
    later["40-data.conf"] = f"Type=linux-generic\nLabel=data\nFormat=ext4\nCopyFiles={etc}:/etc\nMakeDirectories=/var/lib"
    first, defs = write_defs(tmp_path / "first", seed), write_defs(tmp_path / "later", later)
    img = tmp_path / "seed.raw"
    abota("repart", "--empty=create", "--size=auto", f"--seed={SEED}", f"--definitions={first}", "--dry-run=no",
          img, env=env_epoch())
    store = sfdisk_table(img)["partitions"][1]
    with open(img, "r+b") as f:
        f.seek(store["start"] * 512)
        f.write(bytes(range(251)) * (4 * MiB // 251))
    with open(img, "r+b") as f:
        f.truncate(DISK)
    return img, defs


def run(abota_bin, defs, img, env):
    return subprocess.run([abota_bin, "repart", f"--definitions={defs}", f"--seed={SEED}", "--dry-run=no",
                           "--json=short", str(img)], capture_output=True, text=True, env=env)


def regions(log, img, size):
    """The image's writes and syncs in order: 'content', 'backup' (the last 33 sectors),
    'primary' (the first 34), 'sync'."""
    out = []
    for _, call, path, off, length in log:
        if path != str(img):
            continue
        if call in ("fsync", "fdatasync"):
            out.append("sync")
        elif call in ("pwrite", "write", "copy_file_range", "fallocate"):
            out.append("primary" if off < 34 * 512 else "backup" if off + length > size - 33 * 512 else "content")
    return out


def test_table_write_order(abota_bin, grown, shim, tmp_path):
    img, defs = grown
    log = tmp_path / "calls.log"
    r = run(abota_bin, defs, img, shim_env(shim, CRASH_LOG_FILE=log, CRASH_SELF_ONLY=1))
    assert r.returncode == 0, r.stderr
    seq = regions(read_log(log), img, DISK)
    # collapse runs: content, sync, backup, sync, primary, sync, nothing else
    steps = [s for i, s in enumerate(seq) if i == 0 or seq[i - 1] != s]
    assert steps == ["content", "sync", "backup", "sync", "primary", "sync"], steps


def partition_bytes(img, p):
    with open(img, "rb") as f:
        f.seek(p["start"] * 512)
        return f.read(p["size"] * 512)


def test_kill_at_every_call_of_first_boot(abota, abota_bin, grown, shim, tmp_path):
    img, defs = grown
    old = sfdisk_table(img)
    kept = [partition_bytes(img, p) for p in old["partitions"]]

    ref = tmp_path / "ref.raw"
    shutil.copy(img, ref)
    count = tmp_path / "count"
    r = run(abota_bin, defs, ref, shim_env(shim, CRASH_COUNT_FILE=count, CRASH_SELF_ONLY=1))
    assert r.returncode == 0, r.stderr
    new = sfdisk_table(ref)
    assert len(new["partitions"]) == 4
    total = int(count.read_text())
    assert total >= 10, total

    outcomes = {"old": 0, "new": 0}
    work = tmp_path / "kill.raw"
    for n in range(1, total + 1):
        shutil.copy(img, work)
        r = run(abota_bin, defs, work, shim_env(shim, CRASH_KILL_AT=n, CRASH_SELF_ONLY=1))
        assert r.returncode == -signal.SIGKILL, (n, r.returncode, r.stderr)
        t = sfdisk_table(work)
        state = "old" if t == old else "new" if t == new else None
        assert state, (n, t)
        outcomes[state] += 1
        for p, data in zip(old["partitions"], kept):
            assert partition_bytes(work, p) == data, n
        # a rerun converges on the table of an uninterrupted run, and a third run has nothing to do
        run_ok = run(abota_bin, defs, work, None)
        assert run_ok.returncode == 0, (n, run_ok.stderr)
        assert sfdisk_table(work) == new, n
        data = new["partitions"][3]
        subprocess.run(["e2fsck", "-fn", f"{work}?offset={data['start'] * 512}"], check=True, capture_output=True)
        j = json.loads(run(abota_bin, defs, work, None).stdout)
        assert [p["activity"] for p in j] == ["unchanged"] * 4, n
    print(f"\nkill points: {total} (disk kept the old table after {outcomes['old']}, the new one after "
          f"{outcomes['new']})")


def test_kernel_sees_new_partitions_while_one_is_mounted(abota, tmp_path):
    """At first boot the running system is mounted from the disk: the kernel refuses to reread
    the table (EBUSY); the new partitions are announced one by one (BLKPG) instead."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "os-release").write_text("ID=appliance\n")
    root = f"Type=root\nFormat=ext4\nCopyFiles={etc}:/etc\nSizeMinBytes=8M\nSizeMaxBytes=8M"
    first = write_defs(tmp_path / "first", {"10-root.conf": root})
    later = write_defs(tmp_path / "later", {"10-root.conf": root,
                                            "20-data.conf": "Type=linux-generic\nLabel=data\nSizeMinBytes=4M"})
    img = tmp_path / "disk.raw"
    abota("repart", "--empty=create", "--size=32M", f"--seed={SEED}", f"--definitions={first}", "--dry-run=no", img)
    p = subprocess.run(["losetup", "-f", "--show", "-P", str(img)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"no loop devices here: {p.stderr.strip()}")
    loop = p.stdout.strip()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    name = loop.rsplit("/", 1)[1]
    try:
        # a kernel without GPT support (as on some CI hosts) is told about p1 by partx (BLKPG)
        if not os.path.exists(f"/sys/class/block/{name}p1"):
            subprocess.run(["partx", "-a", loop], check=True)
        subprocess.run(["mount", "-o", "ro", f"{loop}p1", str(mnt)], check=True)
        try:
            r = abota("repart", f"--definitions={later}", f"--seed={SEED}", "--dry-run=no", "--json=short", loop)
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
        j = json.loads(r.stdout)
        assert [p["activity"] for p in j] == ["unchanged", "create"]
        sysfs = f"/sys/class/block/{name}p2"
        with open(f"{sysfs}/start") as f, open(f"{sysfs}/size") as g:
            assert (int(f.read()) * 512, int(g.read()) * 512) == (j[1]["offset"], j[1]["raw_size"])
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)
