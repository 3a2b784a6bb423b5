# SPDX-License-Identifier: LGPL-2.1-or-later
"""The seed appliance the update-agent tests run against: a GPT disk image with an ESP, store_1,
an _empty slot and a data partition; an ESP directory with appliance_1.efi; os-release with
IMAGE_VERSION=1; the example definitions pointed at the image and at a real HTTP server."""
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HTTPD = REPO / "tests" / "helpers" / "httpd.py"
# The seed appliance's definitions: one plain store slot per version (seed.d, the demo appliance's
# before its store became a dm-verity pair) or the demo appliance's own (pair=True: the store's
# hash and data partitions, then the UKI).
SEED_DEFS = Path(__file__).resolve().parent / "seed.d"
EXAMPLES = REPO / "examples" / "appliance" / "sysupdate.d"
ROOT_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
ROOT_VERITY_TYPE = "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5"

MiB = 1024 * 1024
SLOT_SIZE = 4 * MiB
LINUX_GENERIC = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

# abota(1), EXIT STATUS: fix something, or try again later
EXIT_FAIL = 1
EXIT_TEMPFAIL = 75

# What update says at the default log level (info) besides errors: the version chosen, each
# transfer started, the path each partition transfer took (patch, block reuse, full image) and its
# bytes, each retry, each version removed to make room, a download resumed, the progress lines
# when stderr is not a terminal ("store_2  1.0 MiB / 2.0 MiB  50%  1.0 MiB/s  ETA 0:01").
BYTES = r"[\d.]+ (?:B|[KMGTPE]iB)"
PROGRESS_LINE = re.compile(rf"abota: (.+)  ({BYTES})(?: / ({BYTES})  (\d+)%)?  (-|{BYTES})/s(?:  ETA (\S+))?$")
INFO_LINES = re.compile(r"abota: (Selected version \S+ for install\.|\S+: acquiring \S+ as \S+|"
                        r".*: written (from the full image|by block reuse|from version \S+ and a patch of).*|"
                        r".*: block reuse would fetch .*|.*: the server answers a request for \d+ ranges .*|"
                        r"Removing version \S+ to make room for \S+\.|\S+: removed version .*|"
                        r".*, retrying in \d+ ms \(retry \d+ of \d+\)|.*; fetching both again in \d+ ms, .*|"
                        r".*: resuming the download of version \S+ after .*, checking what was written)$|"
                        + PROGRESS_LINE.pattern)


def notifications(run, path):
    """Calls run() while a thread reads the sd_notify datagrams sent to the socket path; returns
    them (run() must send them to path, e.g. NOTIFY_SOCKET=path)."""
    import socket
    import threading
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(0.2)
    messages, done = [], threading.Event()

    def read():
        while not done.is_set():
            try:
                messages.append(s.recv(4096).decode())
            except TimeoutError:
                pass
    t = threading.Thread(target=read)
    t.start()
    try:
        run()
    finally:
        done.set()
        t.join()
        s.close()
    return messages


def error_lines(stderr):
    """stderr without the info lines of update: a failure must leave exactly one line here."""
    return [line for line in stderr.splitlines() if not INFO_LINES.match(line)]


def payload(version, size, salt=b"store"):
    """Deterministic, incompressible-enough bytes for one version."""
    out = bytearray()
    block = 0
    while len(out) < size:
        out += hashlib.sha256(b"%s-%s-%d" % (salt, version.encode(), block)).digest() * 64
        block += 1
    return bytes(out[:size])


def read_partitions(disk):
    """[(label, start_bytes, size_bytes, type)] from sfdisk --json."""
    import json
    out = subprocess.run(["sfdisk", "--json", str(disk)], check=True, capture_output=True, text=True).stdout
    table = json.loads(out)["partitiontable"]
    ss = table.get("sectorsize", 512)
    return [(p.get("name", ""), p["start"] * ss, p["size"] * ss, p["type"]) for p in table["partitions"]]


def slot_bytes(disk, label):
    for name, start, size, _ in read_partitions(disk):
        if name == label:
            with open(disk, "rb") as f:
                f.seek(start)
                return f.read(size)
    raise KeyError(label)


def gpt_bytes(disk):
    """The primary and backup GPT areas, to compare tables byte for byte."""
    with open(disk, "rb") as f:
        head = f.read(34 * 512)
        f.seek(-33 * 512, os.SEEK_END)
        return head + f.read()


class Server:
    """tests/helpers/httpd.py serving a directory; restart() changes its failure mode."""

    def __init__(self, root, workdir):
        self.root = Path(root)
        self.workdir = Path(workdir)
        self.proc = None
        self.port = None

    def start(self, *options):
        self.stop()
        pf = self.workdir / "httpd.port"
        if pf.exists():
            pf.unlink()
        args = [sys.executable, str(HTTPD), "--root", str(self.root), "--port-file", str(pf), *map(str, options)]
        self.proc = subprocess.Popen(args)
        for _ in range(200):
            if pf.exists():
                break
            time.sleep(0.02)
        self.port = int(pf.read_text().strip())
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/"


def write_manifest(server_dir):
    lines = []
    for p in sorted(Path(server_dir).iterdir()):
        if p.is_file() and not p.name.startswith("SHA256SUMS"):
            lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n")
    (Path(server_dir) / "SHA256SUMS").write_text("".join(lines))


class Appliance:
    """One seeded appliance below tmp: root/, defs/, server/ and the abota arguments for it."""

    def __init__(self, tmp, url="http://127.0.0.1:1/", esp_dir="efi", slot_size=SLOT_SIZE, pair=False):
        """pair: each slot is a data partition (type root) and a hash partition (root-verity, 1 MiB)."""
        self.pair = pair
        self.tmp = Path(tmp)
        self.root = self.tmp / "root"
        self.defs = self.tmp / "defs"
        self.server_dir = self.tmp / "server"
        self.disk = self.root / "disk.raw"
        self.esp = self.root / esp_dir / "EFI" / "Linux"
        for d in (self.root / "etc", self.defs, self.server_dir, self.esp):
            d.mkdir(parents=True, exist_ok=True)
        (self.root / "etc" / "os-release").write_text('ID=appliance\nIMAGE_ID=appliance\nIMAGE_VERSION=1\n')

        subprocess.run(["truncate", "-s", str(3 * slot_size + (6 if pair else 4) * MiB), str(self.disk)], check=True)
        if pair:
            layout = ("label: gpt\n"
                      f"size=1MiB, type={ESP_TYPE}, name=esp\n"
                      f"size={slot_size // 1024}KiB, type={ROOT_TYPE}, name=store_1\n"
                      f"size=1MiB, type={ROOT_VERITY_TYPE}, name=store-verity_1\n"
                      f"size={slot_size // 1024}KiB, type={ROOT_TYPE}, name=_empty\n"
                      f"size=1MiB, type={ROOT_VERITY_TYPE}, name=_empty\n"
                      f"size=1MiB, type={LINUX_GENERIC}, name=data\n")
        else:
            layout = ("label: gpt\n"
                      f"size=1MiB, type={ESP_TYPE}, name=esp\n"
                      f"size={slot_size // 1024}KiB, type={LINUX_GENERIC}, name=store_1\n"
                      f"size={slot_size // 1024}KiB, type={LINUX_GENERIC}, name=_empty\n"
                      f"size=1MiB, type={LINUX_GENERIC}, name=data\n")
        subprocess.run(["sfdisk", "-q", str(self.disk)], input=layout, text=True, check=True,
                       capture_output=True)
        self.v1 = payload("1", slot_size // 2)
        self.write_slot("store_1", self.v1)
        if pair:
            self.v1_hash = payload("1", 64 * 1024, b"hash")
            self.write_slot("store-verity_1", self.v1_hash)
        (self.esp / "appliance_1.efi").write_bytes(payload("1", 64 * 1024, b"efi"))
        self.set_url(url)

    def write_slot(self, label, data):
        for name, start, size, _ in read_partitions(self.disk):
            if name == label:
                assert len(data) <= size
                with open(self.disk, "r+b") as f:
                    f.seek(start)
                    f.write(data)
                return
        raise KeyError(label)

    def set_url(self, url, verify=False):
        for src in (EXAMPLES if self.pair else SEED_DEFS).iterdir():
            text = src.read_text()
            text = text.replace("Path=auto", "Path=/disk.raw").replace("Path=http://localhost/", f"Path={url}")
            text = text.replace("Verify=no", f"Verify={'yes' if verify else 'no'}")
            (self.defs / src.name).write_text(text)

    def publish(self, version, store_size=None, efi=True):
        """Puts version's payloads on the server and rewrites SHA256SUMS."""
        size = store_size if store_size is not None else SLOT_SIZE // 2 + 4096 * int(version)
        data = payload(version, size)
        if self.pair:
            # @u in the names: the halves of a (made-up) root hash become the partition UUIDs
            root_hash = hashlib.sha256(b"roothash-" + version.encode()).hexdigest()
            (self.server_dir / f"appliance_{version}_{root_hash[:32]}.store.raw").write_bytes(data)
            (self.server_dir / f"appliance_{version}_{root_hash[32:]}.store-verity.raw").write_bytes(
                payload(version, 64 * 1024, b"hash"))
        else:
            (self.server_dir / f"appliance_{version}.store.raw").write_bytes(data)
        if efi:
            (self.server_dir / f"appliance_{version}.efi").write_bytes(payload(version, 64 * 1024, b"efi"))
        write_manifest(self.server_dir)
        return data

    def signing_key(self):
        """A publisher key (GnuPG home below tmp, returned) trusted by the appliance's keyring."""
        home = self.tmp / "gnupg"
        home.mkdir(mode=0o700)
        subprocess.run(["gpg", "--batch", "--homedir", str(home), "--passphrase", "", "--quick-gen-key",
                        "abota publisher <publisher@example.invalid>", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        keyring = self.root / "etc" / "systemd" / "import-pubring.pgp"
        keyring.parent.mkdir(parents=True, exist_ok=True)
        keyring.write_bytes(subprocess.run(["gpg", "--batch", "--homedir", str(home), "--export"],
                                           check=True, capture_output=True).stdout)
        return home

    def args(self, *extra):
        return ["--definitions", str(self.defs), "--root", str(self.root), *extra]

    def snapshot(self):
        """Everything that must survive a failed update unchanged: GPT, labelled slots, ESP."""
        labelled = {name: hashlib.sha256(slot_bytes(self.disk, name)).hexdigest()
                    for name, _, _, _ in read_partitions(self.disk) if name != "_empty"}
        esp = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(self.esp.iterdir())}
        return gpt_bytes(self.disk), labelled, esp

    def labels(self):
        return [name for name, _, _, _ in read_partitions(self.disk)]

    def esp_files(self):
        return sorted(p.name for p in self.esp.iterdir())


def logged_appliance(tmp, verify=False):
    """An Appliance whose server logs each request (.log) and counts the bytes it sends (.count);
    verify: the manifest signed with a throwaway key and checked (.home is its GnuPG home)."""
    a = Appliance(tmp)
    a.log = Path(tmp) / "httpd.log"
    a.count = Path(tmp) / "httpd.count"
    a.server = Server(a.server_dir, tmp).start("--log", a.log, "--count", a.count)
    if verify:
        a.home = a.signing_key()
    a.set_url(a.server.url, verify=verify)
    return a
