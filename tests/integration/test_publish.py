# SPDX-License-Identifier: LGPL-2.1-or-later
"""abota publish: payloads, SHA256SUMS, compression, gpg signatures and --keep on a real directory."""
import fcntl
import hashlib
import os
import shutil
import subprocess

import pytest

PATTERNS = ["--pattern=appliance_@v.store.raw", "--pattern=appliance_@v.efi"]


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_version(tmp_path, version, size=200_000):
    """Two payloads of one version: a store image (compressible, with some noise) and a UKI."""
    src = tmp_path / f"build-{version}"
    src.mkdir()
    store = src / f"appliance_{version}.store.raw"
    store.write_bytes((f"store {version} ".encode() * (size // 10)) + os.urandom(1000))
    uki = src / f"appliance_{version}.efi"
    uki.write_bytes(b"MZ" + os.urandom(5000))
    return [store, uki]


def manifest_lines(srv):
    return (srv / "SHA256SUMS").read_text().splitlines()


def sha256sum_check(srv):
    p = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=srv, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def listing(srv):
    return sorted(p.name for p in srv.iterdir())


@pytest.fixture
def srv(tmp_path):
    d = tmp_path / "srv"
    d.mkdir()
    return d


def test_publish_versions_and_keep(abota, tmp_path, srv):
    v1 = make_version(tmp_path, "1")
    r = abota("publish", *PATTERNS, srv, *v1)
    assert "Published version 1" in r.stdout
    # the exact sha256sum format, sorted by name, over the files as published
    assert manifest_lines(srv) == [
        f"{sha256(v1[1])}  appliance_1.efi",
        f"{sha256(v1[0])}  appliance_1.store.raw",
    ]
    assert "appliance_1.store.raw: OK" in sha256sum_check(srv)

    v2 = make_version(tmp_path, "2")
    abota("publish", *PATTERNS, "--deltas=0", srv, *v2)  # patches: test_update_patch.py
    assert [line.split("  ")[1] for line in manifest_lines(srv)] == [
        "appliance_1.efi", "appliance_1.store.raw", "appliance_2.efi", "appliance_2.store.raw"]
    sha256sum_check(srv)

    # 10 sorts after 2 as a version (not as a string): --keep=2 drops version 1 only
    v10 = make_version(tmp_path, "10")
    r = abota("publish", *PATTERNS, "--keep=2", "--deltas=0", srv, *v10)
    assert "Removed version(s) 1: appliance_1.efi appliance_1.store.raw" in r.stdout
    assert listing(srv) == ["SHA256SUMS", "appliance_10.efi", "appliance_10.store.raw",
                            "appliance_2.efi", "appliance_2.store.raw"]
    assert len(manifest_lines(srv)) == 4
    sha256sum_check(srv)
    assert (srv / "appliance_10.store.raw").read_bytes() == v10[0].read_bytes()

    # an older version than the ones --keep retains is refused, nothing changes
    before = (srv / "SHA256SUMS").read_bytes()
    v3 = make_version(tmp_path, "3-rc1")
    r = abota("publish", *PATTERNS, "--keep=1", srv, *v3, check=False)
    assert r.returncode != 0
    assert f"{srv}: version 3-rc1 would not be among the 1 newest versions, --keep=1 would remove it right away" in r.stderr
    assert (srv / "SHA256SUMS").read_bytes() == before
    assert listing(srv) == ["SHA256SUMS", "appliance_10.efi", "appliance_10.store.raw",
                            "appliance_2.efi", "appliance_2.store.raw"]


def test_other_files_listed_never_removed(abota, tmp_path, srv):
    (srv / "README.txt").write_text("hello\n")
    (srv / ".#appliance_0.efi.abcXYZ").write_text("a crashed publish's temporary file\n")
    (srv / ".#notes").write_text("someone else's file of another form\n")
    (srv / "subdir").mkdir()
    (srv / "SHA256SUMS.old").write_text("old\n")
    for v in ("1", "2", "3"):
        r = abota("publish", *PATTERNS, "--keep=1", srv, *make_version(tmp_path, v))
        assert ("removed leftover temporary file" in r.stderr) == (v == "1")
    names = [line.split("  ")[1] for line in manifest_lines(srv)]
    assert names == ["README.txt", "appliance_3.efi", "appliance_3.store.raw"]
    assert (srv / "README.txt").exists() and (srv / "subdir").is_dir()
    sha256sum_check(srv)
    # what a crashed publish left is removed under the lock; other dot files are never listed
    assert not (srv / ".#appliance_0.efi.abcXYZ").exists()
    assert [n for n in listing(srv) if n.startswith(".#")] == [".#notes"]


@pytest.mark.parametrize("method,decompress", [("zstd", ["zstd", "-dc"]), ("xz", ["xz", "-dc"]),
                                               ("zstd:1", ["zstd", "-dc"]), ("xz:0", ["xz", "-dc"])])
def test_compress(abota, tmp_path, srv, method, decompress):
    v1 = make_version(tmp_path, "1", size=2_000_000)
    r = abota("publish", *PATTERNS, f"--compress={method}", srv, *v1)
    assert f"({method.split(':')[0]})" in r.stdout
    for orig in v1:
        pub = srv / orig.name  # same name: clients detect compression by magic
        out = subprocess.run(decompress + [str(pub)], capture_output=True, check=True).stdout
        assert out == orig.read_bytes()
    # compressible input got smaller; the manifest lists the compressed bytes
    assert (srv / v1[0].name).stat().st_size < v1[0].stat().st_size // 5
    assert f"{sha256(srv / v1[0].name)}  {v1[0].name}" in manifest_lines(srv)
    sha256sum_check(srv)


@pytest.fixture(scope="module")
def gnupg(tmp_path_factory):
    """A throwaway signing key; its public half exported as a binary keyring for gpgv."""
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    keys = {}
    for name in ("signer", "stranger"):
        uid = f"{name}@abota.invalid"
        subprocess.run(["gpg", "--homedir", home, "--batch", "--passphrase", "", "--quick-gen-key",
                        f"abota {name} <{uid}>", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        ring = home / f"{name}.pgp"
        ring.write_bytes(subprocess.run(["gpg", "--homedir", home, "--export", uid],
                                        check=True, capture_output=True).stdout)
        keys[name] = (uid, ring)
    yield home, keys
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], capture_output=True)


def gpgv(keyring, srv):
    return subprocess.run(["gpgv", "--keyring", keyring, srv / "SHA256SUMS.gpg", srv / "SHA256SUMS"],
                          capture_output=True, text=True)


def test_sign(abota, tmp_path, srv, gnupg):
    home, keys = gnupg
    uid, ring = keys["signer"]
    r = abota("publish", *PATTERNS, "--sign=gpg", f"--gpg-key={uid}", f"--gpg-homedir={home}", srv,
              *make_version(tmp_path, "1"))
    assert "signed as SHA256SUMS.gpg" in r.stdout
    assert gpgv(ring, srv).returncode == 0
    assert gpgv(keys["stranger"][1], srv).returncode != 0  # wrong key

    # a new version re-signs the new manifest
    abota("publish", *PATTERNS, "--sign=gpg", f"--gpg-key={uid}", f"--gpg-homedir={home}", srv,
          *make_version(tmp_path, "2"))
    assert gpgv(ring, srv).returncode == 0
    # tampering with the manifest breaks the signature
    (srv / "SHA256SUMS").write_text((srv / "SHA256SUMS").read_text().replace("appliance_2.efi", "appliance_9.efi"))
    assert gpgv(ring, srv).returncode != 0

    # publishing without --sign into the signed directory is refused: it would remove the
    # signature and silently stop every Verify=yes device; nothing changes
    before = {n: (srv / n).read_bytes() for n in listing(srv)}
    v3 = make_version(tmp_path, "3")
    r = abota("publish", *PATTERNS, srv, *v3, check=False)
    assert r.returncode == 1
    assert r.stderr == (f"abota: {srv}: SHA256SUMS is signed; without --sign=gpg the signature would be removed "
                        "and Verify=yes devices would stop updating (give --sign=gpg, or --sign=no to drop it)\n")
    assert {n: (srv / n).read_bytes() for n in listing(srv)} == before

    # --sign=no says so explicitly: the now stale signature is dropped instead of leaving a mismatch
    r = abota("publish", *PATTERNS, "--sign=no", srv, *v3)
    assert "SHA256SUMS.gpg: removed, it does not sign the new manifest" in r.stderr
    assert not (srv / "SHA256SUMS.gpg").exists()
    # an unsigned directory stays publishable without --sign
    abota("publish", *PATTERNS, srv, *make_version(tmp_path, "4"))


def test_sign_failure_keeps_old_state(abota, tmp_path, srv, gnupg):
    home, keys = gnupg
    uid, ring = keys["signer"]
    abota("publish", *PATTERNS, "--sign=gpg", f"--gpg-key={uid}", f"--gpg-homedir={home}", srv,
          *make_version(tmp_path, "1"))
    before = (srv / "SHA256SUMS").read_bytes(), (srv / "SHA256SUMS.gpg").read_bytes()
    r = abota("publish", *PATTERNS, "--sign=gpg", "--gpg-key=nobody@abota.invalid", f"--gpg-homedir={home}",
              srv, *make_version(tmp_path, "2"), check=False)
    assert r.returncode != 0
    assert "signing with gpg key nobody@abota.invalid failed" in r.stderr
    assert "No secret key" in r.stderr
    # the old manifest and signature stay valid; payloads of 2 are present but not listed
    assert ((srv / "SHA256SUMS").read_bytes(), (srv / "SHA256SUMS.gpg").read_bytes()) == before
    assert gpgv(ring, srv).returncode == 0
    assert [n for n in listing(srv) if n.startswith(".#")] == []


def test_best_before(abota, tmp_path, srv):
    r = abota("publish", *PATTERNS, "--best-before=2099-12-31", srv, *make_version(tmp_path, "1"))
    assert "SHA256SUMS lists 2 file(s), best before 2099-12-31" in r.stdout
    empty = hashlib.sha256(b"").hexdigest()
    assert manifest_lines(srv)[0] == f"{empty}  BEST-BEFORE-2099-12-31"
    # sha256sum needs --ignore-missing for the marker line, which names no file
    p = subprocess.run(["sha256sum", "--strict", "--ignore-missing", "-c", "SHA256SUMS"], cwd=srv,
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.count(": OK") == 2, p.stdout + p.stderr

    def fails(date, reason):
        r = abota("publish", *PATTERNS, f"--best-before={date}", srv, *make_version(tmp_path, date), check=False)
        assert r.returncode != 0
        assert f"--best-before={date}: {reason}" in r.stderr

    fails("2020-01-01", "the date has passed, clients would refuse the manifest")
    fails("2099-02-30", "expected a date YYYY-MM-DD")
    fails("tomorrow", "expected a date YYYY-MM-DD")
    # without the option the next manifest has no marker
    abota("publish", *PATTERNS, srv, *make_version(tmp_path, "2"))
    assert not any("BEST-BEFORE" in line for line in manifest_lines(srv))
    sha256sum_check(srv)


def test_definitions(abota, tmp_path, srv):
    defs = tmp_path / "sysupdate.d"
    defs.mkdir()
    for prio, suffix, target in (("10", "store.raw", "[Target]\nType=partition\nPath=/dev/null\n"
                                                      "MatchPattern=store_@v\n"),
                                 ("20", "efi", "[Target]\nType=regular-file\nPath=/EFI/Linux\n"
                                               "PathRelativeTo=boot\nMatchPattern=appliance_@v.efi\n")):
        (defs / f"{prio}-{suffix}.transfer").write_text(
            f"[Source]\nType=url-file\nPath=http://localhost/\nMatchPattern=appliance_@v.{suffix}\n" + target)
    abota("publish", f"--definitions={defs}", srv, *make_version(tmp_path, "1"))
    # the payloads and the block index and blocks of the partition payload only
    assert sorted(line.split()[1] for line in manifest_lines(srv)) == [
        "@blocks@appliance_1.store.raw", "@index@appliance_1.store.raw", "appliance_1.efi", "appliance_1.store.raw"]
    r = abota("publish", f"--definitions={defs}", "--keep=1", srv, *make_version(tmp_path, "2"))
    assert "Removed version(s) 1" in r.stdout
    assert len(manifest_lines(srv)) == 4
    assert r.stderr == ""

    # a version without the payload of one transfer would never be offered: refused, unchanged
    before = {n: (srv / n).read_bytes() for n in listing(srv)}
    store3, _ = make_version(tmp_path, "3")
    r = abota("publish", f"--definitions={defs}", srv, store3, check=False)
    assert r.returncode == 1
    assert r.stderr == ("abota: version 3 has no payload for transfer 20-efi.transfer (MatchPattern=appliance_@v.efi); "
                        "publish all of a version's files at once\n")
    assert {n: (srv / n).read_bytes() for n in listing(srv)} == before
    # --pattern= alone does not know the transfers
    abota("publish", "--pattern=appliance_@v.store.raw", srv, store3)
    # re-publishing one file of a complete version counts the one already there
    _, uki3 = make_version(tmp_path, "3b")
    uki3 = uki3.rename(uki3.parent / "appliance_3.efi")
    abota("publish", f"--definitions={defs}", srv, uki3)


def test_definitions_no_device_warnings(abota, tmp_path, srv):
    """ProtectVersion=%A is about the device: the build host's os-release (no IMAGE_VERSION)
    is no reason for a warning at publish time."""
    defs = tmp_path / "sysupdate.d"
    defs.mkdir()
    (defs / "10-store.transfer").write_text(
        "[Transfer]\nProtectVersion=%A\n[Source]\nType=url-file\nPath=http://localhost/\n"
        "MatchPattern=appliance_@v.store.raw\n[Target]\nType=partition\nPath=auto\nMatchPattern=store_@v\n")
    store, _ = make_version(tmp_path, "1")
    r = abota("publish", f"--definitions={defs}", srv, store)
    assert r.stderr == ""
    # the device side still warns (here: the same definitions read as a device's)
    r = abota(f"--definitions={defs}", "--root=/nonexistent-root", "definitions", check=False)
    assert "ProtectVersion=%A expands to nothing" in r.stderr


def test_errors(abota, tmp_path, srv):
    v1 = make_version(tmp_path, "1")
    v2 = make_version(tmp_path, "2")
    stray = tmp_path / "notes.txt"
    stray.write_text("x")

    def fails(*args):
        r = abota("publish", *args, check=False)
        assert r.returncode != 0, r
        assert r.stderr.count("\n") == 1, r  # one error line
        return r.stderr

    assert f"{stray}: file name matches none of the patterns: appliance_@v.store.raw appliance_@v.efi" in \
        fails(*PATTERNS, srv, v1[0], stray)
    assert f"{v2[1]}: version 2, but {v1[0]} has version 1 (publish one version at a time)" in \
        fails(*PATTERNS, srv, v1[0], v2[1])
    assert f"{tmp_path}/missing.efi: No such file or directory" in fails(*PATTERNS, srv, tmp_path / "missing.efi")
    assert f"{tmp_path}/nodir: cannot open directory: No such file or directory" in \
        fails(*PATTERNS, tmp_path / "nodir", *v1)
    assert "--compress=gzip: expected none, zstd[:1-19] or xz[:0-9]" in fails(*PATTERNS, "--compress=gzip", srv, *v1)
    assert "--compress=zstd:20" in fails(*PATTERNS, "--compress=zstd:20", srv, *v1)
    assert "--keep=0: expected a positive number" in fails(*PATTERNS, "--keep=0", srv, *v1)
    assert "give --pattern= or --definitions=" in fails(srv, *v1)
    assert "--pattern=appliance.efi: no @v field" in fails("--pattern=appliance.efi", srv, *v1)
    assert "subdirectories are not supported" in fails("--pattern=v@v/appliance.efi", srv, *v1)
    assert "expected DIR and at least one FILE" in fails(*PATTERNS, srv)
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("")
    assert "reserved name" in fails("--pattern=SHA256SUM@v", srv, sums)
    # nothing was written by any of these
    assert listing(srv) == []


def test_hostile_names(abota, tmp_path, srv):
    """Names a strict client would refuse never make it into SHA256SUMS (it would be rejected whole)."""
    (srv / "line\nbreak.raw").write_text("x")
    (srv / "esc\x1b[31m.raw").write_text("x")
    (srv / "\\backslash.raw").write_text("x")  # sha256sum would escape it: fine for us, listed
    r = abota("publish", *PATTERNS, srv, *make_version(tmp_path, "1"))
    assert "line?break.raw: not listed in SHA256SUMS: file name contains a control character" in r.stderr
    assert "esc?[31m.raw: not listed in SHA256SUMS: file name contains a control character" in r.stderr
    names = [line[66:] for line in manifest_lines(srv)]
    assert names == ["\\backslash.raw", "appliance_1.efi", "appliance_1.store.raw"]
    sha256sum_check(srv)
    bad = tmp_path / "appliance_2\x7f.efi"
    bad.write_text("x")
    r = abota("publish", *PATTERNS, srv, bad, check=False)
    assert r.returncode != 0
    assert "appliance_2?.efi: cannot be listed in SHA256SUMS: file name contains a control character" in r.stderr


def test_locked_directory(abota, tmp_path, srv):
    fd = os.open(srv, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = abota("publish", *PATTERNS, srv, *make_version(tmp_path, "1"), check=False)
        assert r.returncode != 0
        assert "another publish is running on this directory" in r.stderr
    finally:
        os.close(fd)
    abota("publish", *PATTERNS, srv, *make_version(tmp_path, "1b"))


def test_republish_same_version(abota, tmp_path, srv):
    v1 = make_version(tmp_path, "1")
    abota("publish", *PATTERNS, "--compress=zstd", srv, *v1)
    before = (srv / "SHA256SUMS").read_bytes()
    # the same bits again (compression is deterministic): accepted, nothing changes
    abota("publish", *PATTERNS, "--compress=zstd", srv, *v1)
    assert (srv / "SHA256SUMS").read_bytes() == before

    # different bits under a published name would split the fleet: refused, nothing written
    published = (srv / "appliance_1.efi").read_bytes()
    v1[1].write_bytes(b"MZ fixed build")
    r = abota("publish", *PATTERNS, "--compress=zstd", srv, *v1, check=False)
    assert r.returncode != 0
    assert f"{srv}/appliance_1.efi: already published with different content" in r.stderr
    assert (srv / "SHA256SUMS").read_bytes() == before
    assert (srv / "appliance_1.efi").read_bytes() == published
    assert listing(srv) == ["SHA256SUMS", "appliance_1.efi", "appliance_1.store.raw"]

    abota("publish", *PATTERNS, "--force", srv, v1[1])
    assert (srv / "appliance_1.efi").read_bytes() == b"MZ fixed build"
    assert f"{sha256(v1[1])}  appliance_1.efi" in manifest_lines(srv)
    assert len(manifest_lines(srv)) == 2
    sha256sum_check(srv)


def test_help(abota):
    r = abota("publish", "--help")
    assert "Usage: abota publish" in r.stdout
    assert "--keep=N" in r.stdout


def test_agent_installs_from_published_directory(abota, tmp_path, srv, gnupg):
    """What publish writes is what the update agent accepts: strict manifest, signature, compression."""
    home, keys = gnupg
    uid, ring = keys["signer"]
    root = tmp_path / "root"
    (root / "etc/systemd").mkdir(parents=True)
    (root / "opt/app").mkdir(parents=True)
    shutil.copy(ring, root / "etc/systemd/import-pubring.pgp")
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "10-app.transfer").write_text(
        f"[Source]\nType=url-file\nPath=file://{srv}\nMatchPattern=app_@v.raw\n"
        "[Target]\nType=regular-file\nPath=/opt/app\nMatchPattern=app_@v.raw\n")
    builds = tmp_path / "builds"
    builds.mkdir()
    for v, method in (("1", "xz"), ("2", "zstd")):
        (builds / f"app_{v}.raw").write_bytes(f"payload {v}\n".encode() * 1000)
        abota("publish", "--pattern=app_@v.raw", f"--compress={method}", "--sign=gpg", f"--gpg-key={uid}",
              f"--gpg-homedir={home}", "--best-before=2099-01-01", srv, builds / f"app_{v}.raw")
    r = abota(f"--definitions={defs}", f"--root={root}", "check-new")
    assert r.stdout.strip() == "2"
    abota(f"--definitions={defs}", f"--root={root}", "update")
    assert (root / "opt/app/app_2.raw").read_bytes() == (builds / "app_2.raw").read_bytes()

    # a manifest that no longer matches its signature is refused as a whole
    (srv / "SHA256SUMS").write_text((srv / "SHA256SUMS").read_text() + (srv / "SHA256SUMS").read_text()[:64]
                                    + "  app_3.raw\n")
    r = abota(f"--definitions={defs}", f"--root={root}", "check-new", check=False)
    assert r.returncode != 0
    assert "signature verification failed: BAD signature" in r.stderr


def test_write_order(abota_bin, tmp_path, srv, gnupg):
    """Payloads land before the manifest naming them; old payloads go only after a manifest that no
    longer names them (followed with strace: renames, unlinks and fsyncs in order)."""
    home, keys = gnupg
    uid, ring = keys["signer"]
    sign = ["--sign=gpg", f"--gpg-key={uid}", f"--gpg-homedir={home}"]
    subprocess.run([abota_bin, "publish", *PATTERNS, *sign, srv, *make_version(tmp_path, "1")], check=True,
                   capture_output=True)
    trace = tmp_path / "trace"
    # LeakSanitizer cannot run under ptrace: off for a sanitizer build, everything else stays on
    env = dict(os.environ, ASAN_OPTIONS=":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "detect_leaks=0"])))
    subprocess.run(["strace", "-o", trace, "-e", "trace=rename,renameat,renameat2,unlink,unlinkat,fsync",
                    abota_bin, "publish", *PATTERNS, *sign, "--keep=1", srv, *make_version(tmp_path, "2")],
                   check=True, capture_output=True, env=env)
    events = []
    for line in trace.read_text().splitlines():
        if line.startswith("fsync("):
            events.append("fsync")
        elif line.startswith("renameat("):
            events.append("rename " + line.split('"')[3])
        elif line.startswith("unlinkat(") and "= 0" in line:
            events.append("unlink " + line.split('"')[1])
    i = events.index
    payloads = ("appliance_2.store.raw", "appliance_2.efi")
    first = min(i(f"rename {p}") for p in payloads)
    # every payload's data is on disk before any of their names appears
    assert events[:first].count("fsync") >= len(payloads)
    assert all(e.startswith("rename appliance_2") for e in events[first:first + len(payloads)])
    for payload in payloads:
        assert i(f"rename {payload}") < i("rename SHA256SUMS")
    assert "fsync" in events[i("rename appliance_2.efi"):i("rename SHA256SUMS")]  # the directory
    assert i("rename SHA256SUMS") < i("rename SHA256SUMS.gpg")
    for old in ("appliance_1.store.raw", "appliance_1.efi"):
        assert i("rename SHA256SUMS.gpg") < i(f"unlink {old}")
        assert "fsync" in events[i("rename SHA256SUMS.gpg"):i(f"unlink {old}")]
    assert events[-1] == "fsync"
    assert gpgv(ring, srv).returncode == 0
    sha256sum_check(srv)
