# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared fixtures: the abota binary under test (ABOTA, default build/abota) and a runner."""
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from agent_env import Appliance, Server
from summary import ENV as SUMMARY_ENV

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    """The summary file, made by the controller before any xdist worker starts (they inherit it)."""
    if not hasattr(config, "workerinput") and SUMMARY_ENV not in os.environ:
        fd, path = tempfile.mkstemp(prefix="abota-test-summary-")
        os.close(fd)
        os.environ[SUMMARY_ENV] = path
        config._abota_summary = path


def pytest_terminal_summary(terminalreporter, config):
    path = getattr(config, "_abota_summary", None)
    if path:
        with open(path) as f:
            lines = f.read().splitlines()
        os.unlink(path)
        if lines:
            terminalreporter.section("summary")
            for line in sorted(lines):
                terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def abota_bin():
    path = Path(os.environ.get("ABOTA", ROOT / "build" / "abota"))
    assert path.exists(), f"{path} missing: build first (./test.sh does)"
    return str(path)


class Result:
    def __init__(self, p):
        self.returncode = p.returncode
        self.stdout = p.stdout
        self.stderr = p.stderr

    def __repr__(self):
        return f"rc={self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


@pytest.fixture
def abota(abota_bin):
    """abota(*args, check=True, **kw) runs the binary and returns Result (rc, stdout, stderr)."""

    def run(*args, check=True, timeout=300, **kw):
        p = subprocess.run([abota_bin, *map(str, args)], capture_output=True, text=True,
                           timeout=timeout, **kw)
        r = Result(p)
        if check:
            assert p.returncode == 0, repr(r)
        return r

    return run


@pytest.fixture
def app(tmp_path):
    """The seed appliance (agent_env.Appliance) with its server running and version 2 published
    (a.v2 holds the store payload). Modules needing another seed define their own app."""
    a = Appliance(tmp_path)
    a.server = Server(a.server_dir, tmp_path).start()
    a.set_url(a.server.url)
    a.v2 = a.publish("2")
    yield a
    a.server.stop()
