# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bad input never harms the device: each failure exits non-zero with one clear stderr line and
leaves the partition table, every labelled slot and the ESP byte-identical (a free _empty slot
may hold scraps, never a label)."""
import os
import subprocess
import time

import pytest

from agent_env import EXIT_FAIL, EXIT_TEMPFAIL, MiB, SLOT_SIZE, Server, error_lines, write_manifest


def fails_cleanly(abota, app, *extra, env=None, contains=None, code=EXIT_FAIL):
    """code: EXIT_TEMPFAIL (75) for what a timer retries later, EXIT_FAIL (1) for what needs fixing."""
    before = app.snapshot()
    run_env = dict(os.environ, ABOTA_STALL_TIMEOUT="1", ABOTA_CONNECT_TIMEOUT="2", **(env or {}))
    r = abota(*app.args(*extra, "update"), check=False, env=run_env, timeout=120)
    assert r.returncode == code, repr(r)
    lines = error_lines(r.stderr)
    assert len(lines) == 1, repr(r)
    assert lines[0].startswith("abota: ")
    if contains:
        assert contains in lines[0], repr(r)
    assert app.snapshot() == before
    assert app.labels() == ["esp", "store_1", "_empty", "data"]
    assert not [p for p in app.esp.iterdir() if p.name.startswith(".#")]
    return lines[0]


def test_corrupted_payload(abota, app):
    p = app.server_dir / "appliance_2.store.raw"
    data = bytearray(p.read_bytes())
    data[12345] ^= 0xFF
    p.write_bytes(bytes(data))
    fails_cleanly(abota, app, contains="checksum mismatch")


def test_truncated_payload(abota, app):
    p = app.server_dir / "appliance_2.store.raw"
    p.write_bytes(p.read_bytes()[:100000])
    fails_cleanly(abota, app, contains="appliance_2.store.raw")


def test_corrupted_kernel_after_store_was_written(abota, app):
    # the store slot is written completely before the kernel fails: it must stay unlabelled
    p = app.server_dir / "appliance_2.efi"
    p.write_bytes(b"x" + p.read_bytes()[1:])
    fails_cleanly(abota, app, contains="appliance_2.efi")


def test_failure_after_vacuum_keeps_booted_version(abota, app):
    # the room for 3 is made before it is fetched (man abota, update step 3): 2 is given away
    # first, so a bad payload leaves the booted 1 and a free slot, never a label on scraps
    abota(*app.args("update"))
    app.publish("3")
    p = app.server_dir / "appliance_3.store.raw"
    data = bytearray(p.read_bytes())
    data[4096] ^= 0xFF
    p.write_bytes(bytes(data))
    r = abota(*app.args("update"), check=False)
    assert r.returncode != 0 and "checksum mismatch" in r.stderr, repr(r)
    assert app.labels() == ["esp", "store_1", "_empty", "data"]
    assert app.esp_files() == ["appliance_1.efi"]
    assert not [p for p in app.esp.iterdir() if p.name.startswith(".#")]


def test_version_that_its_own_name_would_hide(abota, app):
    # "3+1" formats as appliance_3+1+3-0.efi, which the pattern reads back as version 3: refused
    # before anything is written, instead of installing a file that list and vacuum cannot see
    for name in ("store.raw", "efi"):
        src = app.server_dir / f"appliance_2.{name}"
        src.rename(app.server_dir / f"appliance_3+1.{name}")
    write_manifest(app.server_dir)
    fails_cleanly(abota, app, contains="would not be recognised as version 3+1")


def test_payload_missing_404(abota, app):
    (app.server_dir / "appliance_2.store.raw").unlink()
    fails_cleanly(abota, app, contains="not found")


def test_manifest_missing(abota, app):
    (app.server_dir / "SHA256SUMS").unlink()
    fails_cleanly(abota, app, contains="SHA256SUMS: not found")


def test_server_error_500(abota, app):
    app.server.start("--fail-status", "500")
    app.set_url(app.server.url)
    fails_cleanly(abota, app, contains="500", code=EXIT_TEMPFAIL)


def test_server_down(abota, app):
    app.server.stop()
    fails_cleanly(abota, app, contains="127.0.0.1", code=EXIT_TEMPFAIL)


def test_server_stalls(abota, app):
    # the server answers and then goes silent without closing: given up after the stall timeout
    # and its retries, not hanging forever
    app.server.start("--stall-after", "0")
    app.set_url(app.server.url)
    start = time.monotonic()
    fails_cleanly(abota, app, contains="SHA256SUMS", code=EXIT_TEMPFAIL)
    assert time.monotonic() - start < 60


def test_server_stalls_mid_payload(abota, app):
    # every answer stops after the same number of bytes and the server ignores ranges, so
    # retries cannot make progress: the update gives up and the slot stays unlabelled
    manifest = (app.server_dir / "SHA256SUMS").stat().st_size
    app.server.start("--stall-after", manifest + 65536, "--no-range")
    app.set_url(app.server.url)
    start = time.monotonic()
    fails_cleanly(abota, app, contains="appliance_2.store.raw", code=EXIT_TEMPFAIL)
    assert time.monotonic() - start < 60


def test_trickling_server_is_given_up(abota, app):
    # a steady trickle keeps the stall timer happy; below the minimum rate (here 2000 bytes/s over
    # 2 s instead of 30 over 60) every attempt is aborted, and a trickle does not count as the
    # progress that would make the retries start over
    app.server.start("--throttle", 500)
    app.set_url(app.server.url)
    env = {"ABOTA_LOW_SPEED_LIMIT": "2000", "ABOTA_LOW_SPEED_TIME": "2"}
    line = fails_cleanly(abota, app, env=env, contains="appliance_2.store.raw", code=EXIT_TEMPFAIL)
    assert "too slow, less than 2000 bytes/s over 2 s, giving up" in line


def test_transfer_deadline(abota, app):
    # fast enough for the minimum rate, but one download may not take longer than the deadline
    app.server.start("--throttle", 100000)
    app.set_url(app.server.url)
    line = fails_cleanly(abota, app, env={"ABOTA_TRANSFER_TIMEOUT": "2"}, contains="appliance_2.store.raw", code=EXIT_TEMPFAIL)
    assert "not complete after 2 s" in line


@pytest.fixture
def https(app, tmp_path):
    """start(*options) -> https URL of another tests/helpers/httpd.py serving the same files with a
    self-signed certificate for 127.0.0.1, which the client trusts through $CURL_CA_BUNDLE."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    servers = []

    def start(*options):
        workdir = tmp_path / f"https{len(servers)}"
        workdir.mkdir()
        servers.append(Server(app.server_dir, workdir).start("--tls-cert", cert, "--tls-key", key, *options))
        return f"https://127.0.0.1:{servers[-1].port}/"

    start.env = {"CURL_CA_BUNDLE": str(cert)}
    yield start
    for s in servers:
        s.stop()


def test_https_redirect_to_https_is_followed(abota, app, https):
    direct = https()
    app.set_url(https("--redirect", direct))
    r = abota(*app.args("check-new"), env=dict(os.environ, **https.env))
    assert r.stdout.strip() == "2"


def test_update_over_https_through_a_redirect(abota, app, https):
    # the check before the vacuum (HEAD) trusts and follows what the download does
    direct = https()
    app.set_url(https("--redirect", direct))
    abota(*app.args("update"), env=dict(os.environ, **https.env))
    assert "store_2" in app.labels()


def test_https_redirect_to_http_is_refused(abota, app, https):
    # a redirect must not take what TLS protects onto plain http (the http server has the files)
    app.set_url(https("--redirect", app.server.url))
    line = fails_cleanly(abota, app, env=https.env, contains="SHA256SUMS")
    assert "refusing the redirect to http://127.0.0.1" in line, line


HOSTILE = {
    "nul": b"\0" * 10,
    "bad-hex": b"zz" * 32 + b"  appliance_2.store.raw\n",
    "path-escape": b"a" * 64 + b"  ../../etc/passwd\n",
    "absolute": b"a" * 64 + b"  /etc/passwd\n",
    "no-newline": b"a" * 64 + b"  appliance_2.store.raw",
    "control-char": b"a" * 64 + b"  appliance_2\x1b[2J.store.raw\n",
    "huge": b"a" * (5 * MiB),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_manifest(abota, app, kind):
    (app.server_dir / "SHA256SUMS").write_bytes(HOSTILE[kind])
    fails_cleanly(abota, app, contains="SHA256SUMS")


def test_manifest_hash_disagrees_with_name(abota, app):
    # a name carrying @h must agree with its listed hash, else the whole manifest is refused
    for f in app.defs.iterdir():
        f.write_text(f.read_text().replace("MatchPattern=appliance_@v.store.raw",
                                           "MatchPattern=appliance_@v_@h.store.raw"))
    (app.server_dir / ("appliance_3_" + "0" * 64 + ".store.raw")).write_bytes(b"three")
    write_manifest(app.server_dir)
    fails_cleanly(abota, app, contains="hash")


def test_payload_larger_than_every_free_slot(abota, app):
    app.publish("2", store_size=SLOT_SIZE + 4096)
    fails_cleanly(abota, app, contains="larger than")


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "xz"])
def test_payload_one_byte_larger_than_the_slot(abota, app, compressed):
    # refused, and the partition behind the slot keeps every byte: also when only the
    # decompressed size is too large (the server announces the compressed one)
    import lzma
    from agent_env import payload, read_partitions
    data = payload("2", SLOT_SIZE + 1)
    start, size = [(s, n) for name, s, n, _ in read_partitions(app.disk) if name == "_empty"][0]
    assert size == SLOT_SIZE
    # the data partition starts right behind the slot, with bytes the overflow would change
    assert [s for name, s, _, _ in read_partitions(app.disk) if name == "data"] == [start + size]
    app.write_slot("data", bytes([data[SLOT_SIZE] ^ 0xFF]) * 4096)
    with open(app.disk, "rb") as f:
        f.seek(start + size)
        behind = f.read(MiB)
    (app.server_dir / "appliance_2.store.raw").write_bytes(lzma.compress(data) if compressed else data)
    write_manifest(app.server_dir)
    fails_cleanly(abota, app, contains="larger than")
    with open(app.disk, "rb") as f:
        f.seek(start + size)
        assert f.read(MiB) == behind


@pytest.fixture
def small_esp(app):
    """The ESP as a small tmpfs, nearly full."""
    esp_root = app.root / "efi"
    saved = {p.name: p.read_bytes() for p in app.esp.iterdir()}
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(esp_root)], check=True)
    try:
        app.esp.mkdir(parents=True)
        for name, data in saved.items():
            (app.esp / name).write_bytes(data)
        (esp_root / "filler").write_bytes(b"f" * (40 * 1024))
        yield esp_root
    finally:
        subprocess.run(["umount", str(esp_root)], check=True)


def test_full_esp(abota, app, small_esp):
    line = fails_cleanly(abota, app)
    assert "No space left on device" in line or "ENOSPC" in line or "space" in line


def make_key(home):
    home.mkdir(mode=0o700)
    subprocess.run(["gpg", "--batch", "--homedir", str(home), "--passphrase", "", "--quick-gen-key",
                    "abota test <test@example.invalid>", "ed25519", "sign", "never"],
                   check=True, capture_output=True)
    return home


def sign(home, data_file):
    sig = data_file.with_name(data_file.name + ".gpg")
    if sig.exists():
        sig.unlink()
    subprocess.run(["gpg", "--batch", "--homedir", str(home), "--detach-sign", "-o", str(sig), str(data_file)],
                   check=True, capture_output=True)


@pytest.fixture
def signed(app, tmp_path):
    """A trusted key in ROOT/etc/systemd/import-pubring.pgp, a signed manifest, Verify=yes."""
    trusted = make_key(tmp_path / "trusted")
    keyring = app.root / "etc" / "systemd" / "import-pubring.pgp"
    keyring.parent.mkdir(parents=True)
    keyring.write_bytes(subprocess.run(["gpg", "--batch", "--homedir", str(trusted), "--export"],
                                       check=True, capture_output=True).stdout)
    sign(trusted, app.server_dir / "SHA256SUMS")
    app.set_url(app.server.url, verify=True)
    return trusted


def test_signed_manifest_verifies(abota, app, signed):
    abota(*app.args("update"))
    assert "store_2" in app.labels()


def test_missing_signature(abota, app, signed):
    (app.server_dir / "SHA256SUMS.gpg").unlink()
    fails_cleanly(abota, app, contains="SHA256SUMS.gpg")


def test_signature_by_unknown_key(abota, app, signed, tmp_path):
    sign(make_key(tmp_path / "intruder"), app.server_dir / "SHA256SUMS")
    fails_cleanly(abota, app, contains="signature")


def test_manifest_changed_after_signing(abota, app, signed):
    app.publish("3")  # rewrites SHA256SUMS, the old signature no longer matches
    fails_cleanly(abota, app, contains="signature")


def test_signature_of_the_previous_manifest_is_fetched_again(abota, app, signed, tmp_path):
    # a client between publish's two renames sees the new manifest with the old signature: it
    # fetches the pair once more after a short wait, and then installs the new version
    old_sig = tmp_path / "old.gpg"
    old_sig.write_bytes((app.server_dir / "SHA256SUMS.gpg").read_bytes())
    app.publish("3")
    sign(signed, app.server_dir / "SHA256SUMS")
    log = tmp_path / "httpd.log"
    app.server.start("--stale", f"SHA256SUMS.gpg={old_sig}", "--log", log)
    app.set_url(app.server.url, verify=True)
    r = abota(*app.args("update"))
    # one info line says it fetches again; no error
    assert r.stderr.count("fetching both again") == 1, repr(r)
    assert "verification failed" not in "\n".join(error_lines(r.stderr)), repr(r)
    assert "store_3" in app.labels()
    # the pair twice for the first transfer; the second transfer uses the good pair of this run
    requests = log.read_text().splitlines()
    assert sum(line.startswith("GET /SHA256SUMS ") for line in requests) == 2
    assert sum(line.startswith("GET /SHA256SUMS.gpg ") for line in requests) == 2


def test_bad_signature_is_fetched_again_only_once(abota, app, signed, tmp_path):
    log = tmp_path / "httpd.log"
    app.server.start("--log", log)
    app.set_url(app.server.url, verify=True)
    app.publish("3")  # the signature no longer matches, and never will
    fails_cleanly(abota, app, contains="BAD signature")
    requests = log.read_text().splitlines()
    assert sum(line.startswith("GET /SHA256SUMS.gpg ") for line in requests) == 2


def test_verify_no_overrides(abota, app, signed):
    (app.server_dir / "SHA256SUMS.gpg").unlink()
    abota(*app.args("--verify=no", "update"))
    assert "store_2" in app.labels()


def test_missing_keyring(abota, app, signed):
    (app.root / "etc" / "systemd" / "import-pubring.pgp").unlink()
    fails_cleanly(abota, app, contains="keyring")
