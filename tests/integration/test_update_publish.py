# SPDX-License-Identifier: LGPL-2.1-or-later
"""The two ends together: `abota publish` fills an update directory (compressed, signed, with a
best-before marker) and `abota update` on the seed appliance installs from it."""
import pytest

from agent_env import Appliance, Server, payload, slot_bytes


@pytest.fixture
def app(tmp_path):
    a = Appliance(tmp_path)
    a.server = Server(a.server_dir, tmp_path).start()
    a.set_url(a.server.url)
    yield a
    a.server.stop()


def stage(tmp_path, version):
    d = tmp_path / f"build-{version}"
    d.mkdir()
    store = d / f"appliance_{version}.store.raw"
    store.write_bytes(payload(version, 3 * 1024 * 1024))
    efi = d / f"appliance_{version}.efi"
    efi.write_bytes(payload(version, 64 * 1024, b"efi"))
    return store, efi


def test_publish_signed_compressed_then_update(abota, app, tmp_path):
    home = app.signing_key()
    app.set_url(app.server.url, verify=True)

    store, efi = stage(tmp_path, "2")
    abota("publish", "--definitions", app.defs, "--compress=zstd", "--sign=gpg", f"--gpg-homedir={home}",
          app.server_dir, store, efi)
    assert (app.server_dir / "SHA256SUMS.gpg").exists()
    assert (app.server_dir / "appliance_2.store.raw").stat().st_size < store.stat().st_size

    abota(*app.args("update"))
    assert slot_bytes(app.disk, "store_2")[:store.stat().st_size] == store.read_bytes()
    assert (app.esp / "appliance_2+3-0.efi").read_bytes() == efi.read_bytes()


def test_stale_best_before_is_refused(abota, app, tmp_path):
    store, efi = stage(tmp_path, "2")
    abota("publish", "--definitions", app.defs, "--best-before=2099-01-01", app.server_dir, store, efi)
    abota(*app.args("check-new"))
    # the publisher stopped refreshing the list: its marker has passed (publish refuses to
    # write a past date, so age the marker by hand)
    manifest = app.server_dir / "SHA256SUMS"
    manifest.write_text(manifest.read_text().replace("BEST-BEFORE-2099-01-01", "BEST-BEFORE-2001-01-01"))
    before = app.snapshot()
    r = abota(*app.args("update"), check=False)
    assert r.returncode != 0
    assert len(r.stderr.splitlines()) == 1 and "best-before" in r.stderr
    assert app.snapshot() == before
