# SPDX-License-Identifier: LGPL-2.1-or-later
"""The patch path: `abota publish` makes zstd patch-from patches against the versions already in
the directory, and `abota update` builds the new slot from the installed one and the patch when
the installed slot is byte for byte the published base; otherwise it downloads the full image.
Whatever the path, the new slot holds exactly the full image."""
import hashlib
import random
import re

import pytest

from agent_env import Appliance, Server, slot_bytes


@pytest.fixture
def app(tmp_path):
    a = Appliance(tmp_path)
    a.log = tmp_path / "httpd.log"
    a.server = Server(a.server_dir, tmp_path).start("--log", a.log)
    a.set_url(a.server.url)
    yield a
    a.server.stop()


def edit(data, seed, n=20):
    """A few small changes scattered over the image, as a package update makes them."""
    r = random.Random(seed)
    out = bytearray(data)
    for _ in range(n):
        at = r.randrange(len(out) - 512)
        out[at:at + 256] = r.randbytes(256)
    return bytes(out)


def stage(tmp_path, version, store):
    d = tmp_path / f"build-{version}"
    d.mkdir(exist_ok=True)
    (d / f"appliance_{version}.store.raw").write_bytes(store)
    (d / f"appliance_{version}.efi").write_bytes(b"efi %s\n" % version.encode() * 1000)
    return [d / f"appliance_{version}.store.raw", d / f"appliance_{version}.efi"]


def publish(abota, app, tmp_path, version, store, *extra):
    """Without block indexes: the patch path or the full download (block reuse: test_update_blocks)."""
    return abota("publish", "--definitions", app.defs, "--compress=zstd", "--block-index=no", *extra, app.server_dir,
                 *stage(tmp_path, version, store))


def gets(app):
    return [line.split()[1] for line in app.log.read_text().splitlines() if line.startswith("GET ")]


def published(abota, app, tmp_path):
    """v1 (the installed image) and v2 published, with a patch from 1 to 2."""
    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2)
    publish(abota, app, tmp_path, "2", v2)
    return v2


def test_publish_lists_patches(abota, app, tmp_path):
    v2 = published(abota, app, tmp_path)
    v3 = edit(v2, 3)
    r = publish(abota, app, tmp_path, "3", v3)
    names = sorted(p.name for p in app.server_dir.iterdir())
    assert "@delta@1@appliance_3.store.raw" in names and "@delta@2@appliance_3.store.raw" in names
    assert "@delta@1@appliance_2.store.raw" in names
    sums = (app.server_dir / "SHA256SUMS").read_text()
    for n in names:
        if n != "SHA256SUMS":
            assert f"{hashlib.sha256((app.server_dir / n).read_bytes()).hexdigest()}  {n}\n" in sums
    assert (app.server_dir / "@delta@2@appliance_3.store.raw").stat().st_size < 64 * 1024
    assert "@delta@2@appliance_3.store.raw" in r.stdout

    # --deltas=1 makes one; --keep prunes the patches whose base or target is gone
    publish(abota, app, tmp_path, "3", v3, "--deltas=1", "--keep=2")
    names = sorted(p.name for p in app.server_dir.iterdir())
    assert names == ["@delta@2@appliance_3.store.raw", "SHA256SUMS", "appliance_2.efi", "appliance_2.store.raw",
                     "appliance_3.efi", "appliance_3.store.raw"]
    assert "@delta@1" not in (app.server_dir / "SHA256SUMS").read_text()


def test_deltas_zero_makes_none(abota, app, tmp_path):
    publish(abota, app, tmp_path, "1", app.v1)
    publish(abota, app, tmp_path, "2", edit(app.v1, 2), "--deltas=0")
    assert not [p for p in app.server_dir.iterdir() if p.name.startswith("@")]


def test_update_through_patch(abota, app, tmp_path):
    v2 = published(abota, app, tmp_path)
    r = abota(*app.args("update"))
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert "/%40delta%401%40appliance_2.store.raw" in gets(app)
    assert "/appliance_2.store.raw" not in gets(app)


def test_modified_base_is_refused_and_full_image_installed(abota, app, tmp_path):
    v2 = published(abota, app, tmp_path)
    # one byte of the installed slot changed by hand: the label still says store_1
    app.write_slot("store_1", app.v1[:4096] + bytes([app.v1[4096] ^ 1]) + app.v1[4097:])
    r = abota(*app.args("update"))
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert "/appliance_2.store.raw" in gets(app)
    assert "does not hold that version's image" in r.stderr


@pytest.mark.parametrize("damage", ["flip", "truncate", "header"])
def test_corrupt_patch_falls_back_to_full(abota, app, tmp_path, damage):
    v2 = published(abota, app, tmp_path)
    p = app.server_dir / "@delta@1@appliance_2.store.raw"
    data = bytearray(p.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x55
    elif damage == "truncate":
        del data[len(data) // 2:]
    else:  # a forged target hash in the header (the file's hash in SHA256SUMS catches it)
        data[60] ^= 1
    p.write_bytes(bytes(data))
    r = abota(*app.args("update"))
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert "/%40delta%401%40appliance_2.store.raw" in gets(app)
    assert "/appliance_2.store.raw" in gets(app)
    assert "downloading the full image" in r.stderr


def test_patch_off_downloads_full(abota, app, tmp_path, monkeypatch):
    v2 = published(abota, app, tmp_path)
    monkeypatch.setenv("ABOTA_PATCH", "0")
    abota(*app.args("update"))
    assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
    assert not [g for g in gets(app) if "delta" in g]


# systemd-sysupdate's matcher (spec sysupdate.md 3.3), both the strict one and the one before
# PR #41899 that did not check for trailing characters.
FIELD = {"v": r"[A-Za-z0-9._,+~^-]+", "u": r"[0-9a-fA-F-]+", "f": r"(0x)?[0-9a-fA-F]+", "a": r"[a-z01]+",
         "r": r"[a-z01]+", "g": r"[a-z01]+", "t": r"[0-9]+", "m": r"[0-7]+", "s": r"[0-9]+", "d": r"[0-9]+",
         "l": r"[0-9]+", "h": r"[0-9a-fA-F]{64}"}


def sysupdate_match(pattern, name, strict):
    """Literal runs must match exactly; a field extends to the next literal's first occurrence."""
    parts = re.split(r"(@[a-z@])", pattern)
    pos = 0
    elements = [p for p in parts if p]
    lits = []
    for e in elements:
        lits.append(("lit", "@") if e == "@@" else (("field", e[1]) if e.startswith("@") else ("lit", e)))
    # merge literals
    merged = []
    for kind, v in lits:
        if merged and kind == "lit" and merged[-1][0] == "lit":
            merged[-1] = ("lit", merged[-1][1] + v)
        else:
            merged.append((kind, v))
    for i, (kind, v) in enumerate(merged):
        if kind == "lit":
            if not name.startswith(v, pos):
                return False
            pos += len(v)
            continue
        if i + 1 == len(merged):
            end = len(name)
        else:
            end = name.find(merged[i + 1][1], pos)
            if end < 0:
                return False
        if not re.fullmatch(FIELD[v], name[pos:end]):
            return False
        pos = end
    return pos == len(name) or not strict


def test_sysupdate_patterns_do_not_match_patch_names(abota, app, tmp_path):
    published(abota, app, tmp_path)
    publish(abota, app, tmp_path, "3", edit(app.v1, 3))
    patterns = ["appliance_@v.store.raw", "appliance_@v.efi", "appliance_@v+@l-@d.efi", "appliance_@v+@l.efi",
                "@v", "@v.store.raw", "@v_@u.raw", "appliance@v", "@h", "@t_@v", "@s@@@v"]
    names = [p.name for p in app.server_dir.iterdir() if p.name.startswith("@delta@")]
    assert len(names) == 3
    for pattern in patterns:
        for name in names:
            for strict in (True, False):
                assert not sysupdate_match(pattern, name, strict), (pattern, name)
    # the matcher itself works: the payloads match
    assert sysupdate_match("appliance_@v.store.raw", "appliance_3.store.raw", True)
    assert sysupdate_match("appliance_@v.store.raw", "appliance_3.store.raw.zst", False)
    # and abota's own listing of the source offers the full images only
    out = abota(*app.args("list")).stdout
    assert "delta" not in out


def test_kill_during_patch(abota, abota_bin, app, tmp_path):
    """SIGKILL at points spread over a throttled patch download (the new slot is mapped and
    written as the patch arrives): the installed version stays intact, version 2 appears only
    complete, and a rerun installs it (through the patch again: the base slot is untouched)."""
    import signal
    import subprocess
    import time

    publish(abota, app, tmp_path, "1", app.v1)
    v2 = edit(app.v1, 2, n=400)  # about 100 KiB of new bytes: a patch of that size
    publish(abota, app, tmp_path, "2", v2)
    patch = app.server_dir / "@delta@1@appliance_2.store.raw"
    assert patch.stat().st_size > 64 * 1024
    app.server.start("--throttle", str(64 * 1024), "--log", app.log)
    app.set_url(app.server.url)
    seed = (app.disk.read_bytes(), (app.esp / "appliance_1.efi").read_bytes())
    for i, delay in enumerate([0.05, 0.3, 0.6, 0.9, 1.2, 1.5]):
        app.disk.write_bytes(seed[0])
        for p in app.esp.iterdir():
            if p.name != "appliance_1.efi":
                p.unlink()
        p = subprocess.Popen([abota_bin, *app.args("update")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        labels = app.labels()
        assert slot_bytes(app.disk, "store_1")[:len(app.v1)] == app.v1
        assert "store_1" in labels and set(labels[1:3]) <= {"store_1", "store_2", "_empty"}
        if "store_2" in labels:
            assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
        app.log.write_text("")
        abota(*app.args("update"))
        assert slot_bytes(app.disk, "store_2")[:len(v2)] == v2
        assert "/appliance_2.store.raw" not in gets(app), i
