# SPDX-License-Identifier: LGPL-2.1-or-later
"""How update shows its progress: plain lines in a log, a redrawn bar on a terminal, JSON events
with --json, sd_notify messages that never stall the download, and the final line."""
import json
import os
import pty
import re
import socket
import subprocess
import threading

from agent_env import EXIT_FAIL, EXIT_TEMPFAIL, PROGRESS_LINE, SLOT_SIZE, error_lines

UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def to_bytes(text):
    number, unit = text.split()
    return float(number) * UNITS[unit]


def throttled(app, bps):
    app.server.start("--throttle", str(bps))
    app.set_url(app.server.url)


def test_plain_progress_lines_when_not_a_terminal(abota, app):
    throttled(app, 512 * 1024)  # the store payload (2 MiB) takes about 4 s
    r = abota(*app.args("update"))
    assert "\r" not in r.stderr and "\x1b" not in r.stderr
    store = [m.groups() for m in map(PROGRESS_LINE.match, r.stderr.splitlines()) if m and m[1].startswith("store_2")]
    # a few lines, each with the bytes, the total, the percentage and the rate, the last at 100%
    assert 2 <= len(store) <= 100 // 5 + 2, r.stderr
    done = [to_bytes(g[1]) for g in store]
    assert done == sorted(done) and len(set(done)) == len(done), store  # no line twice
    assert all(to_bytes(g[2]) == to_bytes(store[0][2]) for g in store)
    assert to_bytes(store[0][2]) == to_bytes("2.0 MiB") and store[-1][3] == "100"
    assert any(g[4] != "-" for g in store), store  # a rate once it is known
    assert any(g[5] for g in store[:-1]), store    # and an ETA before the end
    # the kernel too, by its file name; nothing else than info and progress lines
    assert any(m and m[1].endswith("appliance_2+3-0.efi") for m in map(PROGRESS_LINE.match, r.stderr.splitlines()))
    assert error_lines(r.stderr) == ["abota: 10-store: wrote partition 3 of %s, labelled store_2" % app.disk,
                                     "abota: 20-kernel: installed %s/appliance_2+3-0.efi" % app.esp,
                                     "abota: Successfully installed update '2'.",
                                     "abota: Installed host@2; reboot to use it (booted: 1)."], r.stderr
    # at notice level no progress lines either
    app.publish("3")
    (app.root / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=2\n")
    r = abota(*app.args("--log-level=notice", "update"))
    assert not any(PROGRESS_LINE.match(line) for line in r.stderr.splitlines()), r.stderr


def test_terminal_keeps_its_redrawn_line(abota_bin, app):
    master, slave = pty.openpty()
    out = bytearray()

    def read():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            out.extend(chunk)
    t = threading.Thread(target=read)
    t.start()
    p = subprocess.run([abota_bin, *app.args("update")], stdout=subprocess.PIPE, stderr=slave, timeout=300)
    os.close(slave)
    t.join()
    os.close(master)
    text = out.decode()
    assert p.returncode == 0, text
    assert re.search(rf"store_2 \(partition 3 of {re.escape(str(app.disk))}\)  2\.0 MiB / 2\.0 MiB  100%  \S+/s\x1b\[K\r",
                     text), text
    assert not any(PROGRESS_LINE.match(line) for line in text.replace("\r", "\n").splitlines()), text


def events(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def test_json_events_and_result(abota, app):
    throttled(app, 1024 * 1024)
    r = abota(*app.args("--json=short", "update"))
    ev = events(r.stdout)
    assert [e["phase"] for e in ev if e["type"] == "phase"] == ["check", "vacuum", "acquire", "commit"]
    store = [e for e in ev if e["type"] == "progress" and e["transfer"] == "10-store"]
    assert len(store) >= 3, ev
    assert all(e["instance"] == "store_2" and e["bytesTotal"] == len(app.v2) for e in store)
    done = [e["bytesDone"] for e in store]
    assert done == sorted(done) and done[-1] == len(app.v2)
    assert any(e["rate"] > 0 and isinstance(e["eta"], int) for e in store), store
    written = [e for e in ev if e["type"] == "written"]
    assert [(e["transfer"], e["instance"], e["partition"]) for e in written] == \
        [("10-store", "store_2", 3), ("20-kernel", "appliance_2+3-0.efi", None)]
    assert ev[-1] == {"type": "result", "result": "installed", "version": "2",
                      "written": [{k: e[k] for k in ("transfer", "instance", "path", "partition")} for e in written],
                      "removed": [], "error": None, "exitCode": 0}
    assert written[0]["path"] == str(app.disk)

    # the next update removes version 1 to make room, and says so
    (app.root / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=2\n")
    app.publish("3")
    ev = events(abota(*app.args("--json=pretty", "update")).stdout)  # one object per line all the same
    assert {"type": "removed", "version": "1"} in ev
    assert ev[-1]["removed"] == ["1"] and ev[-1]["version"] == "3"
    # nothing to do
    ev = events(abota(*app.args("--json=short", "update")).stdout)
    assert ev == [{"type": "result", "result": "up-to-date", "version": None, "written": [], "removed": [],
                   "error": None, "exitCode": 0}]


def test_json_result_of_a_failure(abota, app):
    app.publish("2", store_size=SLOT_SIZE + 4096)
    r = abota(*app.args("--json=short", "update"), check=False)
    result = events(r.stdout)[-1]
    assert r.returncode == EXIT_FAIL and result["result"] == "failed" and result["exitCode"] == EXIT_FAIL
    assert "larger than every slot" in result["error"] and result["version"] is None
    app.server.stop()
    r = abota(*app.args("--json=short", "update"), check=False, env={**os.environ, "ABOTA_CONNECT_TIMEOUT": "2"})
    assert r.returncode == EXIT_TEMPFAIL
    assert events(r.stdout) == [{"type": "result", "result": "failed", "version": None, "written": [], "removed": [],
                                 "error": error_lines(r.stderr)[-1].removeprefix("abota: "), "exitCode": EXIT_TEMPFAIL}]
    r = abota(*app.args("--json=short", "update", "--dry-run"), check=False)
    assert r.returncode == EXIT_FAIL and "cannot be combined" in r.stderr


def test_notify_never_blocks_on_a_full_queue(abota, app, tmp_path):
    """A notify socket nobody reads, its queue full: the update goes on and drops the messages."""
    path = str(tmp_path / "notify")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    filler = []
    while True:  # fill the receiver's queue (net.unix.max_dgram_qlen) from as many senders as it takes
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.setblocking(False)
        filler.append(s)
        sent = 0
        try:
            while True:
                s.sendto(b"STATUS=filler", path)
                sent += 1
        except BlockingIOError:
            pass
        if sent == 0:
            break
    try:
        # before the fix the first message (READY=1) waited for a reader forever
        r = abota(*app.args("update"), env={**os.environ, "NOTIFY_SOCKET": path}, timeout=120)
    finally:
        for s in filler:
            s.close()
        receiver.close()
    assert app.labels() == ["esp", "store_1", "store_2", "data"], r


def test_final_line(abota, app):
    r = abota(*app.args("update"))
    assert r.stderr.splitlines()[-1] == "abota: Installed host@2; reboot to use it (booted: 1)."
    (app.root / "etc" / "os-release").write_text("ID=appliance\nIMAGE_VERSION=2\n")
    app.publish("3")
    r = abota(*app.args("update", "2"))  # already there: no final line
    assert "Installed host" not in r.stderr
