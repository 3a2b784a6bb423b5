# SPDX-License-Identifier: LGPL-2.1-or-later
"""What must hold on a device and on an update server whatever the moment a run was stopped.
Shared by the crash matrix (test_crash_matrix.py) and the power-cut rebuilds (tests/e2e).

Device (a GPT disk image plus the ESP's EFI/Linux directory):
- the primary and the backup GPT are both valid: signature, header CRC, entry array CRC, each
  pointing at the other, and the same partition entries (right after an interruption: at least
  one valid copy, see gpt());
- every boot entry systemd-boot could pick (EFI/Linux/NAME_VERSION[+LEFT[-DONE]].efi, whatever
  its counter) is a complete version: its UKI is the published one, and exactly one partition is
  labelled store_VERSION and holds that version's published store;
- no partition carries a version's name unless it holds that version in full;
- the booted version is intact: its store partition and one boot entry, byte for byte.

Server (a publish directory): SHA256SUMS names only files that exist with that hash, and
SHA256SUMS.gpg, when present, is a valid signature of SHA256SUMS.

Each check returns a list of problems (strings); an empty list is a good state."""
import hashlib
import re
import struct
import subprocess
import zlib
from pathlib import Path

SECTOR = 512
GPT_SIGNATURE = b"EFI PART"
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+?)_(?P<version>[^_+]+?)(?:\+(?P<left>\d+)(?:-(?P<done>\d+))?)?\.efi$")


def _guid(raw):
    a, b, c = struct.unpack_from("<IHH", raw)
    return f"{a:08X}-{b:04X}-{c:04X}-{raw[8:10].hex().upper()}-{raw[10:16].hex().upper()}"


def _read_header(f, lba):
    f.seek(lba * SECTOR)
    raw = f.read(SECTOR)
    if len(raw) < 92 or raw[:8] != GPT_SIGNATURE:
        return None, f"no GPT header at LBA {lba}"
    size, = struct.unpack_from("<I", raw, 12)
    if size < 92 or size > SECTOR:
        return None, f"GPT header at LBA {lba}: bad header size {size}"
    crc, = struct.unpack_from("<I", raw, 16)
    if zlib.crc32(raw[:16] + b"\0\0\0\0" + raw[20:size]) != crc:
        return None, f"GPT header at LBA {lba}: header CRC mismatch"
    my, alt, first, last = struct.unpack_from("<QQQQ", raw, 24)
    disk_guid = _guid(raw[56:72])
    entries_lba, n, entry_size, entries_crc = struct.unpack_from("<QIII", raw, 72)
    if my != lba:
        return None, f"GPT header at LBA {lba} says it is at LBA {my}"
    if entry_size < 128 or n * entry_size > 1024 * 1024:
        return None, f"GPT header at LBA {lba}: bad entry array ({n} x {entry_size})"
    f.seek(entries_lba * SECTOR)
    array = f.read(n * entry_size)
    if len(array) != n * entry_size or zlib.crc32(array) != entries_crc:
        return None, f"GPT at LBA {lba}: partition entry array CRC mismatch"
    parts = []
    for k in range(n):
        e = array[k * entry_size:(k + 1) * entry_size]
        if e[:16] == b"\0" * 16:
            continue
        start, end, attrs = struct.unpack_from("<QQQ", e, 32)
        name = e[56:128].decode("utf-16-le", "replace").split("\0")[0]
        parts.append((k + 1, name, _guid(e[:16]), _guid(e[16:32]), start, end, attrs))
    return {"alt": alt, "first": first, "last": last, "disk_guid": disk_guid, "parts": parts}, None


def gpt(disk, interrupted=False):
    """(partitions, problems, notes): both GPT copies checked; partitions as
    [(number, name, type, uuid, first_lba, last_lba, attrs)] of the copy a reader uses (the
    primary, or the backup when the primary is invalid, as the kernel and the firmware do).

    A settled disk needs both copies valid and equal. A disk whose writer was interrupted
    (interrupted=True) may have one torn copy (libfdisk writes a copy's entry array and header
    in two writes) or two valid copies that differ (one written, the other not yet): these go to
    notes. Both copies invalid is always a problem: nothing can read the disk any more."""
    disk = Path(disk)
    sectors = disk.stat().st_size // SECTOR
    with open(disk, "rb") as f:
        primary, p_err = _read_header(f, 1)
        backup, b_err = _read_header(f, sectors - 1)
    if primary and primary["alt"] != sectors - 1:
        primary, p_err = None, f"primary GPT points at backup LBA {primary['alt']}, the disk ends at {sectors - 1}"
    if backup and backup["alt"] != 1:
        backup, b_err = None, f"backup GPT points at primary LBA {backup['alt']}"
    problems, notes = [], []
    errors = [e for e in (p_err, b_err) if e]
    if len(errors) == 2 or not interrupted:
        problems += errors
    else:
        notes += errors
    if primary and backup:
        for key in ("first", "last", "disk_guid", "parts"):
            if primary[key] != backup[key]:
                (notes if interrupted else problems).append(f"primary and backup GPT differ in {key}")
    table = primary or backup
    return (table["parts"] if table else []), problems, notes


def slot(disk, part, length=None):
    """The bytes of one partition (the first length bytes)."""
    _, _, _, _, first, last, _ = part
    size = (last - first + 1) * SECTOR
    with open(disk, "rb") as f:
        f.seek(first * SECTOR)
        return f.read(size if length is None else min(length, size))


def boot_entries(esp_linux):
    """{file name: version} of the UKIs in EFI/Linux systemd-boot would list (not temporary files)."""
    out = {}
    for p in sorted(Path(esp_linux).iterdir()):
        m = ENTRY.match(p.name)
        if m and p.is_file():
            out[p.name] = m.group("version")
    return out


class Versions:
    """What each published version is: its store payload and its UKI (bytes)."""

    def __init__(self, prefix="store_", hash_prefix=None):
        """hash_prefix: the label prefix of the hash partitions of dm-verity pairs (None: no pairs)."""
        self.prefix = prefix
        self.hash_prefix = hash_prefix
        self.store = {}
        self.hash = {}
        self.uki = {}

    def add(self, version, store, uki, hash=None):
        self.store[version] = store
        self.uki[version] = uki
        if hash is not None:
            self.hash[version] = hash


def _labelled(parts, prefix):
    out = {}
    for part in parts:
        if prefix and part[1].startswith(prefix):
            out.setdefault(part[1][len(prefix):], []).append(part)
    return out


def _slot_problems(disk, labelled, prefix, payloads):
    problems = []
    for version, ps in labelled.items():
        if len(ps) > 1:
            problems.append(f"{len(ps)} partitions labelled {prefix}{version}")
        if version not in payloads:
            problems.append(f"partition labelled {prefix}{version}: no such version was published")
            continue
        want = payloads[version]
        for p in ps:
            if slot(disk, p, len(want)) != want:
                problems.append(f"partition {p[0]} labelled {prefix}{version} does not hold that version")
    return problems


def device(disk, esp_linux, versions, booted=None, interrupted=False, notes=None):
    """Problems of a device whose ESP is a directory (EFI/Linux is esp_linux); booted is the
    version that runs and must stay intact; interrupted and notes as for gpt()."""
    return device_with(disk, boot_entries(esp_linux), lambda name: (Path(esp_linux) / name).read_bytes(),
                       versions, booted, interrupted, notes)


def device_with(disk, entries, read_esp, versions, booted=None, interrupted=False, notes=None):
    """Problems of a device: entries is {boot entry file name: version}, read_esp(name) its bytes
    (None: unreadable).
    The GPT notes of an interrupted disk are appended to the list notes, if given."""
    parts, problems, gpt_notes = gpt(disk, interrupted)
    if notes is not None:
        notes += gpt_notes
    labelled = _labelled(parts, versions.prefix)
    # nothing carries a version's name unless it holds the version in full
    problems += _slot_problems(disk, labelled, versions.prefix, versions.store)
    hashed = None
    if versions.hash_prefix:
        hashed = _labelled(parts, versions.hash_prefix)
        problems += _slot_problems(disk, hashed, versions.hash_prefix, versions.hash)
        for version in labelled:
            if version not in hashed:
                problems.append(f"partition labelled {versions.prefix}{version} without its hash partition "
                                f"{versions.hash_prefix}{version}")
    return problems + entry_problems(entries, labelled, versions, read_esp, booted, hashed)


def entry_problems(entries, labelled, versions, read_esp, booted, hashed=None):
    """hashed: {version: [hash partitions]} of dm-verity pairs, None without pairs."""
    problems = []
    if hashed is not None:
        labelled = {v: ps for v, ps in labelled.items() if v in hashed}  # a whole pair, or nothing
    for name, version in entries.items():
        if version not in versions.uki:
            problems.append(f"boot entry {name}: version {version} was never published")
            continue
        data = read_esp(name)
        if data is None:
            problems.append(f"boot entry {name}: unreadable")
        elif not data:
            problems.append(f"boot entry {name}: empty file")
        elif data != versions.uki[version]:
            problems.append(f"boot entry {name}: not the published UKI of version {version}")
        if version not in labelled:
            pair = "" if hashed is None else f" and {versions.hash_prefix}{version}"
            problems.append(f"boot entry {name}: no partition labelled {versions.prefix}{version}{pair}")
    if booted is not None:
        if booted not in labelled:
            problems.append(f"booted version {booted}: its store partition is gone")
        if not any(v == booted for v in entries.values()):
            problems.append(f"booted version {booted}: no boot entry left")
    return problems


def device_state(disk, esp_linux, versions):
    """What a converged device looks like, to compare two runs: the partition table (numbers,
    labels, types, extents), the content of every labelled store partition and the ESP's files."""
    parts, problems, _ = gpt(disk)
    table = tuple((n, name, ptype, first, last) for n, name, ptype, _, first, last, _ in parts)
    stores = {p[1]: hashlib.sha256(slot(disk, p, len(versions.store.get(p[1][len(versions.prefix):], b"")))).hexdigest()
              for p in parts if p[1].startswith(versions.prefix)}
    if versions.hash_prefix:
        stores.update({p[1]: hashlib.sha256(slot(disk, p, len(versions.hash.get(p[1][len(versions.hash_prefix):], b""))))
                       .hexdigest() for p in parts if p[1].startswith(versions.hash_prefix)})
    esp = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(esp_linux).iterdir())}
    return {"gpt": table, "gpt problems": problems, "stores": stores, "esp": esp}


def manifest(path):
    """{file name: sha256} of a SHA256SUMS file."""
    out = {}
    for line in Path(path).read_text().splitlines():
        digest, name = line.split(None, 1)
        out[name.lstrip("*")] = digest
    return out


def server(directory, keyring=None):
    """Problems of a publish directory."""
    d = Path(directory)
    sums = d / "SHA256SUMS"
    if not sums.exists():
        return ["SHA256SUMS missing"]
    problems = []
    for name, digest in manifest(sums).items():
        f = d / name
        if not f.is_file():
            problems.append(f"SHA256SUMS names {name}, which is missing")
        elif hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            problems.append(f"SHA256SUMS names {name} with another hash")
    sig = d / "SHA256SUMS.gpg"
    if sig.exists() and keyring is not None:
        r = subprocess.run(["gpgv", "--keyring", str(keyring), str(sig), str(sums)], capture_output=True)
        if r.returncode != 0:
            problems.append("SHA256SUMS.gpg does not sign SHA256SUMS")
    return problems


def server_state(directory, keyring=None):
    """A publish directory to compare two runs: the manifest, every file's hash except the
    signature (gpg signatures carry a time stamp), and whether the signature is valid."""
    d = Path(directory)
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())
             if p.name != "SHA256SUMS.gpg"}
    signed = (d / "SHA256SUMS.gpg").exists()
    return {"files": files, "signed": signed, "problems": server(d, keyring)}
