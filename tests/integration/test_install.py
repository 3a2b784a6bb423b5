# SPDX-License-Identifier: LGPL-2.1-or-later
"""`meson install` into a DESTDIR puts the binary, the man pages, the systemd units and the shell
completions where they belong, and the units pass systemd-analyze verify."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def installed(abota_bin, tmp_path_factory):
    build = Path(abota_bin).parent
    assert (build / "build.ninja").exists(), f"{build} is not a meson build directory"
    dest = tmp_path_factory.mktemp("destdir")
    subprocess.run(["meson", "install", "-C", str(build), "--destdir", str(dest), "--no-rebuild", "--quiet"],
                   check=True, capture_output=True, text=True, timeout=300)
    opts = {o["name"]: o["value"] for o in json.loads(subprocess.run(
        ["meson", "introspect", str(build), "--buildoptions"], check=True, capture_output=True, text=True).stdout)}
    unitdir = opts["systemdsystemunitdir"] or subprocess.run(
        ["pkg-config", "--variable=systemdsystemunitdir", "systemd"], check=True, capture_output=True,
        text=True).stdout.strip()
    return dest, opts["prefix"], unitdir


UNITS = ["abota-update.service", "abota-update.timer", "abota-reboot.service", "abota-reboot.timer",
         "abota-bless.service"]


def test_binary_and_man_pages(installed):
    dest, prefix, _ = installed
    exe = dest / prefix.lstrip("/") / "bin" / "abota"
    assert exe.is_file() and exe.stat().st_mode & 0o111
    assert subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout.startswith("abota ")
    man = dest / prefix.lstrip("/") / "share" / "man" / "man1"
    assert sorted(p.name for p in man.iterdir()) == sorted(p.name for p in (ROOT / "man").glob("*.1"))


def test_units(installed):
    dest, prefix, unitdir = installed
    d = dest / unitdir.lstrip("/")
    assert sorted(p.name for p in d.iterdir()) == sorted(UNITS)
    exec_start = {u: re.findall(r"^ExecStart=(.*)$", (d / u).read_text(), re.M) for u in UNITS}
    assert exec_start["abota-update.service"] == [f"{prefix}/bin/abota update"]
    assert exec_start["abota-reboot.service"] == [f"{prefix}/bin/abota reboot"]
    assert exec_start["abota-bless.service"] == [f"{prefix}/bin/abota bless --check"]
    timer = (d / "abota-update.timer").read_text()
    for key in ("OnCalendar=daily", "RandomizedDelaySec=", "Persistent=yes", "WantedBy=timers.target"):
        assert key in timer
    assert "OnCalendar=" in (d / "abota-reboot.timer").read_text()
    bless = (d / "abota-bless.service").read_text()
    for key in ("After=local-fs.target boot-complete.target", "Requires=boot-complete.target",
                "DefaultDependencies=no", "Before=shutdown.target", "LoaderBootCountPath-"):
        assert key in bless


def test_units_verify(installed):
    dest, prefix, unitdir = installed
    assert shutil.which("systemd-analyze"), "systemd is needed (tools/lib.sh TEST_PACKAGES)"
    d = dest / unitdir.lstrip("/")
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", *[str(d / u) for u in UNITS]],
                       capture_output=True, text=True, cwd=d, timeout=120)
    # The binary is installed below DESTDIR, not at its final path: the only complaint allowed.
    other = [line for line in p.stderr.splitlines()
             if line and f"Command {prefix}/bin/abota is not executable" not in line]
    assert other == [], p.stderr


def test_completions(installed):
    dest, prefix, _ = installed
    bash = sorted(dest.rglob("bash-completion/completions/abota"))
    assert len(bash) == 1 and bash[0].read_text() == (ROOT / "shell" / "abota.bash").read_text()
    zsh = sorted(dest.rglob("_abota"))
    assert len(zsh) == 1 and zsh[0].parent.name in ("vendor-completions", "site-functions")
    assert zsh[0].read_text() == (ROOT / "shell" / "_abota").read_text()
