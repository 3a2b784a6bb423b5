# SPDX-License-Identifier: LGPL-2.1-or-later
"""The update agent on the seed appliance: list, check-new, update, vacuum, pending, reboot."""
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from agent_env import EXIT_TEMPFAIL, error_lines, notifications, payload, read_partitions, slot_bytes


def test_list_before_update(abota, app):
    r = abota(*app.args("list"))
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "INSTALLED", "AVAILABLE", "ASSESSMENT"]
    assert lines[1].split() == ["↻", "2", "✓", "candidate"]
    assert lines[2].split() == ["●", "1", "✓", "current"]
    j = json.loads(abota(*app.args("--json=short", "list")).stdout)
    assert j == {"current": "1", "all": ["2", "1"], "appstreamUrls": []}
    # an available-only version shows the server's hashes from SHA256SUMS
    j = json.loads(abota(*app.args("--json=short", "list", "2")).stdout)
    assert not j["installed"] and j["available"]
    assert sorted(c["sha256"] for c in j["contents"]) == sorted(
        hashlib.sha256((app.server_dir / name).read_bytes()).hexdigest()
        for name in ("appliance_2.store.raw", "appliance_2.efi"))


def test_offline_list_shows_installed_only(abota, app):
    app.server.stop()
    j = json.loads(abota(*app.args("--offline", "--json=short", "list")).stdout)
    assert j["all"] == ["1"]


def test_check_new(abota, app):
    r = abota(*app.args("check-new"))
    assert r.stdout == "2\n"
    assert json.loads(abota(*app.args("--json=short", "check-new")).stdout) == {"available": "2"}
    abota(*app.args("update"))
    r = abota(*app.args("check-new"), check=False)
    assert r.returncode == 1 and r.stdout == ""
    # in JSON mode "nothing new" is an answer, not a failure: exit 0, as systemd-sysupdate 257
    r = abota(*app.args("--json=short", "check-new"))
    assert r.returncode == 0 and json.loads(r.stdout) == {"available": None}


def test_list_available_version_rows_from_source(abota, app):
    # a version only available: its rows name the source's type and show its hash, as v257
    j = json.loads(abota(*app.args("--json=short", "list", "2")).stdout)
    assert j["available"] and not j["installed"]
    assert [set(c) for c in j["contents"]] == [{"type", "path", "sha256"}] * len(j["contents"])
    assert {c["type"] for c in j["contents"]} == {"url-file"}
    assert all(len(c["sha256"]) == 64 and c["path"].startswith("http://") for c in j["contents"])


def test_update_installs_v2(abota, app):
    gpt_before = {name: (start, size) for name, start, size, _ in read_partitions(app.disk)}
    r = abota(*app.args("update"))
    assert "Successfully installed update '2'" in r.stderr

    parts = read_partitions(app.disk)
    assert [p[0] for p in parts] == ["esp", "store_1", "store_2", "data"]
    # written into the former _empty slot, byte for byte, rest of the slot untouched by labels
    assert parts[2][1:3] == gpt_before["_empty"]
    assert slot_bytes(app.disk, "store_2")[:len(app.v2)] == app.v2
    assert slot_bytes(app.disk, "store_1")[:len(app.v1)] == app.v1
    assert app.esp_files() == ["appliance_1.efi", "appliance_2+3-0.efi"]
    assert (app.esp / "appliance_2+3-0.efi").read_bytes() == payload("2", 64 * 1024, b"efi")
    assert (app.esp / "appliance_2+3-0.efi").stat().st_mode & 0o777 == 0o444
    assert not [p for p in app.esp.iterdir() if p.name.startswith(".#")]

    r = abota(*app.args("list"))
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    assert rows == [["●", "2", "✓", "✓", "current"], ["○", "1", "✓", "protected"]]
    j = json.loads(abota(*app.args("--json=short", "list", "2")).stdout)
    assert j["version"] == "2" and j["installed"] and j["available"] and not j["incomplete"]
    assert sorted(c["type"] for c in j["contents"]) == ["partition", "regular-file"]
    # the keys and value types of systemd-sysupdate 257: numbers and booleans, no keys it lacks
    assert set(j) == {"version", "newest", "available", "installed", "obsolete", "protected", "incomplete",
                      "changelogUrls", "contents"}
    kernel = [c for c in j["contents"] if c["type"] == "regular-file"][0]
    assert kernel["tries-left"] == 3 and kernel["tries-done"] == 0 and kernel["mode"] == 0o444
    assert isinstance(kernel["mtime"], int)
    part = [c for c in j["contents"] if c["type"] == "partition"][0]
    assert part["ptflags"] == 0 and isinstance(part.get("ro", False), bool)
    # a column empty in every row is left out, one empty in some rows is null there
    assert set(part) == set(kernel)
    assert "size" not in part and "sha256" not in part
    assert kernel["ptuuid"] is None and part["mtime"] is None and part["tries-left"] is None


def test_second_update_does_nothing(abota, app):
    abota(*app.args("update"))
    before = app.snapshot()
    r = abota(*app.args("update"))
    assert r.stderr == "abota: No updates found.\n" and r.stdout == ""
    assert app.snapshot() == before


def test_v3_replaces_oldest_unprotected(abota, app):
    abota(*app.args("update"))
    # rebooted into 2: version 1 is now the oldest and unprotected
    (app.root / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=2\n")
    v3 = app.publish("3")
    abota(*app.args("update"))
    assert app.labels() == ["esp", "store_3", "store_2", "data"]
    assert slot_bytes(app.disk, "store_3")[:len(v3)] == v3
    assert slot_bytes(app.disk, "store_2")[:len(app.v2)] == app.v2
    assert app.esp_files() == ["appliance_2+3-0.efi", "appliance_3+3-0.efi"]


def test_v3_before_reboot_keeps_booted_version(abota, app):
    # still booted into 1: the running version is never given away, so 2 makes room
    abota(*app.args("update"))
    app.publish("3")
    abota(*app.args("update"))
    assert app.labels() == ["esp", "store_1", "store_3", "data"]
    assert slot_bytes(app.disk, "store_1")[:len(app.v1)] == app.v1
    assert "appliance_1.efi" in app.esp_files()


def test_explicit_version_and_unknown_version(abota, app):
    app.publish("3")
    r = abota(*app.args("update", "2"))
    assert "Successfully installed update '2'" in r.stderr
    assert "store_2" in app.labels()
    r = abota(*app.args("update", "9"), check=False)
    assert r.returncode != 0
    assert r.stderr.strip() == "abota: update '9' not found"


def test_vacuum(abota, app):
    abota(*app.args("update"))
    (app.root / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=2\n")
    j = json.loads(abota(*app.args("--json=short", "vacuum")).stdout)
    assert j == {"removed": 0, "disabledTransfers": 0}
    # -m 1: keep one instance per transfer; version 1 goes, the booted 2 stays
    j = json.loads(abota(*app.args("--json=short", "-m", "1", "vacuum")).stdout)
    assert j == {"removed": 2, "disabledTransfers": 0}
    assert app.labels() == ["esp", "_empty", "store_2", "data"]
    assert app.esp_files() == ["appliance_2+3-0.efi"]
    # the old data stays where it was: vacuum relabels, it does not wipe
    with open(app.disk, "rb") as f:
        _, start, _, _ = read_partitions(app.disk)[1]
        f.seek(start)
        assert f.read(len(app.v1)) == app.v1


def test_vacuum_removes_temporary_files(abota, app):
    stale = app.esp / ".#sysupdateappliance_9+3-0.efi0123456789abcdef"
    stale.write_bytes(b"half")
    abota(*app.args("vacuum"))
    assert not stale.exists()


def test_update_refuses_instances_max_one(abota, app):
    before = app.snapshot()
    r = abota(*app.args("-m", "1", "update"), check=False)
    assert r.returncode != 0
    assert len(r.stderr.splitlines()) == 1 and "--instances-max=1" in r.stderr
    assert app.snapshot() == before


def test_single_slot_disk_is_refused_with_advice(abota, app, tmp_path):
    # relabel the free slot so only one slot of the type is left
    import subprocess
    subprocess.run(["sfdisk", "-q", "--part-label", str(app.disk), "3", "other"], check=True,
                   capture_output=True)
    before = app.snapshot()
    r = abota(*app.args("update"), check=False)
    assert r.returncode != 0
    assert len(error_lines(r.stderr)) == 1, r.stderr
    assert "at least two" in r.stderr and "_empty" in r.stderr
    assert app.snapshot() == before


def test_pending_and_reboot(abota, app, tmp_path):
    marker = tmp_path / "rebooted"
    env = {"ABOTA_REBOOT_COMMAND": f"touch {marker}", "PATH": "/usr/bin:/bin"}
    r = abota(*app.args("pending"), check=False, env=env)
    assert r.returncode == 1
    abota(*app.args("reboot"), env=env)
    assert not marker.exists()

    abota(*app.args("update"))
    r = abota(*app.args("pending"), env=env)
    assert "Newer version 2 installed" in r.stderr
    abota(*app.args("reboot"), env=env)
    assert marker.exists()


def test_update_reboot(abota, app, tmp_path):
    marker = tmp_path / "rebooted"
    env = {"ABOTA_REBOOT_COMMAND": f"touch {marker}", "PATH": "/usr/bin:/bin"}
    abota(*app.args("update", "--reboot"), env=env)
    assert marker.exists()
    # without the test hook, --root and --reboot do not mix (it would reboot the host)
    r = abota(*app.args("update", "--reboot"), check=False, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "--root" in r.stderr


def test_pending_without_image_version(abota, app):
    (app.root / "etc" / "os-release").write_text("ID=appliance\n")
    r = abota(*app.args("pending"), check=False)
    assert r.returncode != 0
    assert "IMAGE_VERSION" in r.stderr


def test_image_option(abota, app):
    # --image: partition targets on the image itself; the ESP inside is read with mtools (this
    # one holds no file system: test_image.py has the real thing)
    r = abota("--definitions", app.defs, "--image", app.disk, "list", check=False)
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if not line.startswith("abota: warning:")]
    assert errors == [f"abota: ESP of {app.disk}: cannot read directory /EFI/Linux: no FAT file system there"]
    (app.defs / "20-kernel.transfer").unlink()
    j = json.loads(abota("--definitions", app.defs, "--image", app.disk, "--json=short", "list").stdout)
    assert j["all"] == ["2", "1"]
    abota("--definitions", app.defs, "--image", app.disk, "update")
    assert "store_2" in app.labels()
    # without --definitions, the image's own are read from its root file system: it has none
    r = abota("--image", app.disk, "list", check=False)
    assert r.returncode != 0 and "no root file system" in r.stderr and "--definitions" in r.stderr


def test_sync_no_still_installs(abota, app):
    abota(*app.args("--sync=no", "update"))
    assert "store_2" in app.labels()


def test_component_option(abota, app, tmp_path):
    comp = app.root / "etc" / "sysupdate.store.d"
    comp.mkdir(parents=True)
    (comp / "10-store.transfer").write_text((app.defs / "10-store.transfer").read_text())
    j = json.loads(abota("--root", app.root, "-C", "store", "--json=short", "list").stdout)
    assert j["all"] == ["2", "1"]


def test_concurrent_run_is_refused(abota, app):
    import fcntl
    import os
    before = app.snapshot()
    fd = os.open(app.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for verb in ("update", "vacuum"):
            r = abota(*app.args(verb), check=False)
            assert r.returncode == EXIT_TEMPFAIL  # try again later
            assert len(r.stderr.splitlines()) == 1 and "another update or vacuum is running" in r.stderr
        abota(*app.args("list"))  # reading needs no lock
        abota(*app.args("update", "--dry-run"))  # nor does planning
    finally:
        os.close(fd)
    assert app.snapshot() == before
    abota(*app.args("update"))


def test_compressed_payload(abota, app):
    import lzma
    raw = payload("3", 3 * 1024 * 1024)  # larger than half a slot, fits once decompressed
    (app.server_dir / "appliance_3.store.raw").write_bytes(lzma.compress(raw))
    (app.server_dir / "appliance_3.efi").write_bytes(payload("3", 64 * 1024, b"efi"))
    from agent_env import write_manifest
    write_manifest(app.server_dir)
    abota(*app.args("update"))
    assert slot_bytes(app.disk, "store_3")[:len(raw)] == raw


def test_local_directory_source(abota, app, tmp_path):
    # regular-file sources: a directory of versions (e.g. a USB stick), no manifest, no hashes
    src = app.root / "run" / "media" / "stick"  # under --root every Path= resolves inside it
    src.mkdir(parents=True)
    data = payload("5", 1024 * 1024)
    (src / "appliance_5.store.raw").write_bytes(data)
    (src / "appliance_5.efi").write_bytes(b"kernel 5")
    for f in app.defs.iterdir():
        text = f.read_text().replace("Type=url-file", "Type=regular-file").replace(f"Path={app.server.url}", "Path=/run/media/stick")
        f.write_text(text)
    abota(*app.args("update"))
    assert slot_bytes(app.disk, "store_5")[:len(data)] == data
    assert (app.esp / "appliance_5+3-0.efi").read_bytes() == b"kernel 5"


def test_explicit_transfer_source(abota, app, tmp_path):
    src = tmp_path / "media" / "updates"
    src.mkdir(parents=True)
    (src / "appliance_6.store.raw").write_bytes(b"six" * 1000)
    (src / "appliance_6.efi").write_bytes(b"kernel 6")
    for f in app.defs.iterdir():
        text = f.read_text().replace("Type=url-file", "Type=regular-file\nPathRelativeTo=explicit")
        f.write_text(text.replace(f"Path={app.server.url}", "Path=/updates"))
    r = abota(*app.args("list"), check=False)
    assert r.returncode != 0 and "--transfer-source" in r.stderr
    abota(*app.args(f"--transfer-source={tmp_path / 'media'}", "update"))
    assert "store_6" in app.labels()


def test_fresh_esp_gets_its_directory(abota, app):
    for p in app.esp.iterdir():
        p.unlink()
    app.esp.rmdir()
    abota(*app.args("update"))
    assert app.esp_files() == ["appliance_2+3-0.efi"]


def test_path_auto_on_a_host_without_partitions(abota, app):
    for f in app.defs.iterdir():
        f.write_text(f.read_text().replace("Path=/disk.raw", "Path=auto"))
    (app.defs / "20-kernel.transfer").unlink()
    r = abota("--definitions", app.defs, "list", check=False)
    if r.returncode == 0:
        pytest.skip("this host's /usr sits on a partitioned disk")
    assert len(r.stderr.splitlines()) == 1 and "/usr" in r.stderr
    # with --image, Path=auto is the image
    j = json.loads(abota("--definitions", app.defs, "--image", app.disk, "--json=short", "list").stdout)
    assert j["current"] == "1"


def test_verify_yes_overrides_transfers(abota, app):
    # Verify=no in the files, --verify=yes on the command line: the unsigned manifest is refused
    before = app.snapshot()
    r = abota(*app.args("--verify=yes", "update"), check=False)
    assert r.returncode != 0 and len(r.stderr.splitlines()) == 1
    assert app.snapshot() == before


def test_block_device_target(abota, app):
    """Path= naming a whole block device (a loop device over the seed image), on the host."""
    import subprocess
    p = subprocess.run(["losetup", "-f", "--show", str(app.disk)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"no loop devices here: {p.stderr.strip()}")
    loop = p.stdout.strip()
    try:
        (app.defs / "20-kernel.transfer").unlink()
        store = app.defs / "10-store.transfer"
        store.write_text(store.read_text().replace("Path=/disk.raw", f"Path={loop}"))
        # under --root a raw block device is refused (the path resolves inside the root)
        import os
        import stat
        (app.root / "dev").mkdir()
        os.mknod(app.root / loop.lstrip("/"), stat.S_IFBLK | 0o600, os.stat(loop).st_rdev)
        r = abota(*app.args("list"), check=False)
        assert r.returncode != 0 and "block device" in r.stderr
        j = json.loads(abota("--definitions", app.defs, "--json=short", "list").stdout)
        assert j == {"current": "1", "all": ["2", "1"], "appstreamUrls": []}
        abota("--definitions", app.defs, "update")
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)
    assert app.labels() == ["esp", "store_1", "store_2", "data"]
    assert slot_bytes(app.disk, "store_2")[:len(app.v2)] == app.v2


@pytest.mark.parametrize("renamed", ["appliance_2+2-1.efi", "appliance_2+0-3.efi", "appliance_2.efi"])
def test_boot_counted_names_stay_installed(abota, app, renamed):
    # the loader counts tries by renaming, bless-boot drops the counter: still version 2
    abota(*app.args("update"))
    (app.esp / "appliance_2+3-0.efi").rename(app.esp / renamed)
    rows = [line.split() for line in abota(*app.args("list")).stdout.splitlines()[1:]]
    assert rows[0] == ["●", "2", "✓", "✓", "current"]
    before = app.snapshot()
    abota(*app.args("update"))
    assert app.snapshot() == before


def test_service_notifications(abota, app, tmp_path):
    import os
    path = str(tmp_path / "notify")
    messages = notifications(lambda: abota(*app.args("update"), env=dict(os.environ, NOTIFY_SOCKET=path)), path)
    assert messages[0].splitlines() == ["READY=1", "X_SYSUPDATE_VERSION=2", "STATUS=Making room for '2'."]
    assert any("STATUS=Updating to '2' (50% complete)." in m for m in messages)
    assert messages[-1].splitlines() == ["STATUS=Installed '2'.", "X_SYSUPDATE_PROGRESS=100"]


def test_regular_file_write_order(abota_bin, app, tmp_path):
    """A boot entry is durable before its name appears, and its name before the update reports
    success (followed with strace: fsyncs and renames in order, fds shown as paths)."""
    import os
    import subprocess
    trace = tmp_path / "trace"
    # LeakSanitizer cannot run under ptrace: off for a sanitizer build, everything else stays on
    env = dict(os.environ, ASAN_OPTIONS=":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "detect_leaks=0"])))
    subprocess.run(["strace", "-f", "-y", "-o", trace, "-e", "trace=fsync,fdatasync,rename,renameat,renameat2",
                    abota_bin, *app.args("update")], check=True, capture_output=True, env=env)
    esp = str(app.esp)
    events = []
    for line in trace.read_text().splitlines():
        call = line.split(None, 1)[1] if line[:1].isdigit() else line  # "PID call(...)" with -f
        if call.startswith(("fsync(", "fdatasync(")) and call.rstrip().endswith("= 0"):
            events.append("fsync " + call[call.index("<") + 1:call.index(">")])
        elif call.startswith("rename") and call.rstrip().endswith("= 0"):
            names = call.split('"')
            events.append(f"rename {names[1]} {names[3]}")
    renames = [e for e in events if e.startswith(f"rename {esp}/.#sysupdate")]
    assert len(renames) == 1, events
    _, temp, final = renames[0].split()
    assert final == f"{esp}/appliance_2+3-0.efi"
    at = events.index(renames[0])
    # the temporary file's data before its rename, the directory after it
    assert f"fsync {temp}" in events[:at], events
    assert f"fsync {esp}" in events[at + 1:], events
    assert (app.esp / "appliance_2+3-0.efi").exists()


def test_current_symlink_partition_on_image_file_refused(abota, app, tmp_path):
    # a partition of an image file has no device node to point at: refused before anything is written
    store = app.defs / "10-store.transfer"
    store.write_text(store.read_text().replace("[Target]\n", f"[Target]\nCurrentSymlink={tmp_path}/links/current\n"))
    before = app.snapshot()
    r = abota(*app.args("update"), check=False)
    assert r.returncode == 1
    assert error_lines(r.stderr) == [
        f"abota: {store}: CurrentSymlink={tmp_path}/links/current needs the partition's device node, and {app.disk} "
        "is a disk image file, whose partitions have none"]
    assert app.snapshot() == before and not (tmp_path / "links").exists()


def test_current_symlink_partition_points_at_the_node(abota, app, tmp_path):
    p = subprocess.run(["losetup", "-f", "--show", "-P", str(app.disk)], capture_output=True, text=True, check=True)
    loop = p.stdout.strip()
    try:
        subprocess.run(["partx", "-a", loop], capture_output=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(loop + "p3") and time.monotonic() < deadline:
            time.sleep(0.05)
        (app.defs / "20-kernel.transfer").unlink()
        store = app.defs / "10-store.transfer"
        store.write_text(store.read_text().replace("[Target]\n", "[Target]\nCurrentSymlink=/run/abota-test-links/current\n"))
        link = Path("/run/abota-test-links/current")
        # --image through a name in tmp_path: the run lock is its directory's, not the host's "/"
        # (other tests run at the same time)
        (tmp_path / "disk").symlink_to(loop)
        abota("--definitions", app.defs, f"--image={tmp_path / 'disk'}", "update")
        assert os.readlink(link) == f"../..{loop}p3" and link.resolve() == Path(loop + "p3")
        assert "store_2" in app.labels()
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)
        shutil.rmtree("/run/abota-test-links", ignore_errors=True)
