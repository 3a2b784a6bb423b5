# SPDX-License-Identifier: LGPL-2.1-or-later
"""Issue 9, "never brick": paths stay inside --root, removal goes boot entry first, only complete
versions count for pending/reboot, the smallest slot that fits is chosen, nothing is removed before
every payload is known to be there, the booted version is protected without ProtectVersion=,
the last check before writing wants `_empty`, and one disk is never written by two runs."""
import hashlib
import os
import re
import shutil
import subprocess
import time

import pytest

from agent_env import (LINUX_GENERIC, ESP_TYPE, MiB, Server, error_lines, payload, read_partitions,
                       slot_bytes, write_manifest)


def tree(d):
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def relayout(app, parts, disk_size):
    """Replaces the seed disk's table with parts [(size_KiB, type, name)], store_1 refilled."""
    app.disk.unlink()
    subprocess.run(["truncate", "-s", str(disk_size), str(app.disk)], check=True)
    layout = "label: gpt\n" + "".join(f"size={s}KiB, type={t}, name={n}\n" for s, t, n in parts)
    subprocess.run(["sfdisk", "-q", str(app.disk)], input=layout, text=True, check=True, capture_output=True)
    app.write_slot("store_1", app.v1)


# ---- defect 1: --root never leads outside the root ----

@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_esp_symlink_leaving_the_root_is_not_followed(abota, app, tmp_path, link):
    host = tmp_path / "host-esp"
    shutil.copytree(app.root / "efi", host)
    (host / "EFI" / "Linux" / "appliance_0.efi").write_bytes(b"an older kernel of the host")
    shutil.rmtree(app.root / "efi")
    target = str(host) if link == "absolute" else os.path.relpath(host, app.root)
    os.symlink(target, app.root / "efi")
    before = tree(host)
    r = abota(*app.args("update"), check=False)
    assert tree(host) == before, r
    assert r.returncode != 0 and "no ESP found" in r.stderr


def test_os_release_and_keyring_symlinks_stay_in_the_root(abota, app, tmp_path):
    host = tmp_path / "host-os-release"
    host.write_text("ID=host\nIMAGE_VERSION=hostonly\n")
    (app.root / "etc" / "os-release").unlink()
    os.symlink(str(host), app.root / "etc" / "os-release")
    r = abota(*app.args("pending"), check=False)
    assert r.returncode != 0 and "lacks IMAGE_VERSION" in r.stderr and "hostonly" not in r.stderr, r
    # the keyring is looked up inside the root too: a link to a host keyring is not one
    (app.root / "etc" / "systemd").mkdir()
    (tmp_path / "host.pgp").write_bytes(b"not a keyring, never read")
    os.symlink(str(tmp_path / "host.pgp"), app.root / "etc" / "systemd" / "import-pubring.pgp")
    app.set_url(app.server.url, verify=True)
    r = abota(*app.args("list"), check=False)
    assert r.returncode != 0 and "no keyring found" in r.stderr, r


def test_target_disk_symlink_leaving_the_root(abota, app, tmp_path):
    outside = tmp_path / "host-disk.raw"
    app.disk.rename(outside)
    os.symlink(str(outside), app.disk)
    before = outside.read_bytes()
    r = abota(*app.args("update"), check=False)
    assert r.returncode != 0 and "disk.raw" in r.stderr
    assert outside.read_bytes() == before


# ---- defect 8: a relative --root ----

def test_relative_root_with_regular_file_sources(abota, app, tmp_path):
    src = app.root / "run" / "media" / "stick"
    src.mkdir(parents=True)
    data = payload("5", 1024 * 1024)
    (src / "appliance_5.store.raw").write_bytes(data)
    (src / "appliance_5.efi").write_bytes(b"kernel 5")
    for f in app.defs.iterdir():
        text = f.read_text().replace("Type=url-file", "Type=regular-file")
        f.write_text(text.replace(f"Path={app.server.url}", "Path=/run/media/stick"))
    abota("--definitions", app.defs, "--root", "root", "update", cwd=tmp_path)
    assert slot_bytes(app.disk, "store_5")[:len(data)] == data
    assert (app.esp / "appliance_5+3-0.efi").read_bytes() == b"kernel 5"


# ---- defect 2: removal in reverse commit order ----

def test_vacuum_removes_the_boot_entry_before_the_data(abota, abota_bin, app, tmp_path):
    abota(*app.args("update"))             # 1 booted, 2 installed
    app.publish("3")
    log = tmp_path / "strace.log"
    subprocess.run(["strace", "-f", "-y", "-o", str(log), "-e", "trace=unlink,unlinkat,write,pwrite64",
                    abota_bin, *map(str, app.args("update"))], check=True, capture_output=True,
                   env={**os.environ, "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"})  # no LSan under ptrace
    lines = log.read_text().splitlines()
    entry = next(i for i, l in enumerate(lines) if "unlink" in l and "appliance_2" in l)
    data = next(i for i, l in enumerate(lines) if re.search(r"(write|pwrite64)\(\d+<[^>]*disk\.raw>", l))
    assert entry < data, "store_2 was relabelled before its boot entry was removed"
    assert app.labels() == ["esp", "store_1", "store_3", "data"]


# ---- defect 3: pending and reboot count complete versions only ----

@pytest.mark.parametrize("half", ["no-boot-entry", "no-data"])
def test_pending_ignores_a_half_installed_version(abota, app, tmp_path, half):
    abota(*app.args("update"))
    assert abota(*app.args("pending"), check=False).returncode == 0
    if half == "no-boot-entry":
        (app.esp / "appliance_2+3-0.efi").unlink()
    else:  # the state an interrupted removal of old used to leave
        subprocess.run(["sfdisk", "-q", "--part-label", str(app.disk), "3", "_empty"], check=True,
                       capture_output=True)
    assert abota(*app.args("pending"), check=False).returncode == 1
    marker = tmp_path / "rebooted"
    r = abota(*app.args("reboot"), check=False, env={**os.environ, "ABOTA_REBOOT_COMMAND": f"touch {marker}"})
    assert r.returncode == 0 and not marker.exists()


# ---- defect 4 and fault (b): the smallest free slot that fits ----

def test_smallest_free_slot_that_fits(abota, app):
    relayout(app, [(1024, ESP_TYPE, "esp"), (4096, LINUX_GENERIC, "store_1"), (1024, LINUX_GENERIC, "_empty"),
                   (6144, LINUX_GENERIC, "_empty"), (3072, LINUX_GENERIC, "_empty"), (1024, LINUX_GENERIC, "data")],
             20 * MiB)
    abota(*app.args("update"))
    parts = {n: s for n, _, s, _ in read_partitions(app.disk)}
    assert parts["store_2"] == 3 * MiB, read_partitions(app.disk)
    assert slot_bytes(app.disk, "store_2")[:len(app.v2)] == app.v2


# ---- defect 9: nothing is removed before every payload is known to be there ----

@pytest.mark.parametrize("missing", ["appliance_3.store.raw", "appliance_3.efi"])
def test_missing_payload_keeps_the_pending_version(abota, app, missing):
    abota(*app.args("update"))             # 1 booted, 2 installed and pending
    app.publish("3")
    (app.server_dir / missing).unlink()     # the manifest still lists it
    before = app.snapshot()
    r = abota(*app.args("update"), check=False)
    assert r.returncode != 0 and missing in r.stderr and len(error_lines(r.stderr)) == 1, r
    assert app.snapshot() == before
    assert "store_2" in app.labels() and "appliance_2+3-0.efi" in app.esp_files()


def test_payload_larger_than_any_slot_keeps_the_pending_version(abota, app):
    abota(*app.args("update"))
    slot = [s for n, _, s, _ in read_partitions(app.disk) if n == "store_2"][0]
    app.publish("3", store_size=slot + 4096)
    before = app.snapshot()
    r = abota(*app.args("update"), check=False)
    assert r.returncode != 0 and "larger than" in r.stderr and "nothing was removed" in r.stderr, r
    assert app.snapshot() == before


# ---- fault (a): the booted version is protected without ProtectVersion=%A ----

def test_booted_version_protected_without_protect_version(abota, app):
    for f in app.defs.iterdir():
        f.write_text(f.read_text().replace("ProtectVersion=%A\n", ""))
    assert "ProtectVersion" not in "".join(f.read_text() for f in app.defs.iterdir())
    abota(*app.args("update"))             # 1 booted, 2 installed
    abota(*app.args("vacuum", "-m", "1"))
    assert app.labels() == ["esp", "store_1", "_empty", "data"]
    assert app.esp_files() == ["appliance_1.efi"]
    abota(*app.args("update"))             # 2 again
    v3 = app.publish("3")
    abota(*app.args("update"))
    assert app.labels() == ["esp", "store_1", "store_3", "data"]
    assert slot_bytes(app.disk, "store_1")[:len(app.v1)] == app.v1
    assert slot_bytes(app.disk, "store_3")[:len(v3)] == v3
    assert app.esp_files() == ["appliance_1.efi", "appliance_3+3-0.efi"]


def wait_for(predicate, what, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"exited before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def served(log, name):
    return lambda: log.exists() and f"GET /{name} " in log.read_text()


# ---- fault (c): the last check before writing wants the slot still `_empty` ----

EXTRA_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"


def test_slot_relabelled_meanwhile_is_not_written(abota_bin, app, tmp_path):
    relayout(app, [(1024, ESP_TYPE, "esp"), (4096, LINUX_GENERIC, "store_1"), (4096, LINUX_GENERIC, "_empty"),
                   (1024, LINUX_GENERIC, "data"), (2048, EXTRA_TYPE, "extra_1"), (2048, EXTRA_TYPE, "_empty")],
             20 * MiB)
    log = tmp_path / "httpd.log"
    app.server.start("--throttle", str(512 * 1024), "--log", log)
    app.set_url(app.server.url)
    (app.defs / "05-extra.transfer").write_text(
        "[Transfer]\nVerify=no\n\n[Source]\nType=url-file\n"
        f"Path={app.server.url}\nMatchPattern=appliance_@v.extra.raw\n\n"
        f"[Target]\nType=partition\nPath=/disk.raw\nMatchPartitionType={EXTRA_TYPE}\nMatchPattern=extra_@v\n")
    (app.server_dir / "appliance_2.extra.raw").write_bytes(payload("2", MiB, b"extra"))
    write_manifest(app.server_dir)
    proc = subprocess.Popen([abota_bin, *map(str, app.args("update"))], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(served(log, "appliance_2.extra.raw"), "the extra payload's download", proc)
    # while the first transfer downloads, something else takes the store's free slot
    foreign = payload("foreign", 64 * 1024, b"x")
    start = [s for n, s, _, t in read_partitions(app.disk) if n == "_empty" and t == LINUX_GENERIC][0]
    with open(app.disk, "r+b") as f:
        f.seek(start)
        f.write(foreign)
    subprocess.run(["sfdisk", "-q", "--part-label", str(app.disk), "3", "foreign"], check=True, capture_output=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "no longer a free slot" in err, err
    assert slot_bytes(app.disk, "foreign")[:len(foreign)] == foreign
    assert "store_2" not in app.labels()


# ---- defect 5 and the concurrency proof: one disk, two runs, different paths ----

@pytest.mark.parametrize("path", ["root-hardlink", "image", "image-symlink"])
def test_two_runs_on_one_disk(abota_bin, app, tmp_path, path):
    """A slow server offers v2 to a run through --root; a fast one offers v3 to a second run that
    reaches the same disk another way. The second refuses, naming the first; the slot holds v2."""
    log = tmp_path / "httpd-slow.log"
    app.server.start("--throttle", str(1024 * 1024), "--log", log)
    app.set_url(app.server.url)
    fast_dir = tmp_path / "fast"
    fast_dir.mkdir()
    fast = Server(fast_dir, fast_dir).start()
    try:
        v3 = payload("3", len(app.v2))
        (fast_dir / "appliance_3.store.raw").write_bytes(v3)
        (fast_dir / "appliance_3.efi").write_bytes(b"kernel 3")
        write_manifest(fast_dir)
        defs_b = tmp_path / "defs-b"
        defs_b.mkdir()
        for f in app.defs.iterdir():
            if path == "root-hardlink" or "store" in f.name:
                (defs_b / f.name).write_text(f.read_text().replace(app.server.url, fast.url))
        if path == "root-hardlink":
            root_b = tmp_path / "root-b"
            (root_b / "etc").mkdir(parents=True)
            (root_b / "efi" / "EFI" / "Linux").mkdir(parents=True)
            (root_b / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=1\n")
            os.link(app.disk, root_b / "disk.raw")
            args_b = ["--definitions", defs_b, "--root", root_b]
        elif path == "image":
            args_b = ["--definitions", defs_b, "--image", app.disk]
        else:
            (tmp_path / "links").mkdir()
            os.symlink(app.disk, tmp_path / "links" / "the-disk")
            args_b = ["--definitions", defs_b, "--image", tmp_path / "links" / "the-disk"]

        slow = subprocess.Popen([abota_bin, *map(str, app.args("update"))], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        wait_for(served(log, "appliance_2.store.raw"), "the slow download", slow)
        second = subprocess.run([abota_bin, *map(str, args_b), "update"], capture_output=True, text=True,
                                timeout=120)
        _, err = slow.communicate(timeout=120)
    finally:
        fast.stop()
    assert slow.returncode == 0, err
    assert second.returncode != 0, second.stderr
    assert f"PID {slow.pid}" in second.stderr and len(second.stderr.splitlines()) == 1, second.stderr
    assert app.labels() == ["esp", "store_1", "store_2", "data"]
    assert slot_bytes(app.disk, "store_2")[:len(app.v2)] == app.v2


# ---- defect 10: partition nodes are found, not guessed, and held while written ----

@pytest.fixture
def loop_disk(app, tmp_path):
    """The seed image on a partition-scanned loop device, named by a symlink the way
    /dev/disk/by-id/ names disks (so the node of partition 3 is not NAME3)."""
    p = subprocess.run(["losetup", "-f", "--show", "-P", str(app.disk)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"no loop devices here: {p.stderr.strip()}")
    loop = p.stdout.strip()
    node = loop + "p3"
    subprocess.run(["partx", "-a", loop], capture_output=True)
    deadline = time.monotonic() + 10
    while not os.path.exists(node) and time.monotonic() < deadline:
        time.sleep(0.05)
    mnt = tmp_path / "mnt"
    try:
        if not os.path.exists(node):
            pytest.skip(f"{node}: the kernel did not scan the loop device's partitions")
        (tmp_path / "by-id").mkdir()
        link = tmp_path / "by-id" / "usb-Appliance_Disk"
        os.symlink(loop, link)
        (app.defs / "20-kernel.transfer").unlink()
        store = app.defs / "10-store.transfer"
        store.write_text(store.read_text().replace("Path=/disk.raw", f"Path={link}"))
        yield node, mnt
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["umount", str(mnt)], check=True)
        subprocess.run(["losetup", "-d", loop], check=True)


def test_mounted_free_slot_behind_a_by_id_name_is_refused(abota, app, loop_disk):
    node, mnt = loop_disk
    # Inode tables initialised by mkfs: otherwise the kernel's ext4lazyinit thread sets
    # EXT4_BG_INODE_ZEROED in the group descriptors of the mounted file system at some later moment,
    # which changed the bytes compared below (a flake seen when the machine was busy).
    subprocess.run(["mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", node], check=True,
                   capture_output=True)
    mnt.mkdir()
    subprocess.run(["mount", node, str(mnt)], check=True)
    with open(node, "rb") as f:
        before = f.read()
    r = abota("--definitions", app.defs, "update", check=False)
    assert r.returncode != 0 and "in use" in r.stderr and node in r.stderr, r
    with open(node, "rb") as f:
        assert f.read() == before
    assert app.labels() == ["esp", "store_1", "_empty", "data"]


def test_slot_is_held_exclusively_while_written(abota_bin, app, loop_disk, tmp_path):
    node, _ = loop_disk
    log = tmp_path / "httpd-slow.log"
    app.server.start("--throttle", str(1024 * 1024), "--log", log)
    store = app.defs / "10-store.transfer"
    store.write_text(re.sub(r"Path=http://[^\n]*", f"Path={app.server.url}", store.read_text()))
    proc = subprocess.Popen([abota_bin, "--definitions", str(app.defs), "update"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(served(log, "appliance_2.store.raw"), "the download", proc)
    with pytest.raises(OSError) as e:
        os.close(os.open(node, os.O_RDONLY | os.O_EXCL))
    assert e.value.errno == 16  # EBUSY: nothing can mount or claim the slot meanwhile
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert slot_bytes(app.disk, "store_2")[:len(app.v2)] == app.v2


def test_bless_does_not_follow_an_esp_link_out_of_the_root(abota, tmp_path):
    """bless --root looks for the ESP inside the root: ROOT/efi -> /host/esp is not the ESP."""
    host = tmp_path / "host-esp" / "EFI" / "Linux"
    host.mkdir(parents=True)
    (host / "appliance_2+2-1.efi").write_bytes(b"a host's entry")
    (tmp_path / "root").mkdir()
    os.symlink(tmp_path / "host-esp", tmp_path / "root" / "efi")
    efivars = tmp_path / "efivars"
    efivars.mkdir()
    value = "\\EFI\\Linux\\appliance_2+2-1.efi"
    data = (6).to_bytes(4, "little") + (value + "\0").encode("utf-16-le")
    (efivars / "LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f").write_bytes(data)
    r = abota("bless", f"--efivarfs={efivars}", f"--root={tmp_path / 'root'}", "good", check=False)
    assert r.returncode != 0 and "not found" in r.stderr, r
    assert os.listdir(host) == ["appliance_2+2-1.efi"]


def test_server_without_head_is_asked_for_one_byte(abota, app, tmp_path):
    log = tmp_path / "httpd.log"
    app.server.start("--no-head", "--log", log)
    app.set_url(app.server.url)
    abota(*app.args("update"))
    lines = log.read_text().splitlines()
    assert "HEAD /appliance_2.store.raw 405 -" in lines
    assert "GET /appliance_2.store.raw 206 bytes=0-0" in lines
    assert slot_bytes(app.disk, "store_2")[:len(app.v2)] == app.v2


def test_missing_payload_on_a_server_without_head(abota, app, tmp_path):
    abota(*app.args("update"))
    app.publish("3")
    (app.server_dir / "appliance_3.store.raw").unlink()
    app.server.start("--no-head")
    app.set_url(app.server.url)
    before = app.snapshot()
    r = abota(*app.args("update"), check=False)
    assert r.returncode != 0 and "appliance_3.store.raw: not found" in r.stderr, r
    assert app.snapshot() == before


def test_boot_entry_larger_than_the_esp_keeps_the_pending_version(abota, app):
    """A full ESP (a small tmpfs here) refuses the kernel before anything is removed."""
    abota(*app.args("update"))             # 1 booted, 2 installed and pending
    esp = app.root / "efi"
    saved = {p.name: p.read_bytes() for p in app.esp.iterdir()}
    shutil.rmtree(esp)
    esp.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(esp)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        app.esp.mkdir(parents=True)
        for name, data in saved.items():
            (app.esp / name).write_bytes(data)
        (app.server_dir / "appliance_3.efi").write_bytes(payload("3", 1024 * 1024, b"efi"))
        app.publish("3", efi=False)
        before = app.snapshot()
        r = abota(*app.args("update"), check=False)
        assert r.returncode != 0 and "appliance_3.efi" in r.stderr and "nothing was removed" in r.stderr, r
        assert app.snapshot() == before
    finally:
        subprocess.run(["umount", str(esp)], check=True)
