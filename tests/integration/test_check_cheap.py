# SPDX-License-Identifier: LGPL-2.1-or-later
"""Near-free checks: `check-new` fetches each server's manifest (and signature) once per run over
one connection, and asks with the ETag/Last-Modified kept from the last run, so a server with
nothing new answers 304 and sends no body."""
import json

import pytest

from agent_env import logged_appliance, payload


@pytest.fixture
def app(tmp_path):
    a = logged_appliance(tmp_path, verify=True)
    yield a
    a.server.stop()


def publish(abota, app, tmp_path, version):
    d = tmp_path / f"build-{version}"
    d.mkdir()
    (d / f"appliance_{version}.store.raw").write_bytes(payload(version, 256 * 1024))
    (d / f"appliance_{version}.efi").write_bytes(payload(version, 16 * 1024, b"efi"))
    abota("publish", "--definitions", app.defs, "--sign=gpg", f"--gpg-homedir={app.home}", app.server_dir,
          d / f"appliance_{version}.store.raw", d / f"appliance_{version}.efi")


def counted(app, run):
    before = json.loads(app.count.read_text()) if app.count.exists() else {}
    app.log.write_text("")
    r = run()
    after = json.loads(app.count.read_text())
    delta = {k: after[k] - before.get(k, 0) for k in after}
    lines = [line.split() for line in app.log.read_text().splitlines()]
    return r, delta, [(path, status) for _, path, status, _ in lines]


def test_nothing_new_costs_one_connection_and_no_body(abota, app, tmp_path):
    publish(abota, app, tmp_path, "2")
    # first run: two transfers on one server, each file fetched once, one connection
    r, delta, requests = counted(app, lambda: abota(*app.args("check-new")))
    assert "2" in r.stdout
    assert requests == [("/SHA256SUMS", "200"), ("/SHA256SUMS.gpg", "200")]
    assert delta["connections"] == 1

    # nothing new: the server answers 304 twice, under 1 kB in both directions
    r, delta, requests = counted(app, lambda: abota(*app.args("check-new")))
    assert "2" in r.stdout
    assert requests == [("/SHA256SUMS", "304"), ("/SHA256SUMS.gpg", "304")]
    assert delta["connections"] == 1
    assert delta["bytes_out"] + delta["bytes_in"] < 1024, delta

    # a new version: fetched in full again, and the update installs it from that manifest
    publish(abota, app, tmp_path, "3")
    r, delta, requests = counted(app, lambda: abota(*app.args("check-new")))
    assert "3" in r.stdout
    assert requests == [("/SHA256SUMS", "200"), ("/SHA256SUMS.gpg", "200")]
    abota(*app.args("update"))
    assert "store_3" in app.labels()


def test_damaged_kept_copy_is_fetched_again(abota, app, tmp_path):
    publish(abota, app, tmp_path, "2")
    abota(*app.args("check-new"))
    kept = sorted((app.root / "var" / "cache" / "abota" / "manifests").iterdir())
    assert len(kept) == 2
    for k in kept:  # a crash or a disk error changed the kept copies
        k.write_bytes(k.read_bytes()[:-3] + b"xx\n")
    r, delta, requests = counted(app, lambda: abota(*app.args("check-new")))
    assert "2" in r.stdout
    assert requests == [("/SHA256SUMS", "200"), ("/SHA256SUMS.gpg", "200")]
    # and the copies are whole again: the next run gets its 304s
    r, delta, requests = counted(app, lambda: abota(*app.args("check-new")))
    assert requests == [("/SHA256SUMS", "304"), ("/SHA256SUMS.gpg", "304")]


def test_forged_kept_manifest_is_not_used(abota, app, tmp_path):
    """The kept copy is checked like a download: a manifest changed on the device (its hash line
    recomputed) fails the signature, is dropped and fetched again in full."""
    import hashlib
    publish(abota, app, tmp_path, "2")
    abota(*app.args("check-new"))
    for k in (app.root / "var" / "cache" / "abota" / "manifests").iterdir():
        etag, modified, _, body = k.read_bytes().split(b"\n", 3)
        if b"appliance_2" in body:
            body = body.replace(b"appliance_2.efi", b"appliance_9.efi").replace(b"appliance_2.store", b"appliance_9.store")
            k.write_bytes(b"\n".join([etag, modified, hashlib.sha256(body).hexdigest().encode(), body]))
    r, delta, requests = counted(app, lambda: abota(*app.args("check-new")))
    assert "2" in r.stdout and "9" not in r.stdout
    assert requests == [("/SHA256SUMS", "304"), ("/SHA256SUMS.gpg", "304"),
                        ("/SHA256SUMS", "200"), ("/SHA256SUMS.gpg", "200")]
