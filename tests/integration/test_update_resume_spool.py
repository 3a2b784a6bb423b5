# SPDX-License-Identifier: LGPL-2.1-or-later
"""Resumable downloads of compressed payloads and of regular-file targets.

A compressed payload cannot go on from the slot (the decompressor's state dies with the
process): the bytes as downloaded are also appended to a spool beside the resume state, and the
rerun checks the spool against the state, decompresses it into the slot again and fetches only
the rest with a Range request. A regular-file target (the UKI on the ESP) is written into a
partial file of a fixed name that a kill leaves behind, and that the rerun goes on with."""
import contextlib
import json
import random
import subprocess

import pytest

from agent_env import MiB, Appliance, Server, payload, slot_bytes, write_manifest
from syscall_shim import build_shim, read_log, shim_env

SLOT = 24 * MiB
BUFFER = 64 * 1024
COMPRESS = {
    "zstd": ["zstd", "-q", "-f", "-1"],
    "xz": ["xz", "-q", "-f", "-k", "-0", "-T1"],
    "gz": ["gzip", "-q", "-f", "-k", "-1"],
}
SUFFIX = {"zstd": ".zst", "xz": ".xz", "gz": ".gz"}


def image(version, size):
    """Bytes that compress to about 70 %: random runs, text-like runs and zeros."""
    rnd = random.Random(f"image-{version}")
    out = bytearray()
    while len(out) < size:
        out += rnd.randbytes(96 * 1024) + bytes(24 * 1024) + b"%08d lorem ipsum\n" % len(out) * 512
    return bytes(out[:size])


COMPRESSED = {}  # (name, fmt) -> the bytes compressed, made once per module


def compress(path, fmt):
    """Replaces path by its content compressed with fmt."""
    key = (path.name, fmt, path.stat().st_size)
    if key not in COMPRESSED:
        out = str(path) + SUFFIX[fmt]
        subprocess.run([*COMPRESS[fmt], str(path)] + (["-o", out] if fmt == "zstd" else []), check=True)
        COMPRESSED[key] = open(out, "rb").read()
        subprocess.run(["rm", out], check=True)
    path.write_bytes(COMPRESSED[key])


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build_shim(tmp_path_factory.mktemp("shim"))


class Device:
    """A v1 appliance with 24 MiB slots and v2 on a byte-counting server: a 20 MiB store
    compressed with fmt (None: uncompressed), and a UKI of efi_size bytes (compressed too with
    efi_fmt)."""

    def __init__(self, tmp_path, fmt="zstd", efi_size=64 * 1024, efi_fmt=None, *server_options):
        self.app = Appliance(tmp_path, slot_size=SLOT)
        self.count = tmp_path / "count.json"
        self.log = tmp_path / "httpd.log"
        self.server = Server(self.app.server_dir, tmp_path).start("--count", self.count, "--log", self.log,
                                                                  "--sndbuf", BUFFER, *server_options)
        self.app.set_url(self.server.url)
        self.app.publish("2", store_size=0)
        self.v2 = image("2", 20 * MiB)
        self.efi2 = image("efi-2", efi_size) if efi_size > 64 * 1024 else payload("2", efi_size, b"efi")
        for name, data, f in (("appliance_2.store.raw", self.v2, fmt), ("appliance_2.efi", self.efi2, efi_fmt)):
            dst = self.app.server_dir / name
            dst.write_bytes(data)
            if f:
                compress(dst, f)
        write_manifest(self.app.server_dir)
        self.resume = self.app.root / "var/lib/abota/resume"
        self.state = self.resume / "10-store.state"
        self.spool = self.resume / "10-store.part"

    def bytes_sent(self):
        return json.loads(self.count.read_text())["bytes_out"] if self.count.exists() else 0

    def payloads(self):
        return sum((self.app.server_dir / n).stat().st_size for n in ("appliance_2.store.raw", "appliance_2.efi"))

    def gets(self, name="appliance_2.store.raw"):
        return [line.split() for line in self.log.read_text().splitlines() if line.startswith(f"GET /{name} ")]

    def check_installed(self):
        assert sorted(self.app.labels()[1:3]) == ["store_1", "store_2"]
        assert slot_bytes(self.app.disk, "store_2")[:len(self.v2)] == self.v2
        assert (self.app.esp / "appliance_2+3-0.efi").read_bytes() == self.efi2
        assert not self.state.exists(), "the resume state outlives the commit"
        assert not list(self.resume.glob("*.part")), "a spool outlives the commit"
        assert not [p.name for p in self.app.esp.iterdir() if p.name.startswith(".#")], "a partial file stays"


def killed_run(abota_bin, app, shim, at):
    p = subprocess.run([abota_bin, *map(str, app.args("update"))], capture_output=True, text=True,
                       env=shim_env(shim, CRASH_KILL_AT=at, CRASH_SELF_ONLY=1, CRASH_RCVBUF=BUFFER))
    assert p.returncode == -9, p.stderr
    assert "store_2" not in app.labels(), "a cut download was committed"


@contextlib.contextmanager
def cut_device(tmp_path, abota_bin, shim, at, *args):
    """A Device (args as Device's) whose update was killed at call `at`; its server stops after."""
    d = Device(tmp_path, *args)
    try:
        killed_run(abota_bin, d.app, shim, at)
        yield d
    finally:
        d.server.stop()


def logged_calls(abota_bin, dev, shim, log):
    """A whole update's system calls [(n, call, path, offset, length)]."""
    p = subprocess.run([abota_bin, *map(str, dev.app.args("update"))], capture_output=True, text=True,
                       env=shim_env(shim, CRASH_LOG_FILE=log, CRASH_SELF_ONLY=1, CRASH_RCVBUF=BUFFER))
    assert p.returncode == 0, p.stderr
    dev.check_installed()
    return read_log(log)


@pytest.fixture(scope="module")
def calls(tmp_path_factory, abota_bin, shim):
    """Per format: the call numbers of the spool's writes and of the resume state's writes."""
    out = {}
    for fmt in COMPRESS:
        tmp = tmp_path_factory.mktemp(f"probe-{fmt}")
        d = Device(tmp, fmt)
        try:
            calls = logged_calls(abota_bin, d, shim, tmp / "calls.log")
        finally:
            d.server.stop()
        spool = [n for n, call, path, _, _ in calls if path.endswith("/10-store.part") and call == "pwrite"]
        state = [n for n, call, path, _, _ in calls if path.endswith("/10-store.state")]
        out[fmt] = (spool, state)
    return out


def resume_after_kills(abota, abota_bin, tmp_path, shim, fmt, points):
    ratios, resumed = [], 0
    for i, at in enumerate(points):
        d = Device(tmp_path / f"{fmt}-kill{i}", fmt)
        try:
            killed_run(abota_bin, d.app, shim, at)
            r = abota(*d.app.args("update"))
            d.check_installed()
            sent = d.bytes_sent()
            assert sent <= 1.1 * d.payloads(), (fmt, at, sent, d.payloads())
            ratios.append(sent / d.payloads())
            assert "no longer" not in r.stderr, r.stderr
            if "(from the spool)" in r.stderr:
                resumed += 1
                ranges = [g[3] for g in d.gets()]
                assert ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-", ranges
        finally:
            d.server.stop()
    return ratios, resumed


def test_compressed_kill_at_many_points_then_resume(abota, abota_bin, tmp_path, shim, calls):
    """zstd: SIGKILL at 10 spool writes across the download and at 3 writes of the state; every
    rerun installs the image and the two runs fetch at most 1.1x the payloads."""
    spool, state = calls["zstd"]
    assert len(spool) >= 40 and len(state) >= 8, (len(spool), len(state))
    points = [spool[len(spool) * k // 11] for k in range(1, 11)] + [state[len(state) * k // 4] for k in (1, 2, 3)]
    ratios, resumed = resume_after_kills(abota, abota_bin, tmp_path, shim, "zstd", points)
    # every point after the first checkpoint resumes from the spool: all but perhaps the first
    assert resumed >= len(points) - 1, resumed
    print(f"\nzstd resume: {len(points)} kill points, {resumed} resumed from the spool, the two runs fetched "
          f"{min(ratios):.3f} to {max(ratios):.3f} times the payloads")


@pytest.mark.parametrize("fmt", ["xz", "gz"])
def test_xz_and_gzip_resume(abota, abota_bin, tmp_path, shim, calls, fmt):
    spool, _ = calls[fmt]
    assert len(spool) >= 40, len(spool)
    points = [spool[len(spool) * k // 4] for k in (1, 2, 3)]
    ratios, resumed = resume_after_kills(abota, abota_bin, tmp_path, shim, fmt, points)
    assert resumed == len(points), resumed
    print(f"\n{fmt} resume: {len(points)} kill points, {min(ratios):.3f} to {max(ratios):.3f} times the payloads")


def test_resumed_download_cut_again(abota, abota_bin, tmp_path, shim, calls):
    """A resumed download is cut again, in the middle of what it fetches after the replay: the
    third run resumes from the second one's spool and installs the image; the three runs fetch
    at most 1.15x the payloads (two cuts, each losing at most one checkpoint interval)."""
    spool, _ = calls["zstd"]
    first = spool[len(spool) // 3]
    with cut_device(tmp_path / "probe", abota_bin, shim, first) as probe:
        rerun = logged_calls(abota_bin, probe, shim, tmp_path / "rerun.log")
    # the spool writes of the resumed run: those past the replayed prefix
    appended = [n for n, call, path, off, _ in rerun if path.endswith("/10-store.part") and call == "pwrite"]
    assert len(appended) >= 10, len(appended)
    with cut_device(tmp_path / "dev", abota_bin, shim, first) as d:
        killed_run(abota_bin, d.app, shim, appended[len(appended) // 2])
        r = abota(*d.app.args("update"))
        assert "(from the spool)" in r.stderr and "no longer" not in r.stderr, r.stderr
        d.check_installed()
        ranges = [int(g[3][6:-1]) for g in d.gets() if g[3] != "-"]
        assert len(ranges) == 2 and ranges[1] > ranges[0], d.gets()
        assert d.bytes_sent() <= 1.15 * d.payloads(), (d.bytes_sent(), d.payloads())


def test_tampered_spool_is_fetched_again(abota, abota_bin, tmp_path, shim, calls):
    spool, _ = calls["zstd"]
    with cut_device(tmp_path, abota_bin, shim, spool[len(spool) // 2]) as d:
        assert d.state.exists() and d.spool.stat().st_size > 2 * MiB
        with open(d.spool, "r+b") as f:
            f.seek(MiB + 5)
            b = f.read(1)
            f.seek(MiB + 5)
            f.write(bytes([b[0] ^ 0x01]))
        r = abota(*d.app.args("update"))
        assert "in the spool" in r.stderr and "no longer hash to what was downloaded" in r.stderr, r.stderr
        d.check_installed()
        assert d.gets()[-1][3] == "-", "the whole store is fetched again"


def test_spool_without_room_updates_without_resume(abota_bin, tmp_path, shim):
    """The resume directory is a 4 MiB tmpfs, too small for the 15 MiB download: one warning, no
    spool and no state are written (a cut download starts over), the update succeeds."""
    d = Device(tmp_path)
    d.resume.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(d.resume)], check=True)
    try:
        log = tmp_path / "calls.log"
        p = subprocess.run([abota_bin, *map(str, d.app.args("update"))], capture_output=True, text=True,
                           env=shim_env(shim, CRASH_LOG_FILE=log, CRASH_SELF_ONLY=1))
        assert p.returncode == 0, p.stderr
        assert p.stderr.count("cannot keep the spool") == 1, p.stderr
        assert "no room" not in p.stderr and "4.0 MiB free" in p.stderr, p.stderr
        d.check_installed()
        assert not [c for c in read_log(log) if "10-store." in c[2]], "a spool or state of the store was written"
    finally:
        subprocess.run(["umount", str(d.resume)], check=True)
        d.server.stop()


def test_orphaned_spool_is_removed(abota, abota_bin, tmp_path, shim, calls):
    """A spool whose state is gone (a cut between their removals) goes at the next vacuum."""
    spool, _ = calls["zstd"]
    with cut_device(tmp_path, abota_bin, shim, spool[len(spool) // 2]) as d:
        d.state.unlink()
        r = abota(*d.app.args("vacuum"))
        assert "removed the spool" in r.stderr, r.stderr
        assert not d.spool.exists()


@pytest.mark.parametrize("efi_fmt", [None, "zstd"])
def test_regular_file_target_resumes(abota, abota_bin, tmp_path, shim, efi_fmt):
    """A 12 MiB UKI (uncompressed, or zstd): killed in the middle of its download, the partial
    file stays under a name no pattern matches (`abota list` does not show it), the rerun goes on
    with it and installs the file byte for byte."""
    d = Device(tmp_path / "probe", None, 12 * MiB, efi_fmt)
    try:
        calls = logged_calls(abota_bin, d, shim, tmp_path / "calls.log")
    finally:
        d.server.stop()
    partial = ".#sysupdate-partial-appliance_2+3-0.efi"
    name = "/20-kernel.part" if efi_fmt else partial
    writes = [n for n, call, path, _, _ in calls if path.endswith(name) and call in ("pwrite", "fallocate")]
    assert len(writes) >= 20, len(writes)
    with cut_device(tmp_path / "kill", abota_bin, shim, writes[len(writes) // 2], None, 12 * MiB, efi_fmt) as d:
        assert (d.app.esp / partial).exists()
        listed = abota(*d.app.args("--offline", "--json=short", "list"))
        assert json.loads(listed.stdout)["all"] == ["1"], listed.stdout
        r = abota(*d.app.args("update"))
        assert "resuming the download of version 2" in r.stderr, r.stderr
        assert "no longer" not in r.stderr
        d.check_installed()
        efi = d.gets("appliance_2.efi")
        assert efi[-1][3].startswith("bytes=") and efi[-1][3] != "bytes=0-", efi
        assert d.bytes_sent() <= 1.1 * d.payloads(), (d.bytes_sent(), d.payloads())


def test_partial_file_of_another_version_is_removed(abota, abota_bin, tmp_path, shim):
    """A partial file of a version no longer offered (v2 cut, then v3 published): the update to
    v3 removes it, never installs it."""
    d = Device(tmp_path / "probe", None, 12 * MiB)
    try:
        calls = logged_calls(abota_bin, d, shim, tmp_path / "calls.log")
    finally:
        d.server.stop()
    partial = ".#sysupdate-partial-appliance_2+3-0.efi"
    writes = [n for n, call, path, _, _ in calls if path.endswith(partial) and call == "pwrite"]
    with cut_device(tmp_path / "kill", abota_bin, shim, writes[len(writes) // 2], None, 12 * MiB) as d:
        assert (d.app.esp / partial).exists()
        for p in d.app.server_dir.glob("appliance_2.*"):
            p.unlink()
        d.app.publish("3")
        abota(*d.app.args("update"))
        assert "appliance_3+3-0.efi" in d.app.esp_files()
        assert not [n for n in d.app.esp_files() if n.startswith(".#")], d.app.esp_files()
