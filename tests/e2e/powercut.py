# SPDX-License-Identifier: LGPL-2.1-or-later
"""Power cuts that lose data, for tests/e2e/run (scenario power_cuts) and bench/power-cuts.

`kill -9` of QEMU keeps the host's page cache, so it loses nothing the guest wrote. Here the VM's
disk is served by tests/helpers/nbd.py, which logs every write and every flush, while the
appliance runs one recorded session of two boots:

  boot 1 (v1)  phases "boot" (firmware, the initrd's first boot: repart creates the encrypted data
               partition, a recovery key is added; init, bless --check; the epochs up to the
               recovery key are phase "firstboot", checked apart below), "download" (abota update
               fetches the store pair into the free slot pair and the UKI into a temporary file on
               the ESP), "commit"
               (from the update's first write to a GPT, found in the log: labels, UKI rename);
  boot 2 (v2)  phase "bless" (systemd-boot counts the entry down, abota bless --check marks it
               good), then "vacuum" (abota -m 1 vacuum removes version 1).

tests/helpers/writelog.py then rebuilds the disk as after a cut in any epoch (the writes after a
flush): everything up to that flush plus a seeded random subset of the epoch's writes. Each
rebuilt disk is checked offline (tests/integration/invariants.py: both GPTs, at least one valid
after a cut; every boot entry on the ESP, read with mtools, a complete published version; some
complete version left to boot), and a chosen few are booted: the appliance must come up in
version 1 or 2, `abota update` must succeed, and the disk after it must be settled (both GPTs
valid and equal, every entry complete, version 2 complete).

Problems that come from a known, still open defect are counted apart (KNOWN)."""
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "helpers"))
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE.parents[1] / "examples" / "appliance"))
import invariants  # noqa: E402
import nbd  # noqa: E402
import writelog  # noqa: E402
from vm import Disk, Failure, Machine, check, payloads  # noqa: E402

PHASES = ["download", "commit", "bless", "vacuum"]
SECTOR = 512

# One script for both recorded boots (the harness must not write to the disk between them: the
# log would miss it). sync + sleep around each mark, so that the mark lands between the phases.
SESSION = """. /etc/os-release
phase() { sync; sleep 1; echo "E2E-PHASE=$1"; sleep 2; }
if [ "$IMAGE_VERSION" = 1 ]; then
        phase download
        abota update; echo "E2E-UPDATE=$?"
else
        phase vacuum
        abota -m 1 vacuum; echo "E2E-VACUUM=$?"
fi
phase end
sync; umount /efi; umount /var; poweroff -f"""

AFTER_CUT = 'echo E2E-UPDATE-START; abota update; echo "E2E-UPDATE=$?"; sync; umount /efi; umount /var; poweroff -f'

KNOWN = {
    # Linux vfat writes a renamed file's new directory entry with size 0 and no first cluster, and
    # fills them in only when the file's inode is written back; fsync() of the directory does not
    # do that. update (commit of the UKI) and bless rename, then fsync the directory: a cut before
    # the next flush of the inode leaves the newest boot entry empty.
    "not yet filed (vfat rename): a renamed UKI's entry is empty until its inode is written":
        lambda p: re.fullmatch(r"boot entry appliance_2[^ ]*\.efi: empty file", p),
    # unlink on vfat frees the clusters (FAT) and deletes the directory entry in two writes of one
    # epoch: a cut can keep the entry and lose its clusters.
    "not yet filed (vfat unlink): a removed UKI's entry can survive with its clusters freed":
        lambda p: re.fullmatch(r"boot entry appliance_1[^ ]*\.efi: unreadable", p),
}


def versions():
    """The published versions 1 and 2: each a store pair (dm-verity hash and data) and a UKI."""
    v = invariants.Versions(hash_prefix="store-verity_")
    for n in ("1", "2"):
        hash_, data, uki = payloads(n)
        v.add(n, data.read_bytes(), uki.read_bytes(), hash=hash_.read_bytes())
    return v


class Recording:
    """The base image, the write log and its epochs, labelled by phase."""

    def __init__(self, base, log):
        self.base = Path(base)
        self.log = writelog.WriteLog(log)
        size = self.base.stat().st_size
        gpt_areas = [(0, 34 * SECTOR), (size - 33 * SECTOR, size)]
        # the commit starts with the update's first write to a GPT copy
        committing = False
        for e in self.log.epochs:
            if e.phase != "download":
                committing = False
                continue
            if committing or any(a <= w.offset < b for w in e.writes for a, b in gpt_areas):
                committing = True
                e.phase = "commit"

    def epochs(self, phase):
        return [e.number for e in self.log.epochs if e.phase == phase and e.writes]


def record(workdir, abota, server, say=print):
    """Boots the session twice over NBD; returns the Recording."""
    server.clear()
    server.publish(abota, "2")
    base = workdir / "pc-base.raw"
    disk = Disk(base)
    disk.put("/abota-e2e.sh", SESSION + "\n")
    live = Disk(workdir / "pc-live.raw", source=base)
    log_path = workdir / "pc-writes.log"
    srv = nbd.NBDServer(live.path, log_path).start()
    try:
        drive = f"if=none,id=disk0,format=raw,cache=writeback,file=nbd://127.0.0.1:{srv.port}/disk"
        vm = Machine(workdir, live, server, "pc-rec", drive=drive)
        seen = set()

        def on_console(text):
            for m in re.finditer(r"E2E-PHASE=(\w+)", text):
                if m.group(1) not in seen:
                    seen.add(m.group(1))
                    srv.mark(f"phase {m.group(1)}")

        srv.mark("phase boot")
        b = vm.boot(None, on_console=on_console)
        check(b.version == "1", f"recording: boot 1 came up as {b.version}")
        check(b.line("E2E-UPDATE=") == "0", f"recording: update exited {b.line('E2E-UPDATE=')}")
        seen.clear()
        srv.mark("phase bless")
        b = vm.boot(None, on_console=on_console)
        check(b.version == "2", f"recording: boot 2 came up as {b.version}")
        check(b.line("E2E-VACUUM=") == "0", f"recording: vacuum exited {b.line('E2E-VACUUM=')}")
    finally:
        srv.stop()
    rec = Recording(base, log_path)
    rec.tpm = vm.tpm  # the recorded machine's TPM: the data partition's key is sealed to it
    for phase in PHASES:
        check(rec.epochs(phase), f"recording: no writes in phase {phase}:\n{rec.log.summary()}")
    say(f"power cuts: recorded {rec.log.writes} writes, {rec.log.flushes} flushes; epochs with writes: " +
        ", ".join(f"{p} {len(rec.epochs(p))}" for p in PHASES))
    return rec


class EspReader:
    """The ESP of a disk image through mtools (the file system may be damaged: errors are problems)."""

    def __init__(self, image, offset):
        self.img = f"{image}@@{offset}"
        self.env = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}

    def entries(self):
        out = subprocess.run(["mdir", "-b", "-i", self.img, "::/EFI/Linux"], capture_output=True, text=True,
                             env=self.env)
        if out.returncode != 0:
            raise OSError(f"mdir failed: {out.stderr.strip()}")
        names = [Path(line.strip()).name for line in out.stdout.splitlines() if line.strip()]
        return {n: m.group("version") for n in names if (m := invariants.ENTRY.match(n))}

    def read(self, name):
        """The file's bytes, or None when mtools cannot read it (e.g. its clusters are free)."""
        out = subprocess.run(["mtype", "-i", self.img, f"::/EFI/Linux/{name}"], capture_output=True, env=self.env)
        return out.stdout if out.returncode == 0 else None


def check_disk(image, vers, interrupted, booted=None, notes=None):
    """Problems of a disk image (offline)."""
    parts, _, _ = invariants.gpt(image, True)
    esp = next((p for p in parts if p[1] == "esp"), None)
    if esp is None:
        return ["no partition labelled esp"]
    reader = EspReader(image, esp[4] * SECTOR)
    try:
        entries = reader.entries()
        problems = invariants.device_with(image, entries, reader.read, vers, booted, interrupted, notes)
    except OSError as e:
        return [f"ESP unreadable: {e}"]
    if not any(v in vers.store and v in {p[1][len("store_"):] for p in parts} for v in entries.values()):
        problems.append("no boot entry of a complete version left")
    return problems


def classify(problems):
    """The known defects explaining every problem, or None."""
    reasons = set()
    for p in problems:
        p = p.removeprefix("after the update: ")
        r = [name for name, match in KNOWN.items() if match(p)]
        if not r:
            return None
        reasons.update(r)
    return sorted(reasons)


def plan(rec, offline, boots, seed=1):
    """(offline cuts, booted cuts) as (phase, epoch, seed), spread evenly over each phase's
    distinct cut states (seeds that choose a subset already planned are skipped, so a phase with
    few writes may get fewer offline cuts than asked for). Booted cuts are among them."""
    def spread(items, n):
        if n >= len(items):
            return list(items)
        return [items[round(i * (len(items) - 1) / max(1, n - 1))] for i in range(n)]

    off, boot = [], []
    for k, phase in enumerate(PHASES):
        eps = rec.epochs(phase)
        n_off = offline // len(PHASES) + (k < offline % len(PHASES))
        n_boot = boots // len(PHASES) + (k < boots % len(PHASES))
        cuts = distinct_cuts(rec, phase, eps, seed, n_off)
        off += spread(cuts, n_off)
        boot += spread(cuts, n_boot)
    return off, boot


def distinct_cuts(rec, phase, eps, seed, n):
    """(phase, epoch, seed) of about 4n distinct cut states in the epochs eps, sorted by epoch
    (seeds that choose a subset already listed are skipped)."""
    seen, cuts = set(), []
    for s in range(seed, seed + 64):
        for e in eps:
            key = (e, tuple(w.index for w in rec.log.choose(e, s)))
            if key not in seen:
                seen.add(key)
                cuts.append((phase, e, s))
        if len(cuts) >= 4 * n:
            break
    cuts.sort(key=lambda c: (c[1], c[2]))
    return cuts


class Result:
    def __init__(self):
        self.offline = self.booted = 0
        self.bad = []    # (cut, problems)
        self.known = {}  # reason -> [(cut, problems)]
        self.versions = {}

    def add(self, cut, problems):
        if not problems:
            return
        reasons = classify(problems)
        if reasons:
            for r in reasons:
                self.known.setdefault(r, []).append((cut, problems))
        else:
            self.bad.append((cut, problems))


def run_cuts(workdir, rec, server, abota, offline, boots, seed=1, say=print):
    """Checks `offline` rebuilt disks offline and boots `boots` more; returns a Result."""
    vers = versions()
    server.clear()
    server.publish(abota, "2")
    result = Result()
    off, boot = plan(rec, offline, boots, seed)
    image = workdir / "pc-cut.raw"
    t = time.monotonic()
    for cut in off:
        phase, epoch, s = cut
        rec.log.rebuild(rec.base, image, epoch, s)
        result.add(cut, check_disk(image, vers, interrupted=True))
        result.offline += 1
    say(f"power cuts: {result.offline} rebuilt disks checked offline [{time.monotonic() - t:.0f} s]")
    for cut in boot:
        t = time.monotonic()
        problems, version = boot_cut(workdir, rec, server, vers, cut)
        result.versions[version] = result.versions.get(version, 0) + 1
        result.booted += 1
        result.add(cut, problems)
        verdict = "ok" if not problems else "; ".join(problems)
        say(f"power cut {result.booted}/{len(boot)}: {cut[0]} epoch {cut[1]} seed {cut[2]}: "
            f"came up as v{version}: {verdict} [{time.monotonic() - t:.0f} s]")
    return result


def boot_cut(workdir, rec, server, vers, cut):
    """Rebuilds the disk of one cut, checks it, boots it and updates: (problems, version booted)."""
    phase, epoch, seed = cut
    image = workdir / "pc-cut.raw"
    rec.log.rebuild(rec.base, image, epoch, seed)
    problems = check_disk(image, vers, interrupted=True)
    vm = Machine(workdir, Disk(image, source=None), server, "pc-cut", tpm=tpm_copy(workdir, rec))
    version = None
    try:
        b = vm.boot(AFTER_CUT)
        version = b.version
        if b.version not in ("1", "2"):
            problems.append(f"booted no complete version (APPLIANCE-READY version={b.version})")
        elif b.line("E2E-UPDATE=") != "0":
            problems.append(f"update after the cut exited {b.line('E2E-UPDATE=')}")
        else:
            problems += [f"after the update: {p}" for p in check_disk(image, vers, interrupted=False)]
            if "store_2" not in [p[1] for p in invariants.gpt(image)[0]]:
                problems.append("after the update: version 2 not installed")
    except Failure as e:
        problems.append(f"boot failed: {e}")
    return problems, version


def tpm_copy(workdir, rec):
    """A copy of the recorded machine's TPM state (its seeds unseal the data partition's key), so
    that a booted cut is the same machine and no boot changes the state of another."""
    tpm = Path(workdir) / "pc-cut-tpm"
    shutil.rmtree(tpm, ignore_errors=True)
    shutil.copytree(rec.tpm, tpm)
    return tpm


def describe(result):
    known = ", ".join(f"{len(v)} from {k}" for k, v in sorted(result.known.items()))
    return (f"{result.offline} cuts checked offline, {result.booted} booted "
            f"(came up as {', '.join(f'v{k}: {n}' for k, n in sorted(result.versions.items(), key=str))}); "
            f"{len(result.bad)} bad" + (f", {known}" if known else ""))


def self_test(workdir, rec):
    """The checks can fail: a disk whose store_2 is cut short, after the commit, is reported."""
    vers = versions()
    last = rec.log.epochs[-1].number
    image = workdir / "pc-broken.raw"
    rec.log.rebuild(rec.base, image, last, keep=1.0)
    check(check_disk(image, vers, interrupted=False) == [], "self-test: the final disk has problems: "
          + "; ".join(check_disk(image, vers, interrupted=False)))
    part = next(p for p in invariants.gpt(image)[0] if p[1] == "store_2")
    half = len(vers.store["2"]) // 2
    with open(image, "r+b") as f:  # the store slot cut short: its second half lost
        f.seek(part[4] * SECTOR + half)
        f.write(b"\0" * half)
    problems = check_disk(image, vers, interrupted=True)
    check(any("store_2 does not hold that version" in p for p in problems),
          f"self-test: a truncated store_2 slot went unnoticed: {problems}")
    shutil.copyfile(rec.base, image)  # the factory disk is fine; a lost ESP is not
    check(check_disk(image, vers, interrupted=True) == [], "self-test: the factory disk has problems")
    esp = next(p for p in invariants.gpt(image)[0] if p[1] == "esp")
    with open(image, "r+b") as f:
        f.seek(esp[4] * SECTOR)
        f.write(b"\0" * (1 << 20))
    check(check_disk(image, vers, interrupted=True) != [], "self-test: a wiped ESP went unnoticed")
    image.unlink()


# ---- phase "firstboot": the factory image's first boot creates the data partition ----
# The recorded session's boot 1 is the factory image's first boot: the initrd runs abota repart,
# which adds the data partition (contents, fsync; backup GPT, fsync; primary GPT, fsync). Its
# epochs are those up to the last write to the primary GPT before the download. A cut there must
# leave the old table (no data) or the new one, at least one valid GPT copy, the ESP and store_1
# byte-identical to the factory image, and a data partition in the table must hold a clean ext4.

# In the guest after a cut: the data partition, and repart run again on the disk with the same
# definitions (dry run) to show it converged.
FIRSTBOOT_CHECK = r"""echo "E2E-LABELS=$(cat /sys/class/block/*/uevent | sed -n 's/^PARTNAME=//p' | tr '\n' ' ')"
if out=$(abota repart --dry-run=yes --empty=refuse --definitions=/usr/lib/repart.d --json=short /dev/vda); then
        echo "E2E-REPART=$(echo "$out" | grep -o '"activity":"[a-z]*"' | sort | uniq -c | tr -s ' \n' '  ')"
else
        echo "E2E-REPART=failed"
fi
sync; umount /efi; umount /var; poweroff -f"""
CONVERGED = '6 "activity":"unchanged"'  # esp, store_1, store-verity_1, _empty, _empty, data
FACTORY_LABELS = ["esp", "store_1", "store-verity_1", "_empty", "_empty"]


def firstboot_epochs(rec):
    """The epochs (with writes) of the factory image's first boot in a Recording: up to the last
    one, before the download, that writes the primary GPT or the LUKS2 header area (the first
    16 MiB) of the data partition: repart's table write and, when data is encrypted, the recovery
    key the initrd adds after it."""
    if getattr(rec, "firstboot", None) is not None:
        return rec.firstboot
    boot = [e for e in rec.log.epochs if e.phase in ("start", "boot")]
    after = Path(rec.base).with_name("pc-first-booted.raw")
    rec.log.rebuild(rec.base, after, boot[-1].number + 1, keep=0.0)
    data = next((p for p in invariants.gpt(after)[0] if p[1] == "data"), None)
    after.unlink()
    check(data is not None, f"recording: the first boot created no data partition:\n{rec.log.summary()}")
    areas = [(0, 34 * SECTOR), (data[4] * SECTOR, data[4] * SECTOR + (16 << 20))]
    last = None
    for e in boot:
        if any(a <= w.offset < b for w in e.writes for a, b in areas):
            last = e.number
    check(last is not None, f"recording: the first boot wrote no GPT:\n{rec.log.summary()}")
    rec.firstboot = [e.number for e in rec.log.epochs[:last + 1] if e.writes]
    return rec.firstboot


class Factory:
    """What a cut in the first boot must keep: the factory table and its esp and slot A bytes."""

    def __init__(self, base):
        parts, problems, _ = invariants.gpt(base)
        check(not problems and [p[1] for p in parts] == FACTORY_LABELS, f"factory image: {parts} {problems}")
        self.parts = parts
        self.kept = {p[1]: invariants.slot(base, p) for p in parts if p[1] in ("esp", "store_1", "store-verity_1")}


def firstboot_problems(image, factory, workdir, booted=False):
    """Problems of a disk cut during its first boot (offline); booted: after the boot that followed
    the cut (which wrote to the ESP and to the mounted data partition; the table and store_1 must
    still be the factory's, with data added)."""
    parts, problems, _ = invariants.gpt(image, True)
    names = [p[1] for p in parts]
    if names not in (FACTORY_LABELS, FACTORY_LABELS + ["data"]):
        problems.append(f"partition table neither the factory one nor the first boot's: {names}")
    elif parts[:len(FACTORY_LABELS)] != factory.parts:
        problems.append("the factory partitions moved or changed in the table")
    for p in parts:
        if p[1] in factory.kept and (p[1] != "esp" or not booted) and invariants.slot(image, p) != factory.kept[p[1]]:
            problems.append(f"{p[1]}: bytes changed")
    data = next((p for p in parts if p[1] == "data"), None)
    if data and not booted:
        fs = Path(workdir) / "pc-data.img"
        fs.write_bytes(invariants.slot(image, data))
        problems += [f"data: {p}" for p in data_problems(fs)]
        fs.unlink()
    return problems


def data_problems(volume):
    """A plain data partition must hold a clean ext4 (e2fsck -fn). An encrypted one (Encrypt=tpm2)
    cannot be opened here (its key is sealed to the guest's PCR 7): its LUKS2 header must be valid
    with a key slot and the systemd-tpm2 token that opens it; booting shows the rest."""
    with open(volume, "rb") as f:
        luks = f.read(6) == b"LUKS\xba\xbe"
    if not luks:
        r = subprocess.run(["e2fsck", "-fn", str(volume)], capture_output=True, text=True)
        return [] if r.returncode == 0 else [f"e2fsck -fn exited {r.returncode}: {r.stdout.strip().splitlines()[-1:]}"]
    r = subprocess.run(["cryptsetup", "luksDump", "--dump-json-metadata", str(volume)], capture_output=True, text=True)
    if r.returncode != 0:
        return [f"LUKS2 header unreadable: {r.stderr.strip()}"]
    meta = json.loads(r.stdout)
    tpm = [t for t in meta["tokens"].values() if t["type"] == "systemd-tpm2"]
    if not meta["keyslots"] or not tpm or not set(tpm[0]["keyslots"]) <= set(meta["keyslots"]):
        return [f"LUKS2 volume without a TPM key slot: keyslots {list(meta['keyslots'])}, tokens "
                f"{[t['type'] for t in meta['tokens'].values()]}"]
    return []


def firstboot_plan(rec, offline, seed=1):
    """The offline cuts over the first boot's epochs, spread as plan() does."""
    cuts = distinct_cuts(rec, "firstboot", firstboot_epochs(rec), seed, offline)
    return cuts if offline >= len(cuts) else [cuts[round(i * (len(cuts) - 1) / max(1, offline - 1))]
                                              for i in range(offline)]


def firstboot_booted(tables, boots):
    """The cuts to boot: alternately one that left the data partition in the table (it must be
    complete: it unlocks and mounts) and one that did not (the retry must create it), each spread
    over its group."""
    groups = [tables["new"], tables["old"]]
    picked = []
    for i in range(boots):
        g = groups[i % 2] or groups[1 - i % 2]
        k = i // 2 if groups[i % 2] else i
        n = (boots - i % 2 + 1) // 2 if groups[i % 2] else boots
        if g:
            picked.append(g[min(len(g) - 1, int((k + 0.5) * len(g) / max(1, n)))])
    return picked


def firstboot_cuts(workdir, rec, server, offline, boots, second_boot=False, seed=1, say=print):
    """Cuts in the first boot: `offline` checked offline, `boots` of them booted (the appliance
    comes up with its data partition, a rerun of repart in the guest changes nothing; with
    second_boot, one more boot must leave the partition table as it was). Returns a Result."""
    factory = Factory(rec.base)
    result = Result()
    off = firstboot_plan(rec, offline, seed)
    image = workdir / "pc-cut.raw"
    t = time.monotonic()
    tables = {"old": [], "new": []}
    for cut in off:
        rec.log.rebuild(rec.base, image, cut[1], cut[2])
        problems = firstboot_problems(image, factory, workdir)
        tables["new" if "data" in [p[1] for p in invariants.gpt(image, True)[0]] else "old"].append(cut)
        result.add(cut, problems)
        result.offline += 1
    result.tables = {k: len(v) for k, v in tables.items()}
    say(f"first-boot cuts: {result.offline} rebuilt disks checked offline over {len(firstboot_epochs(rec))} "
        f"epochs (factory table {len(tables['old'])}, with data {len(tables['new'])}) [{time.monotonic() - t:.0f} s]")
    boot = firstboot_booted(tables, boots)
    for cut in boot:
        t = time.monotonic()
        rec.log.rebuild(rec.base, image, cut[1], cut[2])
        had = "data" in [p[1] for p in invariants.gpt(image, True)[0]]
        problems = firstboot_problems(image, factory, workdir)
        vm = Machine(workdir, Disk(image, source=None), server, "pc-fb", tpm=tpm_copy(workdir, rec))
        version = None
        try:
            b = vm.boot(FIRSTBOOT_CHECK)
            version = b.version
            problems += firstboot_boot_problems(b, image, factory, workdir, "")
            problems += firstboot_console_problems(b, had)
            if second_boot and not problems:
                table = invariants.gpt(image)[0]
                b = vm.boot(FIRSTBOOT_CHECK)
                problems += firstboot_boot_problems(b, image, factory, workdir, "second boot: ")
                if "firstboot: partitions on /dev/vda complete, nothing to do" not in b.log:
                    problems.append("second boot: the initrd's repart changed something")
                if invariants.gpt(image)[0] != table:
                    problems.append("second boot: the partition table changed")
        except Failure as e:
            problems.append(f"boot failed: {e}")
        result.versions[version] = result.versions.get(version, 0) + 1
        result.booted += 1
        result.add(cut, problems)
        say(f"first-boot cut {result.booted}/{len(boot)}: epoch {cut[1]} seed {cut[2]} "
            f"({'data in the table' if had else 'factory table'}): came up as v{version}: "
            f"{'; '.join(problems) or 'ok'} [{time.monotonic() - t:.0f} s]")
    return result


def firstboot_describe(result):
    t = getattr(result, "tables", {})
    return (f"first boot: {result.offline} cuts checked offline (factory table {t.get('old', 0)}, with data "
            f"{t.get('new', 0)}), {result.booted} booted (came up as "
            f"{', '.join(f'v{k}: {n}' for k, n in sorted(result.versions.items(), key=str))}); {len(result.bad)} bad")


def firstboot_console_problems(b, had):
    """The console must say what the boot after the cut did: create and encrypt the data partition
    (not in the table), or only add the recovery key to the one an earlier boot encrypted."""
    created = "firstboot: created partition(s) data" in b.log
    encrypted = "firstboot: encrypted the data partition" in b.log
    added = "firstboot: added a recovery key to the data partition" in b.log
    if had and (created or encrypted or not added):
        return [f"console: data was in the table, yet created={created} encrypted={encrypted} "
                f"(recovery key added={added})"]
    if not had and not (created and encrypted and not added):
        return [f"console: data was not in the table, yet created={created} encrypted={encrypted} added={added}"]
    return []


def firstboot_boot_problems(b, image, factory, workdir, prefix):
    problems = []
    if b.version != "1":
        problems.append(f"{prefix}came up as {b.version}, expected 1")
    if "data" not in (b.line("E2E-LABELS=") or "").split():
        problems.append(f"{prefix}no data partition in the guest: {b.line('E2E-LABELS=')}")
    if b.line("E2E-REPART=") != CONVERGED:
        problems.append(f"{prefix}repart run again in the guest: {b.line('E2E-REPART=')}, expected {CONVERGED}")
    after = invariants.gpt(image)
    problems += [f"{prefix}{p}" for p in after[1]]
    data = next((p for p in after[0] if p[1] == "data"), None)
    if data and invariants.slot(image, data, 6) == b"LUKS\xba\xbe":
        # every boot of an encrypted data partition without a recovery key adds one
        header = Path(workdir) / "pc-header.img"
        header.write_bytes(invariants.slot(image, data, 16 << 20))
        r = subprocess.run(["cryptsetup", "luksDump", "--dump-json-metadata", str(header)], capture_output=True,
                           text=True)
        header.unlink()
        tokens = [t["type"] for t in json.loads(r.stdout)["tokens"].values()] if r.returncode == 0 else r.stderr
        if "systemd-recovery" not in tokens:
            problems.append(f"{prefix}the data partition has no recovery key after the boot: {tokens}")
    problems += [f"{prefix}{p}" for p in firstboot_problems(image, factory, workdir, booted=True)]
    return problems


def firstboot_self_test(workdir, rec):
    """The first-boot checks can fail: a lost data superblock, a changed store_1 byte and a table
    that is neither the old nor the new one are reported."""
    factory = Factory(rec.base)
    last = firstboot_epochs(rec)[-1]
    image = workdir / "pc-broken.raw"
    rec.log.rebuild(rec.base, image, last + 1, keep=0.0)  # everything up to the first boot's last flush
    check(firstboot_problems(image, factory, workdir) == [], "self-test: the first-booted disk has problems: "
          + "; ".join(firstboot_problems(image, factory, workdir)))
    data = next(p for p in invariants.gpt(image)[0] if p[1] == "data")
    store = next(p for p in invariants.gpt(image)[0] if p[1] == "store_1")
    with open(image, "r+b") as f:
        f.seek(data[4] * SECTOR)  # the ext4 superblock, or both LUKS2 headers
        f.write(b"\0" * 65536)
        f.seek(store[4] * SECTOR + 4096)
        f.write(b"\1")
    problems = firstboot_problems(image, factory, workdir)
    check(any(p.startswith("data: ") for p in problems), f"self-test: a lost data header went unnoticed: {problems}")
    check("store_1: bytes changed" in problems, f"self-test: a changed store_1 went unnoticed: {problems}")
    image.unlink()
