# SPDX-License-Identifier: LGPL-2.1-or-later
"""The block-reuse path: `abota publish` writes a block index and the blocks of each partition
payload (@index@NAME, @blocks@NAME), and `abota update`, when no patch fits, takes every block it
finds in a local slot (the booted one or another) from there and fetches the rest with Range
requests. Whatever happens, the new slot holds exactly the full image, or stays `_empty`."""
import hashlib
import json
import subprocess

import pytest

from agent_env import (ESP_TYPE, LINUX_GENERIC, SLOT_SIZE, MiB, logged_appliance, payload,
                       slot_bytes, write_manifest)
from test_update_patch import edit, gets, stage, sysupdate_match


@pytest.fixture
def app(tmp_path):
    a = logged_appliance(tmp_path)
    yield a
    a.server.stop()


def publish(abota, app, tmp_path, version, store, *extra):
    return abota("publish", "--definitions", app.defs, "--compress=zstd", "--deltas=0", *extra, app.server_dir,
                 *stage(tmp_path, version, store))


def blocks_requests(app):
    return [line.split()[3] for line in app.log.read_text().splitlines()
            if line.startswith("GET ") and "%40blocks%40" in line.split()[1]]


def ranges(app):
    """The Range values of the requests for frames: all but the dictionary's (one range from byte 0,
    where no frame starts when the blocks file has a dictionary, as every one published here)."""
    return [r for r in blocks_requests(app) if not (r.startswith("bytes=0-") and "," not in r)]


def dictionary_requests(app):
    return [r for r in blocks_requests(app) if r.startswith("bytes=0-") and "," not in r]


def body_bytes(app):
    """Bytes the server sent so far (status lines, headers, bodies)."""
    return json.loads(app.count.read_text())["bytes_out"] if app.count.exists() else 0


def test_publish_writes_index_for_partition_payloads_only(abota, app, tmp_path):
    r = publish(abota, app, tmp_path, "1", app.v1)
    names = sorted(p.name for p in app.server_dir.iterdir())
    assert names == ["@blocks@appliance_1.store.raw", "@index@appliance_1.store.raw", "SHA256SUMS",
                     "appliance_1.efi", "appliance_1.store.raw"]
    sums = (app.server_dir / "SHA256SUMS").read_text()
    for n in names[:2]:
        assert f"{hashlib.sha256((app.server_dir / n).read_bytes()).hexdigest()}  {n}\n" in sums
        assert n in r.stdout
    # --keep prunes the index and blocks of a version that goes; --block-index=no makes none
    publish(abota, app, tmp_path, "2", edit(app.v1, 2), "--keep=1", "--block-index=no")
    names = sorted(p.name for p in app.server_dir.iterdir())
    assert names == ["SHA256SUMS", "appliance_2.efi", "appliance_2.store.raw"]
    assert "@" not in (app.server_dir / "SHA256SUMS").read_text()
    # --pattern= alone does not tell which payloads go to partitions: only when asked for
    srv = tmp_path / "srv"
    srv.mkdir()
    store = stage(tmp_path, "3", app.v1)[0]
    abota("publish", "--pattern=appliance_@v.store.raw", srv, store)
    assert sorted(p.name for p in srv.iterdir()) == ["SHA256SUMS", "appliance_3.store.raw"]
    abota("publish", "--pattern=appliance_@v.store.raw", "--block-index=yes", srv, store)
    assert sorted(p.name for p in srv.iterdir()) == ["@blocks@appliance_3.store.raw", "@index@appliance_3.store.raw",
                                                       "SHA256SUMS", "appliance_3.store.raw"]


def test_sysupdate_patterns_do_not_match_index_names(abota, app, tmp_path):
    publish(abota, app, tmp_path, "1", app.v1)
    names = [p.name for p in app.server_dir.iterdir() if p.name.startswith(("@index@", "@blocks@"))]
    assert len(names) == 2
    for pattern in ["appliance_@v.store.raw", "@v", "@v.store.raw", "@v_@u.raw", "appliance@v", "@h", "@s@@@v",
                    "@t_@v"]:
        for name in names:
            for strict in (True, False):
                assert not sysupdate_match(pattern, name, strict), (pattern, name)
    assert "index" not in abota(*app.args("list")).stdout


def test_blocks_from_running_slot(abota, app, tmp_path):
    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2)
    publish(abota, app, tmp_path, "2", v2)
    full = (app.server_dir / "appliance_2.store.raw").stat().st_size
    before = body_bytes(app)
    r = abota(*app.args("update"))
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert slot_bytes(app.disk, "store_1")[:len(app.v1)] == app.v1
    g = gets(app)
    assert "/%40index%40appliance_2.store.raw" in g
    assert "/appliance_2.store.raw" not in g
    # 20 edits of 256 bytes touch at most 40 blocks, fetched in at most 40 coalesced ranges
    assert 0 < len(ranges(app)) <= 40
    assert all(rg.startswith("bytes=") for rg in ranges(app))
    assert "written by block reuse" in r.stderr
    assert body_bytes(app) - before < full


def three_slots(app, booted_version, slots):
    """Re-seeds the disk as esp, store slots (label -> bytes or None for `_empty`), data."""
    app.disk.unlink()
    subprocess.run(["truncate", "-s", str((len(slots) + 1) * SLOT_SIZE + 4 * MiB), str(app.disk)], check=True)
    layout = "label: gpt\n" + f"size=1MiB, type={ESP_TYPE}, name=esp\n"
    for label in slots:
        layout += f"size={SLOT_SIZE // 1024}KiB, type={LINUX_GENERIC}, name={label}\n"
    layout += f"size=1MiB, type={LINUX_GENERIC}, name=data\n"
    subprocess.run(["sfdisk", "-q", str(app.disk)], input=layout, text=True, check=True, capture_output=True)
    for label, data in slots.items():
        if data is not None:
            app.write_slot(label, data)
    (app.root / "etc" / "os-release").write_text(f"ID=appliance\nIMAGE_ID=appliance\nIMAGE_VERSION={booted_version}\n")
    for p in app.defs.iterdir():
        p.write_text(p.read_text().replace("InstancesMax=2", "InstancesMax=3"))


def test_blocks_from_other_slot(abota, app, tmp_path):
    """The booted slot (v1) has nothing in common with v3; the other slot (v2) has almost all."""
    v2 = payload("2", SLOT_SIZE // 2, b"other")
    v3 = edit(v2, 3)
    three_slots(app, "1", {"store_1": app.v1, "store_2": v2, "_empty": None})
    publish(abota, app, tmp_path, "2", v2)
    publish(abota, app, tmp_path, "3", v3)
    r = abota(*app.args("update", "3"))
    assert slot_bytes(app.disk, "store_3")[:len(v3)] == v3
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert slot_bytes(app.disk, "store_1")[:len(app.v1)] == app.v1
    assert "/appliance_3.store.raw" not in gets(app)
    assert 0 < len(ranges(app)) <= 40
    assert "written by block reuse" in r.stderr


def test_modified_base_refuses_patch_and_uses_blocks(abota, app, tmp_path):
    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2)
    publish(abota, app, tmp_path, "2", v2, "--deltas=1")
    assert (app.server_dir / "@delta@1@appliance_2.store.raw").exists()
    app.write_slot("store_1", app.v1[:4096] + bytes([app.v1[4096] ^ 1]) + app.v1[4097:])
    r = abota(*app.args("update"))
    assert "does not hold that version's image" in r.stderr
    assert "written by block reuse" in r.stderr
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert "/appliance_2.store.raw" not in gets(app)
    assert 0 < len(ranges(app)) <= 41  # the block changed by hand is fetched too


@pytest.mark.parametrize("damage", ["flip", "forged-image-hash", "truncated-blocks"])
def test_bad_index_or_blocks_fall_back_to_full(abota, app, tmp_path, damage):
    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2)
    publish(abota, app, tmp_path, "2", v2)
    index = app.server_dir / "@index@appliance_2.store.raw"
    blocks = app.server_dir / "@blocks@appliance_2.store.raw"
    if damage == "flip":  # SHA256SUMS catches it
        data = bytearray(index.read_bytes())
        data[len(data) // 2] ^= 0x55
        index.write_bytes(bytes(data))
        why = "does not match SHA256SUMS"
    elif damage == "forged-image-hash":  # listed as it is (an unsigned server): the slot check catches it
        raw = unpacked_index(index, tmp_path)
        raw[40] ^= 1
        pack_index(raw, index, tmp_path)
        write_manifest(app.server_dir)
        why = "does not hash to the published image"
    else:
        blocks.write_bytes(blocks.read_bytes()[:blocks.stat().st_size // 2])
        write_manifest(app.server_dir)
        why = "block reuse failed"
    r = abota(*app.args("update"))
    assert why in r.stderr, r.stderr
    assert "downloading the full image" in r.stderr
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert "/appliance_2.store.raw" in gets(app)


def unpacked_index(path, tmp_path):
    return bytearray(subprocess.run(["zstd", "-d", "-c", str(path)], check=True, capture_output=True).stdout)


def pack_index(raw, path, tmp_path):
    (tmp_path / "index.raw").write_bytes(bytes(raw))  # from a file: zstd records the size
    path.write_bytes(subprocess.run(["zstd", "-q", "-c", str(tmp_path / "index.raw")], check=True,
                                    capture_output=True).stdout)


def test_dictionary_fetched_once_and_tampered_dictionary_falls_back(abota, app, tmp_path):
    """The frames are compressed with a dictionary at the start of the blocks file, fetched in one
    range before the frames; one byte of it flipped on the server: refused by its SHA-256 in the
    index, and the full image is downloaded."""
    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2)
    publish(abota, app, tmp_path, "2", v2)
    index = app.server_dir / "@index@appliance_2.store.raw"
    blocks = app.server_dir / "@blocks@appliance_2.store.raw"
    dict_size = int.from_bytes(unpacked_index(index, tmp_path)[64:68], "little")
    assert 0 < dict_size < blocks.stat().st_size
    seed = app.disk.read_bytes()
    r = abota(*app.args("update"))
    assert "written by block reuse" in r.stderr
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert blocks_requests(app)[0] == f"bytes=0-{dict_size - 1}"
    assert dictionary_requests(app) == [f"bytes=0-{dict_size - 1}"]
    assert len(ranges(app)) > 0

    app.disk.write_bytes(seed)
    for p in app.esp.iterdir():
        if p.name != "appliance_1.efi":
            p.unlink()
    app.log.write_text("")
    data = bytearray(blocks.read_bytes())
    data[dict_size // 2] ^= 0x10
    blocks.write_bytes(bytes(data))
    write_manifest(app.server_dir)  # listed as it is: the index's hash of the dictionary catches it
    r = abota(*app.args("update"))
    lines = [line for line in r.stderr.splitlines() if "the dictionary" in line]
    assert len(lines) == 1 and "the dictionary does not match the block index" in lines[0], r.stderr
    assert "%40blocks%40appliance_2.store.raw" in lines[0]
    assert "block reuse failed, downloading the full image" in r.stderr
    assert blocks_requests(app) == [f"bytes=0-{dict_size - 1}"]  # no frame fetched
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert "/appliance_2.store.raw" in gets(app)


def test_dictionary_trained_on_blocks_new_since_version_before(abota, app, tmp_path, monkeypatch):
    """The dictionary of v2 is trained on the blocks v1's index does not list (what a v1 device
    fetches), when there are enough of them; v1, with no version before, on all its blocks."""
    monkeypatch.setenv("SYSTEMD_LOG_LEVEL", "debug")
    r = publish(abota, app, tmp_path, "1", app.v1)
    assert "trained on" in r.stderr and "non-zero blocks" in r.stderr, r.stderr
    v2 = edit(app.v1, 2, n=120)
    r = publish(abota, app, tmp_path, "2", v2)
    trained = [line for line in r.stderr.splitlines() if "trained on" in line]
    assert len(trained) == 1 and "blocks the index of the version before does not list" in trained[0], r.stderr
    n = int(trained[0].split("trained on ")[1].split()[0])
    assert 64 <= n <= 240  # 120 edits of 256 bytes touch at most 240 blocks
    monkeypatch.delenv("SYSTEMD_LOG_LEVEL")
    r = abota(*app.args("update"))
    assert "written by block reuse" in r.stderr
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2


def test_index_of_old_format_version_falls_back(abota, app, tmp_path):
    """An index of format version 1 (no dictionary; its header is 40 bytes shorter) listed in
    SHA256SUMS: refused as such, not misread, and the full image is downloaded."""
    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2)
    publish(abota, app, tmp_path, "2", v2)
    index = app.server_dir / "@index@appliance_2.store.raw"
    raw = unpacked_index(index, tmp_path)
    dict_size = int.from_bytes(raw[64:68], "little")
    old = bytearray(b"ABOTABI1" + raw[8:64] + raw[104:])
    old[24:32] = (int.from_bytes(raw[24:32], "little") - dict_size).to_bytes(8, "little")
    pack_index(old, index, tmp_path)
    write_manifest(app.server_dir)
    r = abota(*app.args("update"))
    assert "has another format version than this abota reads (ABOTABI2)" in r.stderr, r.stderr
    assert "block reuse failed, downloading the full image" in r.stderr
    assert blocks_requests(app) == []
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert "/appliance_2.store.raw" in gets(app)


@pytest.mark.parametrize("mode,why", [("--corrupt-ranges", "does not match the block index"),
                                      ("--no-range", "does not answer range requests")])
def test_bad_range_answers_fall_back_to_full(abota, app, tmp_path, mode, why):
    """A server sending wrong bytes for a range, or ignoring Range (200 with the whole file)."""
    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2)
    publish(abota, app, tmp_path, "2", v2)
    app.server.start("--log", app.log, mode)
    app.set_url(app.server.url)
    r = abota(*app.args("update"))
    assert why in r.stderr
    assert "block reuse failed, downloading the full image" in r.stderr
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert "/appliance_2.store.raw" in gets(app)
    # given up at the first answer: the dictionary's, one range (wrong bytes, or the whole file)
    assert len(blocks_requests(app)) == len(dictionary_requests(app)) == 1


def test_blocks_fail_and_full_fails_slot_stays_empty(abota, app, tmp_path):
    """Wrong range bytes, then a full image that fails its checksum: the update fails, the slot
    keeps its `_empty` label and the installed version is untouched."""
    publish(abota, app, tmp_path, "1", app.v1)
    publish(abota, app, tmp_path, "2", edit(app.v1, 2))
    full = app.server_dir / "appliance_2.store.raw"
    full.write_bytes(bytes(len(full.read_bytes())))
    app.server.start("--log", app.log, "--corrupt-ranges")
    app.set_url(app.server.url)
    before = app.snapshot()
    r = abota(*app.args("update"), check=False)
    assert r.returncode != 0
    assert app.labels() == ["esp", "store_1", "_empty", "data"]
    assert app.snapshot() == before


def test_forced_paths(abota, app, tmp_path, monkeypatch):
    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2)
    publish(abota, app, tmp_path, "2", v2, "--deltas=1")
    seed = app.disk.read_bytes()
    # ABOTA_PATH=blocks: the patch is there but not used
    monkeypatch.setenv("ABOTA_PATH", "blocks")
    r = abota(*app.args("update"))
    assert "written by block reuse" in r.stderr
    assert not [g for g in gets(app) if "delta" in g]
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    # ABOTA_PATH=full: neither patch nor index
    app.disk.write_bytes(seed)
    for p in app.esp.iterdir():
        if p.name != "appliance_1.efi":
            p.unlink()
    app.log.write_text("")
    monkeypatch.setenv("ABOTA_PATH", "full")
    r = abota(*app.args("update"))
    assert "written from the full image" in r.stderr
    assert [g for g in gets(app) if "%40" in g] == []
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2


def test_full_chosen_when_blocks_would_cost_more(abota, app, tmp_path):
    """Nothing in common with the installed version: the index and every block would cost more
    than the full image, so the full image is downloaded."""
    publish(abota, app, tmp_path, "1", app.v1)
    v2 = payload("2", SLOT_SIZE // 2, b"unrelated")
    publish(abota, app, tmp_path, "2", v2)
    r = abota(*app.args("update"))
    assert "block reuse would fetch" in r.stderr
    assert "downloading the full image" in r.stderr
    assert ranges(app) == []
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert "/appliance_2.store.raw" in gets(app)


def test_kill_during_block_reuse(abota, abota_bin, app, tmp_path, monkeypatch):
    """SIGKILL while the ranges of a throttled server arrive (the new slot is written as they do):
    the installed version stays intact, version 2 appears only complete, and a rerun installs it."""
    import signal
    import time

    monkeypatch.setenv("ABOTA_PATH", "blocks")  # 300 edits: the full image would cost less

    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2, n=300)
    publish(abota, app, tmp_path, "2", v2)
    seed = app.disk.read_bytes()
    for delay in (0.4, 1.5):
        app.disk.write_bytes(seed)
        for p in app.esp.iterdir():
            if p.name != "appliance_1.efi":
                p.unlink()
        app.server.start("--throttle", str(32 * 1024), "--log", app.log)
        app.set_url(app.server.url)
        p = subprocess.Popen([abota_bin, *app.args("update")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert p.returncode == -signal.SIGKILL, delay  # killed before it finished
        assert slot_bytes(app.disk, "store_1")[:len(app.v1)] == app.v1
        assert app.labels() == ["esp", "store_1", "_empty", "data"]
        app.server.start("--log", app.log)
        app.set_url(app.server.url)
        app.log.write_text("")
        r = abota(*app.args("update"))
        assert "written by block reuse" in r.stderr, r.stderr
        assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
