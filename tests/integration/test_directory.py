# SPDX-License-Identifier: LGPL-2.1-or-later
"""Type=directory and subvolume (a btrfs subvolume on btrfs, else a directory) sources and targets, CurrentSymlink= (spec
sysupdate.md 5.1, 5.2, 7.2, 7.3): what TEST-72-SYSUPDATE's third transfer does."""
import json
import os
import subprocess

import pytest

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


def make_tarball(root, v, compress):
    import subprocess
    tree_dir = root / f"build/dir-{v}"
    write(tree_dir / "foo.txt", f"foo {v}\n")
    write(tree_dir / "sub/secret", f"secret {v}\n").chmod(0o600)
    os.symlink("foo.txt", tree_dir / "link")
    flag = {"gz": "-z", "xz": "-J", "zst": "--zstd", "": "--no-auto-compress"}[compress]
    out = root / f"srv/tar/dir-{v}.tar{'.' if compress else ''}{compress}"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "--numeric-owner", flag, "-C", tree_dir, "-cf", out, "."], check=True)
    return tree_dir, out


TAR_TRANSFER = """[Source]
Type={type}
Path={path}
MatchPattern=dir-@v.tar.gz dir-@v.tar.xz dir-@v.tar.zst dir-@v.tar

[Target]
Type=directory
Path=/var/lib/dirs
CurrentSymlink=/var/lib/dirs/current
MatchPattern=dir-@v
"""


def test_tar_sources_unpacked(abota, tmp_path):
    import hashlib
    root = tmp_path / "root"
    built = {v: make_tarball(root, v, c) for v, c in (("1", "gz"), ("2", "xz"), ("3", "zst"), ("4", ""))}
    write(root / "etc/sysupdate.d/30-dir.transfer", TAR_TRANSFER.format(type="tar", path="/srv/tar"))
    dirs = root / "var/lib/dirs"
    for v in ("1", "2", "3", "4"):
        abota(f"--root={root}", "update", v)
        assert tree(dirs / f"dir-{v}") == tree(built[v][0])
        assert os.readlink(dirs / "current") == f"dir-{v}"
    assert not [p for p in dirs.iterdir() if p.name.startswith(".#")]

    # url-tar: the manifest's hash is checked before anything is unpacked into place
    srv = root / "srv/tar"
    lines = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(srv.iterdir()))
    (srv / "SHA256SUMS").write_text(lines.replace(lines[:64], "0" * 64, 1))
    write(root / "etc/sysupdate.d/30-dir.transfer", TAR_TRANSFER.format(type="url-tar", path=f"file://{srv}"))
    abota(f"--root={root}", "vacuum", "-m", "1")
    r = abota(f"--root={root}", "--verify=no", "update", "1", check=False)
    assert r.returncode != 0
    assert sorted(p.name for p in dirs.iterdir()) == ["current", "dir-4"]
    (srv / "SHA256SUMS").write_text(lines)
    abota(f"--root={root}", "--verify=no", "update", "1")
    assert tree(dirs / "dir-1") == tree(built["1"][0])
    assert sorted(p.name for p in dirs.iterdir()) == ["current", "dir-1", "dir-4"]


def test_list_available_local_source_row(abota, tmp_path):
    # a version only available from a local directory: the source's type, path, mtime and mode
    root = tmp_path / "root"
    write(root / "etc/sysupdate.d/10-a.transfer", "[Source]\nType=regular-file\nPath=/srv\nMatchPattern=a_@v\n"
                                                  "[Target]\nType=regular-file\nPath=/dst\nMatchPattern=a_@v\n")
    src = write(root / "srv/a_1", "one\n")
    src.chmod(0o640)
    os.utime(src, (1600000000, 1600000000))
    j = json.loads(abota(f"--root={root}", "--json=short", "list", "1").stdout)
    assert j["contents"] == [{"type": "regular-file", "path": str(src), "mtime": 1600000000 * 10**6, "mode": 0o640}]


@pytest.fixture
def btrfs_root(tmp_path):
    """A btrfs file system (a loop-mounted image file) as the root."""
    img = tmp_path / "btrfs.img"
    subprocess.run(["truncate", "-s", "128M", img], check=True)
    subprocess.run(["mkfs.btrfs", "-q", img], check=True, capture_output=True)
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["mount", "-o", "loop", img, root], check=True)
    try:
        yield root
    finally:
        subprocess.run(["umount", root], check=True)


def is_subvolume(p):
    return os.lstat(p).st_ino == 256


def read_only(p):
    r = subprocess.run(["btrfs", "property", "get", "-ts", p, "ro"], capture_output=True, text=True, check=True)
    return r.stdout.strip() == "ro=true"


def test_subvolumes_on_btrfs(abota, btrfs_root):
    root = btrfs_root
    write(root / "etc/sysupdate.d/30-dir.transfer",
          TRANSFER.format(target="subvolume", link="/var/lib/dirs/current") + "ReadOnly=yes\n")
    (root / "var/lib/dirs").mkdir(parents=True)
    make_version(root, "1")
    # version 2's source is itself a subvolume: the new one is its snapshot
    (root / "srv/source").mkdir(exist_ok=True)
    subprocess.run(["btrfs", "-q", "subvolume", "create", root / "srv/source/dir-2"], check=True)
    make_version(root, "2")
    dirs = root / "var/lib/dirs"
    abota(f"--root={root}", "update", "1")
    abota(f"--root={root}", "update", "2")
    for v in ("1", "2"):
        assert is_subvolume(dirs / f"dir-{v}") and read_only(dirs / f"dir-{v}")
        assert tree(dirs / f"dir-{v}") == tree(root / f"srv/source/dir-{v}")
    assert os.readlink(dirs / "current") == "dir-2"
    # a leftover subvolume of an interrupted run is deleted, read-only or not
    subprocess.run(["btrfs", "-q", "subvolume", "create", dirs / ".#sysupdatedir-3abc"], check=True)
    subprocess.run(["btrfs", "-q", "property", "set", "-ts", dirs / ".#sysupdatedir-3abc", "ro", "true"], check=True)
    make_version(root, "3")
    abota(f"--root={root}", "update")
    # InstancesMax=2: the oldest subvolume is deleted
    assert sorted(p.name for p in dirs.iterdir()) == ["current", "dir-2", "dir-3"]
    r = subprocess.run(["btrfs", "subvolume", "list", root], capture_output=True, text=True, check=True)
    assert sorted(line.split()[-1] for line in r.stdout.splitlines()) == [
        "srv/source/dir-2", "var/lib/dirs/dir-2", "var/lib/dirs/dir-3"]
