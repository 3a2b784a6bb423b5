# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shell completion: the bash and zsh scripts in shell/, run against the binary under test."""
import shutil
import subprocess

import pytest

from conftest import ROOT

BASH = ROOT / "shell" / "abota.bash"
ZSH = ROOT / "shell" / "_abota"


def bash_complete(abota_bin, *words):
    """COMPREPLY for the command line abota_bin WORDS..., the last word being completed."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in (abota_bin, *words))
    script = (f"source {BASH}\nCOMP_WORDS=({quoted})\nCOMP_CWORD={len(words)}\n"
              f"_abota {abota_bin}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert p.stderr == ""
    return [line for line in p.stdout.splitlines() if line]


def help_verbs(abota):
    text = abota("--help").stdout
    block = text.split("Verbs:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


def test_bash_verbs_follow_help(abota, abota_bin):
    verbs = help_verbs(abota)
    assert {"list", "update", "check", "daemon", "bless", "repart", "publish"} <= set(verbs)
    assert bash_complete(abota_bin, "") == verbs
    assert bash_complete(abota_bin, "--json=short", "che") == ["check", "check-new"]
    assert bash_complete(abota_bin, "--root", "=", "/tmp", "up") == ["update"]


def test_bash_options(abota_bin):
    assert bash_complete(abota_bin, "--js") == ["--json="]
    assert bash_complete(abota_bin, "--off") == ["--offline"]
    # global options before the verb, own options after repart, publish and bless
    assert "--maintenance-window=" in bash_complete(abota_bin, "--")
    assert bash_complete(abota_bin, "repart", "--s") == ["--size=", "--seed=", "--split=", "--strict"]
    assert bash_complete(abota_bin, "publish", "--gpg") == ["--gpg-key=", "--gpg-homedir="]
    assert bash_complete(abota_bin, "bless", "--ch") == ["--check"]


def test_bash_values_and_arguments(abota_bin, tmp_path):
    assert bash_complete(abota_bin, "--json=s") == ["--json=short"]
    assert bash_complete(abota_bin, "--json", "=", "p") == ["pretty"]
    assert bash_complete(abota_bin, "repart", "--empty", "=", "") == ["refuse", "allow", "require", "force",
                                                                    "create"]
    assert bash_complete(abota_bin, "bless", "") == ["good", "bad", "indeterminate", "status"]
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs-file").write_text("")
    assert bash_complete(abota_bin, f"--definitions={tmp_path}/def") == [f"--definitions={tmp_path}/defs"]


ZSH_STUBS = r"""
compadd() { local s=0; [[ $1 == -S ]] && { s=1; shift 2 }; [[ $1 == -- ]] && shift; for w in "$@"; do print -r -- "$w"; done }
compset() { PREFIX=${PREFIX#*=} }
_directories() { print -r -- "<dirs:$PREFIX>" }
_files() { print -r -- "<files:$PREFIX>" }
"""


def zsh_complete(abota_bin, *words):
    assert shutil.which("zsh"), "zsh is needed (tools/lib.sh TEST_PACKAGES)"
    body = ZSH.read_text().replace('\n_abota "$@"\n', "\n")
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in (abota_bin, *words))
    script = (f"{ZSH_STUBS}\n{body}\nwords=({quoted})\nCURRENT={len(words) + 1}\n"
              f"PREFIX='{words[-1]}'\n_abota\n")
    p = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return p.stdout.split()


def test_zsh_parses():
    assert shutil.which("zsh"), "zsh is needed (tools/lib.sh TEST_PACKAGES)"
    subprocess.run(["zsh", "-n", str(ZSH)], check=True)
    assert ZSH.read_text().startswith("#compdef abota\n")


def test_zsh_completion(abota, abota_bin):
    assert zsh_complete(abota_bin, "") == help_verbs(abota)
    assert "--maintenance-window=" in zsh_complete(abota_bin, "--")
    assert "--offline" in zsh_complete(abota_bin, "--")
    assert set(zsh_complete(abota_bin, "repart", "--s")) >= {"--size=", "--seed=", "--split="}
    assert "--root=" not in zsh_complete(abota_bin, "publish", "--")
    assert zsh_complete(abota_bin, "--json=") == ["pretty", "short", "off"]
    assert zsh_complete(abota_bin, "--root=/t") == ["<dirs:/t>"]
    assert zsh_complete(abota_bin, "bless", "") == ["good", "bad", "indeterminate", "status"]
