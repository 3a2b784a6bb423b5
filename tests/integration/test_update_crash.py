# SPDX-License-Identifier: LGPL-2.1-or-later
"""Crash safety: the agent is killed with SIGKILL at many points of acquire and commit. After each
kill the booted version is intact, nothing carries the new version's name unless its content is
complete and verified, and a rerun of `update` succeeds.

Two ways to pick the points: timed kills from outside while a throttled server feeds the
download, and exact kills at the Nth data-changing system call (write, pwrite, fsync, rename,
unlink, ...) by the LD_PRELOAD shim of tests/helpers/syscall_shim.c, which covers the commit steps too, down to
the moment between libfdisk's writes of the backup and the primary GPT."""
import hashlib
import signal
import subprocess
import time

import pytest

import syscall_shim
from agent_env import Appliance, Server, payload, read_partitions, slot_bytes
from syscall_shim import build_shim


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture
def app(tmp_path):
    a = Appliance(tmp_path)
    a.server = Server(a.server_dir, tmp_path)
    a.v2 = a.publish("2")
    a.efi2 = payload("2", 64 * 1024, b"efi")
    a.booted = (slot_bytes(a.disk, "store_1"), (a.esp / "appliance_1.efi").read_bytes())
    yield a
    a.server.stop()


def check_after_crash(app):
    """The invariants that must hold whatever the moment of the kill."""
    labels = app.labels()
    assert labels[0] == "esp" and labels[3] == "data"
    assert "store_1" in labels, labels
    assert slot_bytes(app.disk, "store_1") == app.booted[0]
    assert (app.esp / "appliance_1.efi").read_bytes() == app.booted[1]
    assert set(labels[1:3]) <= {"store_1", "store_2", "_empty"}
    if "store_2" in labels:
        assert slot_bytes(app.disk, "store_2")[:len(app.v2)] == app.v2
    visible = [p.name for p in app.esp.iterdir() if not p.name.startswith(".#")]
    assert set(visible) <= {"appliance_1.efi", "appliance_2+3-0.efi"}, visible
    if "appliance_2+3-0.efi" in visible:
        assert (app.esp / "appliance_2+3-0.efi").read_bytes() == app.efi2
        # the boot entry is committed last: its data is there before it
        assert "store_2" in labels


def check_rerun(abota, app):
    abota(*app.args("update"))
    assert sorted(app.labels()[1:3]) == ["store_1", "store_2"]
    assert slot_bytes(app.disk, "store_2")[:len(app.v2)] == app.v2
    assert sorted(p.name for p in app.esp.iterdir()) == ["appliance_1.efi", "appliance_2+3-0.efi"]
    r = abota(*app.args("list"))
    assert [line.split()[:2] for line in r.stdout.splitlines()[1:]] == [["●", "2"], ["○", "1"]]


def fresh(app, tmp_path):
    """Back to the seed state (the same Appliance directory)."""
    a = Appliance(tmp_path)
    a.server = app.server
    a.set_url(app.server.url)
    a.v2, a.efi2 = app.v2, app.efi2
    a.booted = (slot_bytes(a.disk, "store_1"), (a.esp / "appliance_1.efi").read_bytes())
    return a


def shim_env(abota_bin, shim, **extra):
    return syscall_shim.shim_env(shim, **extra)


def test_kill_at_system_calls(abota, abota_bin, app, shim, tmp_path):
    app.server.start()
    app.set_url(app.server.url)
    count_file = tmp_path / "count"
    # a clean run through the shim counts the data-changing calls of one update
    probe = fresh(app, tmp_path / "probe")
    r = subprocess.run([abota_bin, *probe.args("update")], capture_output=True, text=True,
                       env=shim_env(abota_bin, shim, CRASH_COUNT_FILE=str(count_file)))
    assert r.returncode == 0, r.stderr
    total = int(count_file.read_text())
    assert total >= 20, total

    # 16 points spread over the run plus each of the last 10 calls (the commit)
    points = sorted(set([1 + i * (total - 1) // 15 for i in range(16)] + list(range(max(1, total - 9), total + 1))))
    assert len(points) >= 20
    for n in points:
        a = fresh(app, tmp_path / f"kill-{n}")
        r = subprocess.run([abota_bin, *a.args("update")], capture_output=True, text=True,
                           env=shim_env(abota_bin, shim, CRASH_KILL_AT=str(n)))
        assert r.returncode == -signal.SIGKILL, (n, r.returncode, r.stderr)
        check_after_crash(a)
        check_rerun(abota, a)


def test_kill_during_throttled_download(abota, abota_bin, app, tmp_path):
    # about 2 MiB at 1 MiB/s: kills spread over the download of the store payload
    app.server.start("--throttle", str(1024 * 1024))
    app.set_url(app.server.url)
    for i, delay in enumerate([0.05, 0.2, 0.4, 0.7, 1.0, 1.3, 1.6, 1.9, 2.2]):
        a = fresh(app, tmp_path / f"timed-{i}")
        p = subprocess.Popen([abota_bin, *a.args("update")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        check_after_crash(a)
        check_rerun(abota, a)


def test_kill_rerun_after_partial_commit_repairs(abota, abota_bin, app, shim, tmp_path):
    """Killed right after the store label was written: version 2 is installed but incomplete;
    `list` says so and the next update adds only the missing kernel."""
    app.server.start()
    app.set_url(app.server.url)
    count_file = tmp_path / "count"
    probe = fresh(app, tmp_path / "probe")
    subprocess.run([abota_bin, *probe.args("update")], capture_output=True, check=True,
                   env=shim_env(abota_bin, shim, CRASH_COUNT_FILE=str(count_file)))
    total = int(count_file.read_text())
    # find the last kill point at which store_2 is labelled but the kernel is not installed
    for n in range(total, 0, -1):
        a = fresh(app, tmp_path / f"partial-{n}")
        subprocess.run([abota_bin, *a.args("update")], capture_output=True,
                       env=shim_env(abota_bin, shim, CRASH_KILL_AT=str(n)))
        if "store_2" in a.labels() and not (a.esp / "appliance_2+3-0.efi").exists():
            break
    else:
        pytest.fail("no kill point between the two commits")
    check_after_crash(a)
    r = abota(*a.args("list"))
    assert r.stdout.splitlines()[1].split() == ["●", "2", "✓", "✓", "current+incomplete"]
    store = hashlib.sha256(slot_bytes(a.disk, "store_2")).hexdigest()
    check_rerun(abota, a)
    assert hashlib.sha256(slot_bytes(a.disk, "store_2")).hexdigest() == store
    assert [name for name, _, _, _ in read_partitions(a.disk)].count("store_2") == 1


def test_kill_while_replacing_an_old_version(abota, abota_bin, app, shim, tmp_path):
    """Booted into 2 with 1 still installed: the update to 3 first vacuums 1 (relabel), then
    writes into its slot. Killed anywhere, 2 stays intact and bootable, 3 appears only complete."""
    app.server.start()
    app.set_url(app.server.url)
    v3 = app.publish("3")
    efi3 = payload("3", 64 * 1024, b"efi")

    def seeded(path):
        a = fresh(app, path)
        # install 2 through 3's server: pin the update to version 2, then boot it
        abota(*a.args("update", "2"))
        (a.root / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=2\n")
        return a, slot_bytes(a.disk, "store_2"), (a.esp / "appliance_2+3-0.efi").read_bytes()

    count_file = tmp_path / "count"
    probe, _, _ = seeded(tmp_path / "probe")
    subprocess.run([abota_bin, *probe.args("update")], capture_output=True, check=True,
                   env=shim_env(abota_bin, shim, CRASH_COUNT_FILE=str(count_file)))
    total = int(count_file.read_text())
    # the first calls are the vacuum's relabelling of slot 1, the last ones the commit
    points = sorted(set([1 + i * (total - 1) // 11 for i in range(12)] + list(range(1, 9)) +
                        list(range(max(1, total - 9), total + 1))))
    for n in points:
        a, store2, efi2 = seeded(tmp_path / f"v3-{n}")
        r = subprocess.run([abota_bin, *a.args("update")], capture_output=True, text=True,
                           env=shim_env(abota_bin, shim, CRASH_KILL_AT=str(n)))
        assert r.returncode == -signal.SIGKILL, (n, r.returncode, r.stderr)
        labels = a.labels()
        assert "store_2" in labels and slot_bytes(a.disk, "store_2") == store2
        assert (a.esp / "appliance_2+3-0.efi").read_bytes() == efi2
        assert set(labels[1:3]) <= {"store_1", "store_2", "store_3", "_empty"}
        if "store_3" in labels:
            assert slot_bytes(a.disk, "store_3")[:len(v3)] == v3
        if (a.esp / "appliance_3+3-0.efi").exists():
            assert (a.esp / "appliance_3+3-0.efi").read_bytes() == efi3 and "store_3" in labels
        abota(*a.args("update"))
        assert sorted(a.labels()[1:3]) == ["store_2", "store_3"]
        assert slot_bytes(a.disk, "store_3")[:len(v3)] == v3
        assert sorted(p.name for p in a.esp.iterdir()) == ["appliance_2+3-0.efi", "appliance_3+3-0.efi"]
