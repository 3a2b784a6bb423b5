# SPDX-License-Identifier: LGPL-2.1-or-later
"""updatectl-style commands (`abota` alone, `abota check`) and `abota daemon`, the update and
reboot timers for appliances without systemd."""
import json
import os
import signal
import subprocess
import time

import pytest

from agent_env import Appliance, Server


@pytest.fixture
def app(tmp_path):
    a = Appliance(tmp_path)
    a.server = Server(a.server_dir, tmp_path).start()
    a.set_url(a.server.url)
    a.publish("2")
    yield a
    a.server.stop()


def test_no_verb_shows_current_and_available(abota, app):
    r = abota(*app.args())
    assert r.stdout == "  Current: 1\nAvailable: 2 (install with: abota update)\n"
    assert json.loads(abota(*app.args("--json=short")).stdout) == {"current": "1", "available": "2", "checked": True}
    abota(*app.args("update"))
    # os-release still says 1 (not rebooted yet): the current version is the booted one
    assert abota(*app.args()).stdout == "  Current: 1\nAvailable: none, up to date\n"


def test_no_verb_with_server_down_shows_installed(abota, app):
    app.server.stop()
    r = abota(*app.args())
    assert r.stdout == "  Current: 1\nAvailable: unknown (update sources unreachable)\n"
    assert "the update sources could not be read" in r.stderr
    r = abota(*app.args("--offline"))
    assert r.stdout == "  Current: 1\nAvailable: unknown (--offline)\n"


def test_no_verb_bad_definitions_fail(abota, app):
    (app.defs / "10-store.transfer").write_text("[Transfer]\nBogus\n")
    r = abota(*app.args(), check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert "10-store.transfer" in r.stderr


def test_check_like_updatectl(abota, app):
    r = abota(*app.args("check"))
    assert r.stdout == "TARGET UPDATE\nhost   1 \u2192 2\n"
    assert abota(*app.args("--no-legend", "check")).stdout == "host   1 \u2192 2\n"
    assert json.loads(abota(*app.args("--json=short", "check")).stdout) == {"current": "1", "available": "2"}
    abota(*app.args("update", "2"))
    r = abota(*app.args("check"))
    assert r.returncode == 0 and r.stdout == ""
    assert "No updates available." in r.stderr
    r = abota(*app.args("--offline", "check"), check=False)
    assert r.returncode == 1 and "--offline" in r.stderr


def test_update_to_explicit_version(abota, app):
    app.publish("3")
    abota(*app.args("update", "2"))
    assert "store_2" in app.labels() and "store_3" not in app.labels()


def wait_for(cond, proc, seconds=60):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def start_daemon(abota_bin, app, *extra):
    """The daemon in the background, its stderr in app.tmp/daemon.log (read with log())."""
    env = dict(os.environ, ABOTA_REBOOT_COMMAND=f"echo rebooted >> {app.tmp}/reboots")
    with open(app.tmp / "daemon.log", "w") as log:
        return subprocess.Popen([abota_bin, *app.args(f"--state-dir={app.tmp}/state", "--random-delay=0", *extra),
                                 "daemon"], stdout=subprocess.DEVNULL, stderr=log, env=env)


def log(app):
    return (app.tmp / "daemon.log").read_text()


def stop(proc, app):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == 0, log(app)
    assert "Stopping." in log(app)
    return log(app)


def test_daemon_installs_and_reboots_in_window(abota_bin, app):
    p = start_daemon(abota_bin, app, "--interval=1h", "--maintenance-window=00:00-24:00")
    try:
        assert wait_for(lambda: (app.tmp / "reboots").exists(), p), log(app)
    finally:
        err = stop(p, app)
    assert "store_2" in app.labels()
    assert "appliance_2+3-0.efi" in app.esp_files() or "appliance_2.efi" in app.esp_files()
    # one reboot, not one per loop
    assert (app.tmp / "reboots").read_text() == "rebooted\n"
    assert "Next update check at" in err
    # the check time is kept (Persistent=): a restart within the interval does not check again
    stamp = app.tmp / "state" / "last-check"
    assert stamp.exists()
    mtime = stamp.stat().st_mtime
    app.publish("3")
    p = start_daemon(abota_bin, app, "--interval=1h")
    try:
        assert wait_for(lambda: "Next update check at" in log(app), p)
    finally:
        stop(p, app)
    assert stamp.stat().st_mtime == mtime
    assert "store_3" not in app.labels()
    # a check missed while the machine was off is made up for at start
    os.utime(stamp, (mtime - 7200, mtime - 7200))
    p = start_daemon(abota_bin, app, "--interval=1h")
    try:
        assert wait_for(lambda: "store_3" in app.labels(), p), log(app)
    finally:
        stop(p, app)


def test_daemon_no_reboot_outside_window(abota_bin, app):
    now = time.localtime()
    start = (now.tm_hour + 2) % 24
    window = f"{start:02d}:00-{(start + 1) % 24:02d}:00"
    p = start_daemon(abota_bin, app, "--interval=1h", f"--maintenance-window={window}")
    try:
        assert wait_for(lambda: "store_2" in app.labels(), p)
        assert wait_for(lambda: "Rebooting into the new version" in log(app), p)
    finally:
        err = stop(p, app)
    assert not (app.tmp / "reboots").exists()
    assert "Rebooting into the new version in the maintenance window at" in err


def test_daemon_without_window_never_reboots(abota_bin, app):
    p = start_daemon(abota_bin, app, "--interval=1h")
    try:
        assert wait_for(lambda: "store_2" in app.labels() and log(app).count("Next update check at") == 2, p)
    finally:
        stop(p, app)
    assert not (app.tmp / "reboots").exists()


def test_daemon_lock_names_holder(abota_bin, abota, app):
    p = start_daemon(abota_bin, app, "--interval=1h")
    try:
        assert wait_for(lambda: (app.tmp / "state" / "daemon.lock").exists()
                        and (app.tmp / "state" / "daemon.lock").read_text().strip() == str(p.pid), p)
        r = abota(*app.args(f"--state-dir={app.tmp}/state", "daemon"), check=False)
    finally:
        stop(p, app)
    assert r.returncode == 1
    assert f"another abota daemon is running (PID {p.pid})" in r.stderr


@pytest.mark.parametrize("opt,msg", [
    ("--interval=soon", "--interval=soon: expected a duration"),
    ("--interval=0", "--interval=0: expected a duration"),
    ("--random-delay=-1", "--random-delay=-1: expected a duration"),
    ("--maintenance-window=25:00-26:00", "--maintenance-window=25:00-26:00: expected HH:MM-HH:MM"),
    ("--maintenance-window=03:00", "--maintenance-window=03:00: expected HH:MM-HH:MM"),
])
def test_daemon_bad_options(abota, app, opt, msg):
    r = abota(*app.args(f"--state-dir={app.tmp}/state", opt, "daemon"), check=False)
    assert r.returncode == 1 and msg in r.stderr, r
    assert not (app.tmp / "state").exists()


def test_daemon_options_only_for_daemon(abota, app):
    r = abota(*app.args("--interval=1h", "list"), check=False)
    assert r.returncode == 1
    assert "list: --interval=" in r.stderr and "apply to daemon only" in r.stderr
