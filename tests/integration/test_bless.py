# SPDX-License-Identifier: LGPL-2.1-or-later
"""abota bless: boot assessment against a fake efivarfs directory and an ESP directory."""
import os
import stat

import pytest

GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"


def set_count_path(efivars, value):
    """Write LoaderBootCountPath as efivarfs does: 4 attribute bytes + UTF-16LE with NUL."""
    efivars.mkdir(exist_ok=True)
    data = (6).to_bytes(4, "little") + (value + "\0").encode("utf-16-le")
    (efivars / f"LoaderBootCountPath-{GUID}").write_bytes(data)


@pytest.fixture
def system(tmp_path):
    """A root with an ESP at /boot/efi holding appliance_1 and a counted appliance_2."""
    linux = tmp_path / "root/boot/efi/EFI/Linux"
    linux.mkdir(parents=True)
    (linux / "appliance_1.efi").write_bytes(b"v1")
    (linux / "appliance_2+2-1.efi").write_bytes(b"v2")
    set_count_path(tmp_path / "efivars", "\\EFI\\Linux\\appliance_2+2-1.efi")
    return tmp_path


def names(system):
    return sorted(os.listdir(system / "root/boot/efi/EFI/Linux"))


def bless(abota, system, *args, check=True, **kw):
    return abota("bless", f"--efivarfs={system / 'efivars'}", f"--root={system / 'root'}", *args,
                 check=check, **kw)


def test_status_clean_without_variable(abota, tmp_path):
    (tmp_path / "efivars").mkdir()
    r = abota("bless", f"--efivarfs={tmp_path / 'efivars'}", "status")
    assert r.stdout == "clean\n"
    r = abota("bless", f"--efivarfs={tmp_path / 'efivars'}", "good")
    assert "boot counting not active" in r.stderr


def test_good_bad_indeterminate_cycle(abota, system):
    assert bless(abota, system, "status").stdout == "indeterminate\n"

    r = bless(abota, system, "good")
    esp = system / "root/boot/efi"
    assert r.stdout == f"{esp}/EFI/Linux/appliance_2+2-1.efi: marked good\n"
    assert names(system) == ["appliance_1.efi", "appliance_2.efi"]
    assert (esp / "EFI/Linux/appliance_2.efi").read_bytes() == b"v2"
    assert bless(abota, system, "status").stdout == "good\n"
    assert "already good" in bless(abota, system, "good").stdout
    assert names(system) == ["appliance_1.efi", "appliance_2.efi"]

    bless(abota, system, "bad")
    assert names(system) == ["appliance_1.efi", "appliance_2+0-1.efi"]
    assert bless(abota, system, "status").stdout == "bad\n"

    bless(abota, system, "indeterminate")
    assert names(system) == ["appliance_1.efi", "appliance_2+2-1.efi"]


def test_explicit_esp_and_dirty(abota, tmp_path):
    esp = tmp_path / "esp"
    (esp / "EFI/Linux").mkdir(parents=True)
    (esp / "EFI/Linux/appliance_3+0-3.efi").write_bytes(b"v3")
    set_count_path(tmp_path / "efivars", "\\EFI\\Linux\\appliance_3+0-3.efi")
    args = ("bless", f"--efivarfs={tmp_path / 'efivars'}", f"--esp={esp}")
    assert abota(*args, "status").stdout == "dirty\n"
    abota(*args, "good")
    assert os.listdir(esp / "EFI/Linux") == ["appliance_3.efi"]


def test_never_replaces(abota, system):
    linux = system / "root/boot/efi/EFI/Linux"
    (linux / "appliance_2.efi").write_bytes(b"old")
    r = bless(abota, system, "good")
    assert "already good" in r.stdout
    assert (linux / "appliance_2.efi").read_bytes() == b"old"
    assert (linux / "appliance_2+2-1.efi").read_bytes() == b"v2"


def test_errors(abota, system, tmp_path):
    r = bless(abota, system, "frob", check=False)
    assert r.returncode == 1 and "unknown action 'frob'" in r.stderr
    r = bless(abota, system, check=False)
    assert r.returncode == 1 and "expected an action" in r.stderr
    r = bless(abota, system, "--check", "bad", check=False)
    assert r.returncode == 1 and "--check" in r.stderr

    set_count_path(system / "efivars", "\\EFI\\Linux\\appliance_2.efi")
    r = bless(abota, system, "good", check=False)
    assert r.returncode == 1
    assert r.stderr == (f"abota: {system / 'efivars'}/LoaderBootCountPath-{GUID}: '/EFI/Linux/appliance_2.efi'"
                        " is not an absolute path to a file with a boot counter\n")

    set_count_path(system / "efivars", "\\EFI\\Linux\\appliance_9+1-2.efi")
    r = bless(abota, system, "status", check=False)
    assert r.returncode == 1
    assert "/EFI/Linux/appliance_9+1-2.efi (nor its good or bad name) not found" in r.stderr


def add_check(system, d, name, body, mode=0o755):
    path = system / "root" / d / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)


def test_check_healthy_blesses(abota, system):
    marker = system / "ran"
    add_check(system, "usr/lib/abota/health.d", "10-up", f"echo 10 >> {marker}")
    add_check(system, "usr/lib/abota/health.d", "20-net", "exit 1")
    add_check(system, "etc/abota/health.d", "20-net", f"echo 20 >> {marker}")  # overrides
    add_check(system, "etc/abota/health.d", "README", "exit 1", mode=0o644)  # not executable
    r = bless(abota, system, "--check", env={**os.environ, "ABOTA_REBOOT_COMMAND": f"touch {system}/rebooted"})
    assert "health checks: 2 run, 0 failed" in r.stdout
    assert marker.read_text() == "10\n20\n"
    assert names(system) == ["appliance_1.efi", "appliance_2.efi"]
    assert not (system / "rebooted").exists()


def test_check_failure_marks_bad_and_reboots(abota, system):
    add_check(system, "usr/lib/abota/health.d", "10-up", "exit 0")
    add_check(system, "etc/abota/health.d", "50-app", "echo starting; echo app down; exit 4")
    env = {**os.environ, "ABOTA_REBOOT_COMMAND": f"echo reboot >> {system}/rebooted"}
    r = bless(abota, system, "good", "--check", check=False, env=env)
    assert r.returncode == 1
    assert "health checks: 2 run, 1 failed" in r.stdout
    assert f"health check {system}/root/etc/abota/health.d/50-app: failed with exit status 4: app down" in r.stderr
    assert names(system) == ["appliance_1.efi", "appliance_2+0-1.efi"]
    assert (system / "rebooted").read_text() == "reboot\n"
    assert bless(abota, system, "status").stdout == "bad\n"


def test_check_without_counting_reports_health(abota, tmp_path):
    (tmp_path / "efivars").mkdir()
    add_check(tmp_path, "etc/abota/health.d", "10-fail", "exit 1")
    r = abota("bless", f"--efivarfs={tmp_path / 'efivars'}", f"--root={tmp_path / 'root'}", "--check",
              check=False, env={**os.environ, "ABOTA_REBOOT_COMMAND": f"touch {tmp_path}/rebooted"})
    assert r.returncode == 1
    assert not (tmp_path / "rebooted").exists()


def test_help(abota):
    r = abota("bless", "--help")
    assert "good|bad|indeterminate|status" in r.stdout
    assert "ABOTA_REBOOT_COMMAND" in r.stdout
