# SPDX-License-Identifier: LGPL-2.1-or-later
"""Why a version is not offered (`list VERSION`, `check-new -v`), and `list` with the server down."""
import json
import os

from agent_env import EXIT_FAIL, EXIT_TEMPFAIL, SLOT_SIZE, Appliance, Server


def not_offered(stdout):
    """The lines under "Not offered:" of list VERSION."""
    lines = stdout.splitlines()
    return [line.strip() for line in lines[lines.index("Not offered:") + 1:]] if "Not offered:" in lines else []


def reasons(stderr, version):
    prefix = f"abota: Version {version} is not offered: "
    return [line.removeprefix(prefix) for line in stderr.splitlines() if line.startswith(prefix)]


def test_incomplete_at_the_source(abota, app):
    app.publish("3", efi=False)
    r = abota(*app.args("list", "3"))
    assert r.stdout.startswith("    Version: 3\n      State: not offered\n")
    assert not_offered(r.stdout) == [f"20-kernel: missing at the source {app.server.url}",
                                     "incomplete: at the source for 1 of 2 transfers"]
    # the JSON stays systemd 257's: no such update
    r = abota(*app.args("--json=short", "list", "3"), check=False)
    assert r.returncode == EXIT_FAIL and r.stdout == ""
    # check-new offers 2 and says why not 3 with -v only
    r = abota(*app.args("-v", "check-new"))
    assert r.stdout == "2\n"
    assert reasons(r.stderr, "3") == not_offered(abota(*app.args("list", "3")).stdout)
    assert reasons(r.stderr, "2") == []
    assert "not offered" not in abota(*app.args("check-new")).stderr
    # a version nobody has stays an error
    r = abota(*app.args("list", "9"), check=False)
    assert r.returncode == EXIT_FAIL and r.stderr == "abota: version 9 is neither installed nor available\n"


def test_above_max_version(abota, app):
    store = app.defs / "10-store.transfer"
    store.write_text(store.read_text().replace("[Transfer]\n", "[Transfer]\nMaxVersion=2\n"))
    app.publish("3")
    r = abota(*app.args("list", "3"))
    assert not_offered(r.stdout) == ["10-store: above MaxVersion=2"]
    assert "State: available+obsolete" in r.stdout
    r = abota(*app.args("-v", "check-new"))
    assert r.stdout == "2\n" and reasons(r.stderr, "3") == ["10-store: above MaxVersion=2"]
    assert not_offered(abota(*app.args("list", "2")).stdout) == []


def test_larger_than_every_slot_before_downloading(abota, tmp_path):
    app = Appliance(tmp_path)
    log = tmp_path / "httpd.log"
    app.server = Server(app.server_dir, tmp_path).start("--log", log)
    try:
        app.set_url(app.server.url)
        app.publish("2", store_size=SLOT_SIZE + 4096)
        r = abota(*app.args("list", "2"))
        why = (f"10-store: {app.server.url}appliance_2.store.raw is 4.0 MiB, larger than every slot that could take "
               f"version 2 on {app.disk} (largest: 4.0 MiB)")
        assert not_offered(r.stdout) == [why]
        r = abota(*app.args("-v", "check-new"))
        assert reasons(r.stderr, "2") == [why]
        # the size came from a HEAD request: nothing was downloaded
        requests = [line.split()[:2] for line in log.read_text().splitlines()]
        assert ["HEAD", "/appliance_2.store.raw"] in requests
        assert ["GET", "/appliance_2.store.raw"] not in requests, requests
    finally:
        app.server.stop()


def test_installed_incomplete(abota, app):
    (app.esp / "appliance_1.efi").unlink()
    r = abota(*app.args("list", "1"))
    assert not_offered(r.stdout) == [f"20-kernel: missing at the source {app.server.url}",
                                     "incomplete: installed for 1 of 2 transfers"]


def test_list_with_the_server_down(abota, app):
    app.server.stop()
    env = {**os.environ, "ABOTA_CONNECT_TIMEOUT": "2"}
    r = abota(*app.args("list"), check=False, env=env)
    assert r.returncode == EXIT_TEMPFAIL  # the timer's "try again later"
    assert r.stdout.splitlines()[1].split() == ["\u25cf", "1", "\u2713", "current"], r
    last = r.stderr.splitlines()[-1]
    assert last.startswith(f"abota: {app.server.url}SHA256SUMS: ") and \
        last.endswith("; showing the installed versions only (--offline skips the update sources)"), r
    assert sum("showing the installed" in line for line in r.stderr.splitlines()) == 1
    r = abota(*app.args("list", "1"), check=False, env=env)
    assert r.returncode == EXIT_TEMPFAIL and "    Version: 1\n      State: current\n" in r.stdout
    r = abota(*app.args("--json=short", "list"), check=False, env=env)
    assert r.returncode == EXIT_TEMPFAIL and json.loads(r.stdout)["current"] == "1"
    # --offline: the same list, no error
    r = abota(*app.args("--offline", "list"))
    assert r.stderr == "" and r.stdout.splitlines()[1].split() == ["\u25cf", "1", "\u2713", "current"]
    # a broken definition is no "later": no list, exit 1
    (app.defs / "30-bad.transfer").write_text("[Source]\nType=url-file\n")
    r = abota(*app.args("list"), check=False)
    assert r.returncode == EXIT_FAIL and r.stdout == "" and "30-bad.transfer" in r.stderr
