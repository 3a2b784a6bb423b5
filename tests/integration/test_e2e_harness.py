# SPDX-License-Identifier: LGPL-2.1-or-later
"""The e2e harness (tests/e2e/run, examples/appliance/vm.py) without VMs.

Process handling: no QEMU, swtpm, lighttpd or second e2e process outlives the process that started it, whether that one
ends normally, on an unexpected exception, on SIGTERM or is killed. The processes here stand in for
them: run's parent (spawns the second process with SIGTERM as its parent-death signal, reaps it in
a finally block) and the second process (spawns a long-running program, stops it in its finally
block)."""
import importlib.machinery
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPLIANCE = ROOT / "examples" / "appliance"

# The second process: a "VM" (sleep) of its own, stopped in its finally block.
SIDE = f"""import sys, time
sys.path.insert(0, {str(APPLIANCE)!r})
import vm
vm.exit_on_signals()
qemu = vm.spawn(["sleep", "600"])
try:  # the test signals the parent once it reads this line: it is printed inside the try
    print("vm", qemu.pid, flush=True)
    time.sleep(600)
finally:
    vm.reap(qemu)
    print("side stopped its vm", flush=True)
"""

# run's parent: the second process alongside, then its own work, which fails as told by argv[1].
PARENT = f"""import signal, sys, time
sys.path.insert(0, {str(APPLIANCE)!r})
import vm
vm.exit_on_signals()
side = None
try:
    side = vm.spawn([sys.executable, "-c", {SIDE!r}], sig=signal.SIGTERM)
    time.sleep(2 if sys.argv[1] == "raise" else 600)
    raise KeyError("unexpected")
finally:
    if side:
        vm.reap(side)
"""


def gone(pid, timeout=20):
    """True once pid has ended (no process, or a zombie nobody has reaped yet)."""
    end = time.monotonic() + timeout
    while True:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.1)


def read_pid(proc, word):
    line = proc.stdout.readline()
    assert line.startswith(word + " "), line
    return int(line.split()[1])


def test_spawned_process_dies_with_its_parent(tmp_path):
    """QEMU, swtpm and lighttpd get SIGKILL from the kernel when the harness process is killed."""
    script = f"import sys, time; sys.path.insert(0, {str(APPLIANCE)!r}); import vm\n" \
             "p = vm.spawn(['sleep', '600']); print('vm', p.pid, flush=True); time.sleep(600)\n"
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid = None
    try:
        pid = read_pid(parent, "vm")
        parent.kill()
        parent.wait()
        assert gone(pid), "the spawned process outlived its killed parent"
    finally:
        parent.kill()
        parent.wait()
        if pid and not gone(pid, 0):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("end", ["raise", signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_second_process_and_its_vms_end_with_the_parent(end):
    """However run's parent ends, its second process stops its VM and exits."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(end)], stdout=subprocess.PIPE, text=True,
                              stderr=subprocess.PIPE)
    qemu = None
    try:
        qemu = read_pid(parent, "vm")
        if end != "raise":
            parent.send_signal(end)
        out, err = parent.communicate(timeout=60)
        assert gone(qemu), f"the second process's VM outlived the parent ({end})"
        if end != signal.SIGKILL:  # the parent reaped the second process, which said so
            assert "side stopped its vm" in out, (out, err)
            assert parent.returncode == (1 if end == "raise" else 128 + end), err
            assert end != "raise" or "KeyError: 'unexpected'" in err
    finally:
        parent.kill()
        parent.wait()
        if qemu and not gone(qemu, 0):
            os.kill(qemu, signal.SIGKILL)


def load_run():
    """tests/e2e/run as a module (main() does not run)."""
    loader = importlib.machinery.SourceFileLoader("e2e_run", str(ROOT / "tests" / "e2e" / "run"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("e2e_run", loader))
    loader.exec_module(module)
    return module


def test_boot_cost_names_the_missing_plain_image(tmp_path, monkeypatch):
    """build.sh's sfdisk path makes no disk-plain.raw: boot_cost fails saying so, before any boot."""
    run = load_run()
    factory = tmp_path / "disk.raw"
    factory.write_bytes(b"")
    monkeypatch.setattr(run, "BOOT_COST_ROWS", [("unprotected", tmp_path / "disk-plain.raw", False),
                                                ("dm-verity", factory, False)])
    s = object.__new__(run.Scenarios)
    s.workdir, s.first_boots = tmp_path, {}
    with pytest.raises(run.Failure) as e:
        s.boot_cost()
    assert str(e.value) == (f"unprotected: no {tmp_path / 'disk-plain.raw'} (examples/appliance/build.sh makes "
                            "it only with IMAGE_BUILDER=repart, the default when abota has the repart verb)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk.raw"]
