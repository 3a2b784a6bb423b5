# SPDX-License-Identifier: LGPL-2.1-or-later
"""Power cuts that lose data, for tests/e2e/run (scenario power_cuts) and bench/power-cuts.

`kill -9` of QEMU keeps the host's page cache, so it loses nothing the guest wrote. Here the VM's
disk is served by tests/helpers/nbd.py, which logs every write and every flush, while the
appliance runs one recorded session of two boots:

  boot 1 (v1)  phases "boot" (firmware, init, bless --check), "download" (abota update fetches the
               store pair into the free slot pair and the UKI into a temporary file on the ESP), "commit"
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
        seen, cuts = set(), []
        for s in range(seed, seed + 64):
            for e in eps:
                key = (e, tuple(w.index for w in rec.log.choose(e, s)))
                if key not in seen:
                    seen.add(key)
                    cuts.append((phase, e, s))
            if len(cuts) >= 4 * n_off:
                break
        cuts.sort(key=lambda c: (c[1], c[2]))
        off += spread(cuts, n_off)
        boot += spread(cuts, n_boot)
    return off, boot


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
    vm = Machine(workdir, Disk(image, source=None), server, "pc-cut")
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
