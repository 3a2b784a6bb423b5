# SPDX-License-Identifier: LGPL-2.1-or-later
"""Side-by-side runner: one scenario, run once with systemd-sysupdate 257 and once with abota, on
the same paths, then the exit codes, JSON outputs, GPT tables (sfdisk --json) and file trees are
compared. Runs inside the trixie chroot (tests/compat/run), so both tools see the same system."""

import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import struct
import subprocess

# per run, so that two runs in the shared chroot do not meet
WORK = f"/var/tmp/abota-compat.{os.getpid()}"
SYSTEMD = "/usr/lib/systemd/systemd-sysupdate"
ABOTA = None  # the abota under test (run.py), for scenarios that publish with it


def payload(name, size=300):
    """Deterministic content, different for every name."""
    out = b""
    seed = name.encode()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return out[:size]


class Work:
    """The scenario's directory, the same path for both tools."""

    def __init__(self, name):
        self.dir = os.path.join(WORK, name)
        self.loops = []  # loop devices attached by the setup, detached after the scenario
        self.mounts = []  # file systems mounted by the setup, unmounted after the scenario

    def loop(self, rel, sector_size):
        """Attaches rel as a loop device with the given sector size (as TEST-72 does)."""
        r = subprocess.run(["losetup", "--find", "--show", "--sector-size", str(sector_size), self.p(rel)],
                           capture_output=True, text=True, check=True)
        self.loops.append(r.stdout.strip())
        return self.loops[-1]

    def mount_btrfs(self, rel):
        """A fresh btrfs file system at rel: a copy of the empty image tests/compat/run made on the
        host ($ABOTA_COMPAT_BTRFS; the chroot has no mkfs.btrfs), loop-mounted. The image lies
        beside the work directory, out of the compared tree."""
        img = self.dir + ".btrfs.img"
        shutil.copyfile(os.environ["ABOTA_COMPAT_BTRFS"], img)
        os.makedirs(self.p(rel))
        subprocess.run(["mount", "-o", "loop", img, self.p(rel)], check=True, capture_output=True)
        self.mounts.append(self.p(rel))
        return self.p(rel)

    def normalize(self, text):
        """Loop device names differ between the two runs: they read @LOOPn."""
        for n, dev in enumerate(self.loops):
            text = text.replace(dev, f"@LOOP{n}")
        return text

    def detach(self):
        for m in self.mounts:
            subprocess.run(["umount", m], capture_output=True)
        if self.mounts and os.path.exists(self.dir + ".btrfs.img"):
            os.unlink(self.dir + ".btrfs.img")
        self.mounts = []
        for dev in self.loops:
            subprocess.run(["losetup", "--detach", dev], capture_output=True)
        self.loops = []

    def p(self, *parts):
        return os.path.join(self.dir, *parts)

    def write(self, rel, data, mode=0o644):
        path = self.p(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        os.chmod(path, mode)
        os.utime(path, (1700000000, 1700000000))
        return path

    def transfer(self, name, text, defs="defs"):
        return self.write(f"{defs}/{name}", text.replace("@DISK", self.disk_path).replace("@W", self.dir))

    disk_path = "@W/disk.img"

    def sha256sums(self, rel, names, extra=""):
        lines = []
        for n in sorted(names):
            with open(self.p(rel, n), "rb") as f:
                lines.append(f"{hashlib.sha256(f.read()).hexdigest()}  {n}\n")
        self.write(f"{rel}/SHA256SUMS", "".join(lines) + extra)

    def disk(self, rel, layout, sector_size=512, loop=False, partscan=False):
        """A GPT disk image; with loop, attached as a loop device with that sector size (sfdisk
        cannot give a plain file 4096-byte sectors), as TEST-72 does; with partscan, the kernel
        then makes its partitions' device nodes. Returns what to write to."""
        path = self.p(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            # 1 MiB for each GPT, 2048 sectors for each partition, as TEST-72 sizes it
            f.truncate(sector_size * 2048 * len(layout) + 2 * 1024 * 1024)
        if loop:
            path = self.loop(rel, sector_size)
        script = f"label: gpt\nunit: sectors\nsector-size: {sector_size}\nlabel-id: 11111111-2222-3333-4444-555555555555\n\n"
        for i, (ptype, name) in enumerate(layout, 1):
            script += f"size=2048, type={ptype}, name={name}, uuid=00000000-0000-4000-8000-00000000000{i}\n"
        subprocess.run(["sfdisk", "-q", "--no-reread", path], input=script, text=True, check=True, capture_output=True)
        if partscan:
            subprocess.run(["partx", "-a", path], capture_output=True)
        return path


def snapshot(work):
    """File tree (type, mode, content hash or link target) and GPT tables of every *.img."""
    tree, tables = {}, {}
    for top, dirs, files in os.walk(work.dir):
        dirs.sort()
        for n in sorted(dirs + files):
            path = os.path.join(top, n)
            rel = os.path.relpath(path, work.dir)
            st = os.lstat(path)
            if os.path.islink(path):
                tree[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path) and path in work.mounts:
                tree[rel] = ("mount point",)
            elif os.path.isdir(path):
                tree[rel] = ("dir", oct(st.st_mode & 0o7777)) + subvolume(path, st)
            else:
                with open(path, "rb") as f:
                    data = f.read()
                if rel.startswith("defs/"):  # inputs naming the loop device of this run
                    data = work.normalize(data.decode()).encode()
                tree[rel] = ("file", oct(st.st_mode & 0o7777), hashlib.sha256(data).hexdigest()[:16])
                if rel.endswith(".img"):
                    tables[rel] = gpt(path)
    for n, dev in enumerate(work.loops):
        tables[f"@LOOP{n}"] = json.loads(work.normalize(json.dumps(gpt(dev))))
    return tree, tables


BTRFS_SUPER_MAGIC = 0x9123683E
BTRFS_IOC_SUBVOL_GETFLAGS = 0x80089419
BTRFS_IOC_SUBVOL_CREATE = 0x5000940E


def subvolume(path, st):
    """("subvolume", "ro"|"rw") for the top directory of a btrfs subvolume, else ()."""
    if st.st_ino != 256:  # every subvolume's top directory; other file systems use it too
        return ()
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = struct.unpack("Q", fcntl.ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, b"\0" * 8))[0]
    except OSError:
        return ()  # not btrfs
    finally:
        os.close(fd)
    return ("subvolume", "ro" if flags & 2 else "rw")


def create_subvolume(path):
    """An empty btrfs subvolume at path (the chroot has no btrfs(8))."""
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, bytearray(struct.pack("q4088s", 0, os.path.basename(path).encode())))
    finally:
        os.close(fd)


def gpt(path):
    r = subprocess.run(["sfdisk", "--json", path], capture_output=True, text=True)
    return json.loads(r.stdout)["partitiontable"] if r.returncode == 0 else r.stderr.strip()


def run_tool(tool, work, args, env):
    e = dict(os.environ)
    e.update({k: v.replace("@W", work.dir) for k, v in env.items()})
    e["SYSTEMD_PAGER"] = "cat"
    e["SYSTEMD_LOG_LEVEL"] = e.get("SYSTEMD_LOG_LEVEL", "info")
    args = [a.replace("@W", work.dir) for a in args]
    r = subprocess.run([tool] + args, capture_output=True, text=True, env=e, timeout=120)
    out = work.normalize(r.stdout)
    if any(a.startswith("--json") for a in args):
        try:
            out = json.loads(out) if out.strip() else None
        except ValueError:
            out = {"unparsable JSON": r.stdout}
    else:
        out = None  # text output is for people; only JSON is compared
    return {"exit": r.returncode, "output": out, "stderr": r.stderr.strip().splitlines()[-3:]}


def partition_paths(out, replace=...):
    """The paths of the partition rows of list VERSION --json; with replace, out with them replaced."""
    rows = out.get("contents") if isinstance(out, dict) else None
    if not isinstance(rows, list):
        return out if replace is not ... else []
    if replace is ...:
        return [r.get("path") for r in rows if r.get("type") == "partition"]
    return dict(out, contents=[dict(r, path=replace) if r.get("type") == "partition" else r for r in rows])


# Differences every scenario may show, with the reason.
EXPECTED = {
    "step * partition path": "systemd 257 names a partition after its own file descriptor (/proc/self/fd/3p1), "
                             "meaningless outside the process; abota prints the partition's device node (or FILE:N "
                             "for a disk image file)",
}


class Scenario:
    """name, setup(work), steps: list of ("run", args) / callable(work); env for the tools.
    expected: {aspect: reason} for deliberate differences; pending: {aspect: reason} for what
    abota does not do yet (issue 11). An aspect is "step N exit", "step N output", "tree",
    "tree PATH", "gpt FILE"."""

    def __init__(self, name, setup, steps, env=None, expected=None, pending=None, ref_failures=()):
        self.name, self.setup, self.steps = name, setup, steps
        self.ref_failures = set(ref_failures)  # steps where systemd-sysupdate itself fails
        self.env = env or {}
        self.expected = expected or {}
        self.pending = pending or {}

    def play(self, tool):
        work = Work(self.name)
        shutil.rmtree(work.dir, ignore_errors=True)
        os.makedirs(work.dir)
        try:
            self.setup(work)
            results = []
            for step in self.steps:
                if callable(step):
                    step(work)
                    results.append(None)
                else:
                    results.append(run_tool(tool, work, list(step), self.env))
            tree, tables = snapshot(work)
        finally:
            work.detach()
        return results, tree, tables

    def compare(self, abota):
        ref = self.play(SYSTEMD)
        got = self.play(abota)
        diffs = []
        for i, (a, b) in enumerate(zip(ref[0], got[0])):
            if a is None:
                continue
            args = " ".join(self.steps[i])
            # a scenario whose reference run fails where it should not tests nothing
            if (a["exit"] != 0) != (i in self.ref_failures):
                diffs.append((f"step {i} reference", f"`{args}`: systemd-sysupdate exit {a['exit']}, the scenario "
                              f"expects {'a failure' if i in self.ref_failures else 'success'}: {a['stderr'][-1:]}"))
            if a["exit"] != b["exit"]:
                diffs.append((f"step {i} exit", f"`{args}`: systemd exit {a['exit']}, abota exit {b['exit']}"
                              f" (systemd: {a['stderr'][-1:]}, abota: {b['stderr'][-1:]})"))
            if partition_paths(a["output"]) != partition_paths(b["output"]):
                diffs.append((f"step {i} partition path", f"`{args}`: systemd {partition_paths(a['output'])}, "
                              f"abota {partition_paths(b['output'])}"))
                a, b = dict(a, output=partition_paths(a["output"], None)), dict(b, output=partition_paths(b["output"], None))
            if a["output"] != b["output"]:
                diffs.append((f"step {i} output", f"`{args}`: systemd {json.dumps(a['output'])}\n"
                              f"        abota   {json.dumps(b['output'])}"))
        for path in sorted(set(ref[1]) | set(got[1])):
            if ref[1].get(path) != got[1].get(path):
                diffs.append((f"tree {path}", f"{path}: systemd {ref[1].get(path)}, abota {got[1].get(path)}"))
        for path in sorted(set(ref[2]) | set(got[2])):
            if ref[2].get(path) != got[2].get(path):
                diffs.append((f"gpt {path}", f"{path}: systemd {json.dumps(ref[2].get(path))}\n"
                              f"        abota   {json.dumps(got[2].get(path))}"))
        return diffs

    def classify(self, aspect):
        for table, kind in ((self.expected, "expected"), (EXPECTED, "expected"), (self.pending, "pending")):
            for key, reason in table.items():
                if aspect == key or fnmatch.fnmatchcase(aspect, key):
                    return kind, reason
        return "unexpected", None
