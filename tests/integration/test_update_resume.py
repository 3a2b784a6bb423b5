# SPDX-License-Identifier: LGPL-2.1-or-later
"""Resumable downloads: a full download into a partition slot that a SIGKILL cuts goes on where it
stopped on the next run. The rerun hashes the prefix that the resume state names and fetches the
rest with a Range request; the slot ends up byte for byte the published image, the server sends
at most 1.1 times the payloads in all, and a prefix changed between the runs is fetched again.
(Compressed payloads and regular-file targets: test_update_resume_spool.py.)"""
import json
import subprocess

import pytest

from agent_env import MiB, Appliance, Server, payload, read_partitions, slot_bytes
from syscall_shim import build_shim, read_log, shim_env

SLOT = 24 * MiB
STORE = 20 * MiB
# Socket buffers of 64 KiB on both ends: what the kernel holds in flight when the client dies
# stays small, as on a real link (over loopback, autotuned buffers reach megabytes).
BUFFER = 64 * 1024


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build_shim(tmp_path_factory.mktemp("shim"))


class Device:
    """A v1 appliance with 24 MiB slots, v2 (an uncompressed 20 MiB store) on a byte-counting
    server."""

    def __init__(self, tmp_path, *server_options):
        self.app = Appliance(tmp_path, slot_size=SLOT)
        self.count = tmp_path / "count.json"
        self.log = tmp_path / "httpd.log"
        self.server = Server(self.app.server_dir, tmp_path).start("--count", self.count, "--log", self.log,
                                                                  *server_options)
        self.app.set_url(self.server.url)
        self.v2 = self.app.publish("2", store_size=STORE)
        self.efi2 = payload("2", 64 * 1024, b"efi")
        self.state = self.app.root / "var/lib/abota/resume/10-store.state"

    def bytes_sent(self):
        return json.loads(self.count.read_text())["bytes_out"] if self.count.exists() else 0

    def payloads(self):
        return len(self.v2) + len(self.efi2)

    def gets(self):
        return [line.split() for line in self.log.read_text().splitlines() if line.startswith("GET ")]

    def check_installed(self):
        assert sorted(self.app.labels()[1:3]) == ["store_1", "store_2"]
        assert slot_bytes(self.app.disk, "store_2")[:len(self.v2)] == self.v2
        assert (self.app.esp / "appliance_2+3-0.efi").read_bytes() == self.efi2
        assert not self.state.exists(), "the resume state outlives the commit"


@pytest.fixture
def dev(tmp_path):
    d = Device(tmp_path)
    yield d
    d.server.stop()


@pytest.fixture(scope="module")
def calls(tmp_path_factory, abota_bin, shim):
    """The call numbers of the store's data writes and of the resume state's writes, fsyncs and
    renames in a whole update (with the small socket buffers of the kills)."""
    tmp = tmp_path_factory.mktemp("probe")
    d = Device(tmp, "--sndbuf", BUFFER)
    try:
        return download_calls(abota_bin, d.app, shim, tmp / "calls.log")
    finally:
        d.server.stop()


def killed_run(abota_bin, app, shim, at):
    p = subprocess.run([abota_bin, *map(str, app.args("update"))], capture_output=True, text=True,
                       env=shim_env(shim, CRASH_KILL_AT=at, CRASH_SELF_ONLY=1, CRASH_RCVBUF=BUFFER))
    assert p.returncode == -9, p.stderr
    assert "store_2" not in app.labels(), "a cut download was committed"


def slot_offset(app, label):
    return next(start for name, start, _, _ in read_partitions(app.disk) if name == label)


def test_uninterrupted_update_fetches_once_and_leaves_no_state(abota, dev):
    abota(*dev.app.args("update"))
    dev.check_installed()
    # one request for the whole store: nothing to resume
    stores = [g for g in dev.gets() if g[1] == "/appliance_2.store.raw"]
    assert len(stores) == 1 and stores[0][3] == "-"


def download_calls(abota_bin, app, shim, log):
    """The system calls of a whole update: (call number, what) while the store is downloaded."""
    p = subprocess.run([abota_bin, *map(str, app.args("update"))], capture_output=True, text=True,
                       env=shim_env(shim, CRASH_LOG_FILE=log, CRASH_SELF_ONLY=1, CRASH_RCVBUF=BUFFER))
    assert p.returncode == 0, p.stderr
    start = slot_offset(app, "store_2")
    calls = read_log(log)
    disk = str(app.disk)
    data = [n for n, call, path, off, _ in calls if path == disk and call == "pwrite" and start <= off < start + SLOT]
    state = [n for n, call, path, _, _ in calls if "resume" in path]
    return data, state


def test_kill_at_many_points_then_resume(abota, abota_bin, tmp_path, shim, calls):
    """SIGKILL at data writes across the download and inside the checkpoints (the state's write
    and fdatasync): each rerun completes the image, resumes after the first checkpoint (every
    MiB here), and the two runs together fetch at most 1.1x the payloads."""
    data, state = calls
    assert len(data) >= 60 and len(state) >= 30, (len(data), len(state))
    points = [data[len(data) * k // 8] for k in range(1, 8)] + [state[len(state) * k // 5] for k in range(1, 5)]
    resumed, ratios = 0, []
    for i, at in enumerate(points):
        d = Device(tmp_path / f"kill{i}", "--sndbuf", BUFFER)
        try:
            killed_run(abota_bin, d.app, shim, at)
            r = abota(*d.app.args("update"))
            d.check_installed()
            assert d.bytes_sent() <= 1.1 * d.payloads(), (at, d.bytes_sent(), d.payloads())
            ratios.append(d.bytes_sent() / d.payloads())
            ranges = [g[3] for g in d.gets() if g[1] == "/appliance_2.store.raw"]
            assert "no longer hash" not in r.stderr, r.stderr
            if d.gets() and "resuming the download" in r.stderr:
                resumed += 1
                assert ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-", ranges
        finally:
            d.server.stop()
    # every point after the first checkpoint resumes: all but perhaps the earliest one
    assert resumed >= len(points) - 1, resumed
    print(f"\nresume: {len(points)} kill points, {resumed} resumed, the two runs fetched "
          f"{min(ratios):.3f} to {max(ratios):.3f} times the payloads")


def test_tampered_prefix_is_fetched_again(abota, abota_bin, dev, shim, tmp_path, calls):
    """(test_resumes_into_the_same_slot resumes from the same kill point without the change.)"""
    data, _ = calls
    killed_run(abota_bin, dev.app, shim, data[len(data) // 2])
    assert dev.state.exists()
    # one byte of the partly written slot flipped by hand between the runs
    at = slot_offset(dev.app, "_empty") + 4096 * 10 + 7
    with open(dev.app.disk, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x40]))
    r = abota(*dev.app.args("update"))
    assert "no longer hash to what was downloaded, downloading it all again" in r.stderr
    dev.check_installed()
    stores = [g for g in dev.gets() if g[1] == "/appliance_2.store.raw"]
    assert stores[-1][3] == "-", "the whole store is fetched again"


def test_damaged_state_is_ignored(abota, abota_bin, dev, shim, tmp_path, calls):
    data, _ = calls
    killed_run(abota_bin, dev.app, shim, data[len(data) // 2])
    text = dev.state.read_text()
    # a state claiming more than was written: its checksum no longer matches, it is not used
    done = next(line for line in text.splitlines() if line.startswith("done="))
    dev.state.write_text(text.replace(done, f"done={STORE}"))
    r = abota(*dev.app.args("update"))
    assert "resuming" not in r.stderr
    dev.check_installed()


def test_server_ignoring_range(abota, abota_bin, tmp_path, shim, calls):
    """A server that answers a Range with the whole file (200): the verified prefix is skipped
    in the answer, the result is the same image."""
    d = Device(tmp_path, "--no-range")
    try:
        data, _ = calls
        killed_run(abota_bin, d.app, shim, data[len(data) // 2])
        r = abota(*d.app.args("update"))
        assert "resuming the download" in r.stderr
        d.check_installed()
        stores = [g for g in d.gets() if g[1] == "/appliance_2.store.raw"]
        assert stores[-1][2] == "200"
    finally:
        d.server.stop()


def test_server_gone_then_resume(abota_bin, abota, tmp_path):
    """The server goes away in the middle of the store: the run gives up after its retries (exit
    status 75) with the slot still `_empty`; the next run, from a server at another address,
    resumes where the first one stopped and fetches only the rest."""
    d = Device(tmp_path, "--throttle", 8 * MiB)
    try:
        p = subprocess.Popen([abota_bin, *map(str, d.app.args("update"))], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        while p.poll() is None:
            io = dict(line.split(": ") for line in open(f"/proc/{p.pid}/io").read().splitlines())
            if int(io["wchar"]) >= 6 * MiB:
                break
        d.server.stop()
        _, err = p.communicate(timeout=60)
        assert p.returncode == 75, err
        assert "store_2" not in d.app.labels()
        d.server.start("--log", d.log)
        d.app.set_url(d.server.url)
        r = abota(*d.app.args("update"))
        assert "resuming the download of version 2" in r.stderr, r.stderr
        d.check_installed()
        ranges = [g[3] for g in d.gets() if g[1] == "/appliance_2.store.raw"]
        assert ranges[-1].startswith("bytes=") and int(ranges[-1][6:-1]) >= 5 * MiB, ranges
    finally:
        d.server.stop()


def test_resumes_into_the_same_slot(abota, abota_bin, dev, shim, calls):
    """Another free slot appears between the runs, one the slot search would pick first (smaller,
    still large enough): the rerun still goes on in the slot it had started."""
    data, _ = calls
    killed_run(abota_bin, dev.app, shim, data[len(data) // 2])
    started = next(start for name, start, _, _ in read_partitions(dev.app.disk) if name == "_empty")
    subprocess.run(["sfdisk", "-q", "--append", str(dev.app.disk)], check=True, capture_output=True, text=True,
                   input=f"size={(SLOT - MiB) // 1024}KiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=_empty\n")
    r = abota(*dev.app.args("update"))
    assert "resuming the download" in r.stderr and "no longer hash" not in r.stderr, r.stderr
    assert [g[3] for g in dev.gets() if g[1] == "/appliance_2.store.raw"][-1] != "-"
    assert next(start for name, start, _, _ in read_partitions(dev.app.disk) if name == "store_2") == started
    assert slot_bytes(dev.app.disk, "store_2")[:len(dev.v2)] == dev.v2


def test_server_file_shorter_than_prefix(abota, abota_bin, dev, shim, calls):
    """The server's file is now shorter than what was written (416 for the Range; a broken server,
    SHA256SUMS unchanged): the download starts over, fails the checksum, and nothing is committed."""
    data, _ = calls
    killed_run(abota_bin, dev.app, shim, data[len(data) // 2])
    assert dev.state.exists()
    store = dev.app.server_dir / "appliance_2.store.raw"
    with open(store, "r+b") as f:
        f.truncate(MiB)
    r = abota(*dev.app.args("update"), check=False)
    assert r.returncode == 1, r
    assert "is shorter than what was downloaded before, downloading it all again" in r.stderr
    assert "checksum mismatch" in r.stderr
    assert [g[2] for g in dev.gets() if g[1] == "/appliance_2.store.raw"][-2:] == ["416", "200"]
    assert "store_2" not in dev.app.labels()
    assert not dev.state.exists()
