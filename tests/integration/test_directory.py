# SPDX-License-Identifier: LGPL-2.1-or-later
"""Type=directory (and subvolume, a directory here) sources and targets, CurrentSymlink= (spec
sysupdate.md 5.1, 5.2, 7.2, 7.3): what TEST-72-SYSUPDATE's third transfer does."""
import json
import os

from test_definitions import write

TRANSFER = """[Source]
Type=directory
Path=/srv/source
MatchPattern=dir-@v

[Target]
Type={target}
Path=/var/lib/dirs
CurrentSymlink={link}
MatchPattern=dir-@v
InstancesMax=2
"""


def make_version(root, v):
    d = root / f"srv/source/dir-{v}"
    write(d / "foo.txt", f"foo {v}\n")
    write(d / "sub/secret", f"secret {v}\n").chmod(0o600)
    os.symlink("foo.txt", d / "link")
    os.utime(d, (1600000000, 1600000000))


def tree(d):
    out = {}
    for top, dirs, files in os.walk(d):
        for n in sorted(dirs + files):
            p = os.path.join(top, n)
            rel = os.path.relpath(p, d)
            st = os.lstat(p)
            out[rel] = os.readlink(p) if os.path.islink(p) else (oct(st.st_mode & 0o7777),
                                                                   None if os.path.isdir(p) else open(p).read())
    return out


def make_root(tmp_path, target="directory", link="/var/lib/dirs/current"):
    root = tmp_path / "root"
    write(root / "etc/sysupdate.d/30-dir.transfer", TRANSFER.format(target=target, link=link))
    (root / "var/lib/dirs").mkdir(parents=True)
    for v in ("1", "2"):
        make_version(root, v)
    return root


def test_directory_update_symlink_vacuum(abota, tmp_path):
    root = make_root(tmp_path)
    dirs = root / "var/lib/dirs"
    abota(f"--root={root}", "update", "1")
    assert os.readlink(dirs / "current") == "dir-1"
    assert tree(dirs / "dir-1") == tree(root / "srv/source/dir-1")
    assert (dirs / "dir-1").stat().st_mtime == 1600000000

    # a leftover of an interrupted copy is removed, and never listed
    write(dirs / ".#sysupdatedir-9abcdef/half", "x")
    abota(f"--root={root}", "update")
    assert sorted(p.name for p in dirs.iterdir()) == ["current", "dir-1", "dir-2"]
    assert os.readlink(dirs / "current") == "dir-2"
    j = json.loads(abota(f"--root={root}", "--offline", "--json=short", "list", "2").stdout)
    assert j["contents"] == [{"type": "directory", "path": str(dirs / "dir-2"), "mtime": 1600000000 * 10**6,
                              "mode": 0o755}]

    make_version(root, "3")
    abota(f"--root={root}", "update")
    # InstancesMax=2: the oldest tree is removed whole
    assert sorted(p.name for p in dirs.iterdir()) == ["current", "dir-2", "dir-3"]
    assert os.readlink(dirs / "current") == "dir-3"


def test_relative_link_and_subvolume(abota, tmp_path):
    # a relative CurrentSymlink= is below the target's Path=; a subvolume is a directory here
    root = make_root(tmp_path, target="subvolume", link="links/now")
    abota(f"--root={root}", "update")
    assert os.readlink(root / "var/lib/dirs/links/now") == "../dir-2"
    assert (root / "var/lib/dirs/links/now/foo.txt").read_text() == "foo 2\n"
