# SPDX-License-Identifier: LGPL-2.1-or-later
"""docs/walkthrough.md works as written: its ```sh blocks, run in order by bash with the abota
under test first in $PATH, build an image, publish version 2 signed, serve it and update."""
import os
import re
import socket
import subprocess
from pathlib import Path

from conftest import ROOT
from agent_env import read_partitions

DOC = ROOT / "docs" / "walkthrough.md"


def sh_blocks():
    return re.findall(r"^```sh\n(.*?)^```$", DOC.read_text(), re.M | re.S)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_walkthrough_runs(abota_bin, tmp_path):
    blocks = sh_blocks()
    assert len(blocks) >= 7
    script = "\n".join(blocks)
    # the blocks run as one script: abota is the binary under test, the real name on the path
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "abota").symlink_to(Path(abota_bin).resolve())
    env = dict(os.environ, PATH=f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin", PORT=str(free_port()),
               SOURCE_DATE_EPOCH="1700000000")
    p = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    subprocess.run(["gpgconf", "--homedir", tmp_path / "work" / "gnupg", "--kill", "gpg-agent"],
                   capture_output=True)
    assert p.returncode == 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    work = tmp_path / "work"
    assert sorted(f.name for f in (work / "srv").iterdir()) == [
        "@blocks@myappliance_2.store.raw", "@index@myappliance_2.store.raw",  # block reuse (partition)
        "SHA256SUMS", "SHA256SUMS.gpg", "myappliance_2.store.raw"]
    # what the page says the commands print
    assert "  Current: 1\nAvailable: 2 (install with: abota update)\n" in p.stdout
    assert "host   1 \u2192 2\n" in p.stdout
    assert 'name="store_1"\nname="store_2"\n' in p.stdout
    labels = [name for name, *_ in read_partitions(work / "device" / "disk.raw")]
    assert labels == ["store_1", "store_2"]
