# SPDX-License-Identifier: LGPL-2.1-or-later
"""What update says by default (info, as systemd), log levels, and update --dry-run."""
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket

from agent_env import EXIT_FAIL, EXIT_TEMPFAIL, SLOT_SIZE, notifications


def locale_env(**kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    return {**env, **kw}


def test_ascii_symbols_outside_utf8(abota, app, tmp_path):
    from test_features import setup_root
    # list, check, features and --help: UTF-8 symbols in a UTF-8 locale, ASCII in another;
    # without any locale variable UTF-8 is assumed (as systemd), not with an explicit C locale
    utf8 = {"list": ["  VERSION INSTALLED AVAILABLE ASSESSMENT",
                     "\u21bb 2                     \u2713     candidate",
                     "\u25cf 1           \u2713               current"],
            "check": ["TARGET UPDATE", "host   1 \u2192 2"]}
    ascii = {"list": ["  VERSION INSTALLED AVAILABLE ASSESSMENT",
                      "* 2                     +     candidate",
                      "* 1           +               current"],
             "check": ["TARGET UPDATE", "host   1 -> 2"]}
    root = setup_root(tmp_path / "features")
    for env, want in ((locale_env(LC_ALL="C.UTF-8"), utf8), (locale_env(LANG="C.UTF-8"), utf8),
                      (locale_env(), utf8), (locale_env(LC_ALL="C"), ascii), (locale_env(LANG="POSIX"), ascii),
                      (locale_env(LANG="C.UTF-8", LC_CTYPE="C"), ascii)):
        for verb, lines in want.items():
            assert abota(*app.args(verb), env=env).stdout.splitlines() == lines, (verb, env)
        text = [line.split()[:2] for line in abota(f"--root={root}", "features", env=env).stdout.splitlines()[1:]]
        assert text == ([["\u2717", "bare"], ["\u2713", "opt"]] if want is utf8 else [["-", "bare"], ["+", "opt"]])
        help_check = [line for line in abota("--help", env=env).stdout.splitlines() if line.startswith("  check ")]
        arrow = "\u2192" if want is utf8 else "->"
        assert help_check == [f"  check          Show CURRENT {arrow} NEW if an update is available (as updatectl check)"]
        r = abota(*app.args("list"), env=env)
        assert r.stdout.isascii() == (want is ascii), env


def test_list_version_mtime_as_date(abota, app):
    # MTIME as systemd-sysupdate 257 prints it, a local time with its zone; JSON keeps the
    # microseconds
    abota(*app.args("update"))
    os.utime(app.esp / "appliance_2+3-0.efi", (1772600767, 1772600767))
    for tz, when in (("UTC", "Wed 2026-03-04 05:06:07 UTC"), ("ABC-1", "Wed 2026-03-04 06:06:07 ABC")):
        out = abota(*app.args("list", "2"), env={**os.environ, "TZ": tz}).stdout.splitlines()
        header = [line for line in out if line.startswith("TYPE ")][0]
        row = [line for line in out if line.startswith("regular-file ")][0]
        col = header.index("MTIME")
        assert row[col:col + len(when)] == when, (tz, out)
        assert row[header.index("MODE"):].split()[0] == "0444"
    j = json.loads(abota(*app.args("--json=short", "list", "2")).stdout)
    kernel = [c for c in j["contents"] if c["type"] == "regular-file"]
    assert [(c["mtime"], c["mode"]) for c in kernel] == [(1772600767 * 10**6, 0o444)]


def tree(path):
    """Every file below path with its bytes' hash, and every directory."""
    out = {}
    for dirpath, dirs, files in os.walk(path):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), path)] = "dir"
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, path)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def image(app):
    return hashlib.sha256(app.disk.read_bytes()).hexdigest()


def test_update_says_version_slot_and_removals(abota, app):
    r = abota(*app.args("update"))
    assert "abota: Selected version 2 for install." in r.stderr.splitlines()
    # the slot written: partition number, disk and label
    assert f"wrote partition 3 of {app.disk}, labelled store_2" in r.stderr
    assert "Removing version" not in r.stderr  # an _empty slot was there

    (app.root / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=2\n")
    app.publish("3")
    r = abota(*app.args("update"))
    assert "abota: Removing version 1 to make room for 3." in r.stderr.splitlines()
    assert f"wrote partition 2 of {app.disk}, labelled store_3" in r.stderr


def test_no_updates_found(abota, app):
    abota(*app.args("update"))
    r = abota(*app.args("update"))
    assert r.stderr == "abota: No updates found.\n" and r.stdout == ""
    r = abota(*app.args("update", "2"))
    assert r.stderr == "abota: Version 2 is already installed, skipping update.\n"
    r = abota(*app.args("check-new"), check=False)
    assert r.returncode == 1 and r.stderr == "abota: No updates found.\n"


def test_log_levels(abota, app):
    r = abota(*app.args("--log-level=notice", "check-new"), check=False)
    assert r.stdout == "2\n"
    abota(*app.args("update"))
    for args, env in ((["--log-level=notice"], {}), ([], {"SYSTEMD_LOG_LEVEL": "notice"}),
                      ([], {"SYSTEMD_LOG_LEVEL": "5"})):
        r = abota(*args, *app.args("update"), env={**os.environ, **env})
        assert r.stderr == "", (args, env)
    # -v shows debug messages; the option beats the environment
    app.publish("3")
    r = abota(*app.args("-v", "update", "--dry-run"), env={**os.environ, "SYSTEMD_LOG_LEVEL": "err"})
    assert "appliance_3.store.raw is there" in r.stderr
    r = abota(*app.args("update", "--dry-run"))
    assert "Selected version 3" in r.stderr
    r = abota(*app.args("update", "--dry-run"), env={**os.environ, "SYSTEMD_LOG_LEVEL": "debug"})
    assert "appliance_3.store.raw is there" in r.stderr
    assert "is there," not in abota(*app.args("update", "--dry-run")).stderr


def test_bad_log_level(abota, app):
    r = abota(*app.args("--log-level=loud", "list"), check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("abota: --log-level=loud: expected one of emerg")
    r = abota(*app.args("list"), check=False, env={**os.environ, "SYSTEMD_LOG_LEVEL": "loud"})
    assert r.returncode == 1 and r.stderr.startswith("abota: SYSTEMD_LOG_LEVEL=loud: expected")


def test_dry_run_prints_plan_and_changes_nothing(abota, app):
    before = image(app), tree(app.root / 'efi')
    r = abota(*app.args("update", "--dry-run"))
    assert (image(app), tree(app.root / 'efi')) == before
    lines = r.stdout.splitlines()
    assert lines[0] == "Would install version 2."
    assert f"store: would write {app.server.url}appliance_2.store.raw" in r.stdout
    assert f"into partition 3 of {app.disk}, labelled store_2" in r.stdout
    assert f"as {app.esp}/appliance_2+3-0.efi" in r.stdout
    assert lines[-1] == "Dry run: nothing was changed."
    assert "Would remove" not in r.stdout

    # after a reboot into 2 with 3 published: 1 would go, its slot (2) would be written
    abota(*app.args("update"))
    (app.root / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=2\n")
    app.publish("3")
    before = image(app), tree(app.root / 'efi')
    r = abota(*app.args("update", "--dry-run"))
    assert (image(app), tree(app.root / 'efi')) == before
    assert "Would remove version 1 to make room." in r.stdout.splitlines()
    assert f"into partition 2 of {app.disk}, labelled store_3" in r.stdout
    # and the real update does what the plan said
    r = abota(*app.args("update"))
    assert app.labels() == ["esp", "store_3", "store_2", "data"]


def test_dry_run_only_for_update(abota, app):
    r = abota(*app.args("--dry-run", "vacuum"), check=False)
    assert r.returncode == 1 and r.stderr == "abota: --dry-run applies to update only\n"
    r = abota(*app.args("update", "--dry-run", "--reboot"), check=False)
    assert r.returncode == 1 and "cannot be combined" in r.stderr


def test_exit_codes_retry_later_or_fix(abota, app):
    """75 (try again later) for the network and a held lock, 1 (fix something) otherwise;
    test_update_failures.py checks the code of every failure it makes."""
    before = app.snapshot()
    # the disk locked by another writer
    with open(app.disk, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        r = abota(*app.args("update"), check=False)
    assert r.returncode == EXIT_TEMPFAIL and "the disk is locked" in r.stderr, r
    # no slot: every free slot too small
    app.publish("2", store_size=SLOT_SIZE + 4096)
    r = abota(*app.args("update"), check=False)
    assert r.returncode == EXIT_FAIL and "larger than every slot" in r.stderr, r
    # a broken definition
    bad = app.defs / "30-bad.transfer"
    bad.write_text("[Source]\nType=url-file\n")
    for verb in ("update", "check-new", "list", "vacuum"):
        r = abota(*app.args(verb), check=False)
        assert r.returncode == EXIT_FAIL and "30-bad.transfer" in r.stderr, (verb, r)
    bad.unlink()
    # the server down: every verb that reads it says "later"
    app.server.stop()
    for verb in ("update", "check-new", "list", "check"):
        r = abota(*app.args(verb), check=False, env={**os.environ, "ABOTA_CONNECT_TIMEOUT": "2"})
        assert r.returncode == EXIT_TEMPFAIL, (verb, r)
    assert app.snapshot() == before


def test_proxy_named_in_connection_errors(abota, app):
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = f"http://127.0.0.1:{port}"
    plain = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    manifest = f"{app.server.url}SHA256SUMS"
    # (each failing run takes its retries, about 4 s)
    for env, verb in (({"http_proxy": proxy}, "update"), ({"ALL_PROXY": f"127.0.0.1:{port}"}, "check-new"),
                      ({"http_proxy": proxy, "no_proxy": "example.com,.127.0.0.1"}, "list")):
        r = abota(*app.args(verb), check=False, env={**plain, **env})
        assert r.returncode == EXIT_TEMPFAIL, (env, r)
        assert f"abota: {manifest}: cannot connect via proxy {proxy}: " in r.stderr, (env, r)
    # the proxies libcurl does not use for this URL are not named: the server answers directly
    for env in ({"http_proxy": proxy, "no_proxy": "127.0.0.1"}, {"http_proxy": proxy, "NO_PROXY": "127.0.0.0/8"},
                {"http_proxy": proxy, "no_proxy": "*"}, {"HTTP_PROXY": proxy}, {"https_proxy": proxy}):
        r = abota(*app.args("check-new"), env={**plain, **env})
        assert r.stdout == "2\n" and "proxy" not in r.stderr, (env, r)


def test_rejected_esp_candidates_say_why(abota, app):
    # PathRelativeTo=boot: with no ESP, every place looked at is named with the reason
    before = app.snapshot()
    shutil.move(app.root / "efi", app.root / "my-esp")
    (app.root / "boot").write_text("a file")
    os.symlink("efi", app.root / "efi")  # a link to itself
    r = abota(*app.args("update"), check=False)
    assert r.returncode == EXIT_FAIL
    assert (f"abota: no ESP found under {app.root} (/efi: Too many levels of symbolic links; "
            "/boot: not a directory; /boot/efi: Not a directory)\n") in r.stderr, r
    os.unlink(app.root / "efi")
    (app.root / "boot").unlink()
    (app.root / "boot" / "efi").mkdir(parents=True)
    (app.root / "efi").write_text("a file")
    r = abota(*app.args("update", "--dry-run"))  # /boot is taken: under --root a directory stands in
    assert "/efi: " not in r.stderr
    shutil.rmtree(app.root / "boot")
    r = abota(*app.args("update"), check=False)
    assert (f"abota: no ESP found under {app.root} (/efi: not a directory; /boot: does not exist; "
            "/boot/efi: does not exist)\n") in r.stderr, r
    # $SYSTEMD_ESP_PATH is taken as it is (a plain directory will do, as in systemd), but it
    # must be a directory
    for path, reason in (("/missing", "does not exist"), ("/efi", "not a directory")):
        r = abota(*app.args("update"), check=False, env={**os.environ, "SYSTEMD_ESP_PATH": path})
        assert r.returncode == EXIT_FAIL
        assert f"abota: $SYSTEMD_ESP_PATH={path} below {app.root}: {reason}\n" in r.stderr, r
    (app.root / "efi").unlink()
    shutil.move(app.root / "my-esp", app.root / "efi")
    assert app.snapshot() == before
    abota(*app.args("update"), env={**os.environ, "SYSTEMD_ESP_PATH": "/efi"})
    assert app.esp_files() == ["appliance_1.efi", "appliance_2+3-0.efi"]


def test_notify_progress_moves_with_the_bytes(abota, app, tmp_path):
    """X_SYSUPDATE_PROGRESS rises through the download of each transfer, not 0 then 100."""
    app.server.start("--throttle", str(2 * 1024 * 1024))  # the store payload takes about 1 s
    app.set_url(app.server.url)
    path = tmp_path / "notify"
    messages = notifications(lambda: abota(*app.args("update"), env={**os.environ, "NOTIFY_SOCKET": str(path)}), path)
    values = [int(v) for m in messages for v in re.findall(r"^X_SYSUPDATE_PROGRESS=(\d+)$", m, re.M)]
    assert values == sorted(values) and values[-1] == 100, values
    # the first transfer (the store, half the way) alone moves it through several values
    during_store = [v for v in values if 0 < v < 50]
    assert len(during_store) >= 5, values
    assert len(set(values)) == len(values), values  # sent when it changes only
