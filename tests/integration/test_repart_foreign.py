# SPDX-License-Identifier: LGPL-2.1-or-later
"""abota repart on foreign and odd disks, side by side with systemd-repart 252: every case below is
crafted byte by byte, then run through both tools with --empty=refuse, allow, require and force, on
an image file and on a loop device. Wherever systemd-repart refuses, abota refuses too and the disk
keeps every byte; where abota refuses, it writes nothing; where both go on, both write the same
partition table."""
import hashlib
import json
import os
import re
import struct
import subprocess
import uuid
import zlib

import pytest

from summary import summary as report_summary

MiB = 1024 * 1024
SIZE = 32 * MiB
SEED = "0867da16-f251-457d-a9e8-c31f9a3c220b"
LINUX = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4")
MODES = ("refuse", "allow", "require", "force")


def mbr(entries):
    """LBA 0 with the given (type, first LBA, sectors) entries and the 0x55AA signature."""
    b = bytearray(512)
    for i, (typ, start, n) in enumerate(entries):
        o = 446 + 16 * i
        b[o + 1:o + 4] = b"\x00\x02\x00"
        b[o + 4] = typ
        b[o + 5:o + 8] = b"\xff\xff\xff"
        struct.pack_into("<II", b, o + 8, start, n)
    b[510:512] = b"\x55\xaa"
    return bytes(b)


def pmbr(ss):
    return mbr([(0xEE, 1, SIZE // ss - 1)])


def write_gpt(f, ss, parts, primary=True, backup=True, n_entries=128):
    """A GPT of linux-generic partitions (slot, first LBA, last LBA), CRCs as the UEFI spec says."""
    nsec = SIZE // ss
    ents = bytearray(n_entries * 128)
    for slot, first, last in parts:
        struct.pack_into("<16s16sQQQ", ents, slot * 128, LINUX.bytes_le, uuid.UUID(int=slot + 1).bytes_le,
                         first, last, 0)
        ents[slot * 128 + 56:slot * 128 + 64] = f"p{slot}".encode("utf-16-le").ljust(8, b"\0")
    es = (len(ents) + ss - 1) // ss

    def header(my, alt, entries_lba):
        h = bytearray(struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, my, alt,
                                  max(2 + es, MiB // ss), nsec - 2 - es, b"disk-guid-foreig", entries_lba,
                                  n_entries, 128, zlib.crc32(ents)))
        struct.pack_into("<I", h, 16, zlib.crc32(h))
        return bytes(h)

    if primary:
        f.seek(ss)
        f.write(header(1, nsec - 1, 2))
        f.seek(2 * ss)
        f.write(ents)
    if backup:
        f.seek((nsec - 1 - es) * ss)
        f.write(ents)
        f.seek((nsec - 1) * ss)
        f.write(header(nsec - 1, 1, nsec - 1 - es))


def two(ss):
    """Two 4 MiB partitions from 1 MiB on, in slots 0 and 1."""
    return [(0, MiB // ss, 5 * MiB // ss - 1), (1, 5 * MiB // ss, 9 * MiB // ss - 1)]


def craft(f, name, ss):
    if name == "blank":
        return
    if name == "dos":
        f.write(mbr([(0x83, 2048, 8192), (0x83, 10240, 8192)]))
    elif name == "dos-stale-backup":  # a GPT disk relabelled dos: the old backup GPT is still at the end
        write_gpt(f, ss, two(ss), primary=False)
        f.seek(0)
        f.write(mbr([(0x83, 2048, 8192)]))
    elif name == "backup-only":  # LBA 0 and 1 wiped, the backup GPT left
        write_gpt(f, ss, two(ss), primary=False)
    elif name == "gpt-no-pmbr":
        write_gpt(f, ss, two(ss))
    elif name == "hybrid":  # 0xEE beside a dos entry for partition 1 (gdisk's hybrid MBR)
        f.write(mbr([(0xEE, 1, 2047), (0x83, 2048, 8192)]))
        write_gpt(f, ss, two(ss))
    else:
        f.write(pmbr(ss))
        if name in ("gpt", "gpt-4k"):
            write_gpt(f, ss, two(ss))
        elif name == "pmbr-backup-only":  # primary damaged, backup intact
            write_gpt(f, ss, two(ss), primary=False)
        elif name == "entries-256":
            write_gpt(f, ss, [(0, 2048, 4095), (200, 4096, 8191)], n_entries=256)
        elif name == "overlap":
            write_gpt(f, ss, [(0, 2048, 18431), (1, 10240, 26623)])
        elif name == "out-of-order":
            write_gpt(f, ss, [(0, 20480, 28671), (1, 2048, 10239)])
        elif name == "backup-disagrees":  # as a write cut between backup and primary leaves it
            write_gpt(f, ss, two(ss), backup=False)
            write_gpt(f, ss, two(ss)[:1], primary=False)
        else:
            assert name == "pmbr-no-gpt", name


# What systemd-repart 252 does with each case, in MODES order: W = goes on and writes, R = refuses.
# (gpt-4k on an image file: 252 reads files with 512-byte sectors and finds no GPT.)
SYSTEMD = {
    "blank": "RWWW",
    "dos": "RRRW",
    "dos-stale-backup": "RRRW",
    "backup-only": "RWWW",
    "gpt-no-pmbr": "RWWW",
    "gpt": "WWRW",
    "hybrid": "WWRW",
    "pmbr-backup-only": "WWRW",
    "pmbr-no-gpt": "RRRW",
    "entries-256": "WWRW",
    "overlap": "RRRW",  # it fails writing the table, after wiping the new partition
    "out-of-order": "WWRW",
    "backup-disagrees": "WWRW",
    "gpt-4k": {"file": "RRRW", "loop": "WWRW"},
}
# Where abota refuses and systemd-repart 252 writes a new GPT over GPT headers that are there.
STRICTER = {("backup-only", "allow"), ("backup-only", "require"), ("gpt-no-pmbr", "allow"),
            ("gpt-no-pmbr", "require")}


def content(path):
    """A digest of the file's bytes that reads only its data extents (the images are sparse)."""
    h = hashlib.sha256()
    block = 65536
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        h.update(size.to_bytes(8, "little"))
        off = 0
        while off < size:
            try:
                data = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, data, os.SEEK_HOLE)
            for pos in range(data - data % block, end, block):
                b = os.pread(fd, block, pos)
                if b.count(0) != len(b):
                    h.update(pos.to_bytes(8, "little") + b)
            off = end
    return h.hexdigest()


def table(path, ss):
    """LBA 0's partition entries, the disk GUID and the used entries of the primary GPT (each
    checked against its CRC), or None when there is no valid primary GPT."""
    with open(path, "rb") as f:
        lba0 = f.read(512)[446:]
        f.seek(ss)
        h = f.read(92)
        if h[:8] != b"EFI PART" or zlib.crc32(h[:16] + b"\0" * 4 + h[20:]) != struct.unpack_from("<I", h, 16)[0]:
            return None
        guid, elba, n, esize, ecrc = struct.unpack_from("<16sQIII", h, 56)
        f.seek(elba * ss)
        ents = f.read(n * esize)
    if zlib.crc32(ents) != ecrc:
        return None
    used = [(i, ents[i * esize:(i + 1) * esize].hex()) for i in range(n)
            if ents[i * esize:i * esize + 16] != b"\0" * 16]
    return lba0.hex(), guid.hex(), n, used


class Loop:
    def __init__(self, image, ss):
        p = subprocess.run(["losetup", "-f", "--show", f"--sector-size={ss}", str(image)], capture_output=True,
                           text=True)
        self.error = p.stderr.strip() if p.returncode else None
        self.dev = p.stdout.strip()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        if not self.error:
            subprocess.run(["losetup", "-d", self.dev], check=True)


def run(tool, mode, image, medium, ss, defs):
    """Runs one tool on a fresh copy of the case; returns (went on, wrote, table after)."""
    before = content(image)
    args = ["--dry-run=no", f"--empty={mode}", f"--definitions={defs}", f"--seed={SEED}"]
    if medium == "loop":
        with Loop(image, ss) as loop:
            if loop.error:
                pytest.skip(f"no loop devices here: {loop.error}")
            p = subprocess.run([*tool, *args, loop.dev], capture_output=True, text=True, timeout=60)
    else:
        p = subprocess.run([*tool, *args, str(image)], capture_output=True, text=True, timeout=60)
    wrote = content(image) != before
    return p.returncode == 0, wrote, table(image, ss) if p.returncode == 0 else None, p.stderr.strip()


def test_foreign_disks_side_by_side(abota_bin, tmp_path):
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "10-home.conf").write_text("[Partition]\nType=home\n")
    rows, failures = [], []
    agree = stricter = unsafe = runs = 0
    for medium in ("file", "loop"):
        for name, expected in SYSTEMD.items():
            expected = expected[medium] if isinstance(expected, dict) else expected
            ss = 4096 if name == "gpt-4k" and medium == "loop" else 512
            for mode, want in zip(MODES, expected):
                out = {}
                for tool, argv in (("systemd-repart", ["systemd-repart"]), ("abota", [abota_bin, "repart"])):
                    image = tmp_path / f"{tool}.img"
                    with open(image, "wb") as f:
                        f.truncate(SIZE)
                        craft(f, name, 4096 if name == "gpt-4k" else 512)
                    out[tool] = run(argv, mode, image, medium, ss, defs)
                (s_ok, s_wrote, s_table, s_err), (a_ok, a_wrote, a_table, a_err) = out["systemd-repart"], out["abota"]
                runs += 1
                what = f"{medium} {name} --empty={mode}"
                rows.append(f"{what:44} systemd-repart {'ok' if s_ok else 'refuse'}{'/wrote' if s_wrote else ''}"
                            f"  abota {'ok' if a_ok else 'refuse'}{'/wrote' if a_wrote else ''}")
                # The case is what it claims to be: systemd-repart 252 does with it what it is known to do.
                if s_ok != (want == "W"):
                    failures.append(f"{what}: systemd-repart {'went on' if s_ok else 'refused'}, expected "
                                    f"otherwise (case crafted wrong?): {s_err}")
                if not s_ok and a_wrote:
                    unsafe += 1
                    failures.append(f"{what}: systemd-repart refuses, abota wrote to the disk: {a_err}")
                if not a_ok and a_wrote:
                    failures.append(f"{what}: abota refused but wrote to the disk: {a_err}")
                # A refusal names what is on the disk and advises no mode that would overwrite it.
                if not a_ok and set(re.findall(r"--empty=(\w+)", a_err)) - {mode}:
                    failures.append(f"{what}: abota's refusal advises another --empty= mode: {a_err}")
                if a_ok == s_ok:
                    agree += 1
                    if a_ok and (a_table is None or a_table != s_table):
                        failures.append(f"{what}: both went on, the tables differ:\n  systemd-repart {s_table}\n"
                                        f"  abota          {a_table}")
                elif not a_ok and (name, mode) in STRICTER:
                    stricter += 1
                else:
                    failures.append(f"{what}: systemd-repart {'went on' if s_ok else 'refused'}, abota "
                                    f"{'went on' if a_ok else 'refused'}: {a_err}")
    summary = (f"foreign disks: {runs} runs ({len(SYSTEMD)} cases x {len(MODES)} modes x file+loop), "
               f"{agree} agree, {stricter} abota stricter, {unsafe} abota writes where systemd-repart refuses")
    report_summary(summary)
    assert not failures, "\n".join(failures + [summary, ""] + rows)
    assert stricter == 2 * len(STRICTER)
