# SPDX-License-Identifier: LGPL-2.1-or-later
"""The definition layer through the real binary: `abota definitions` and `abota components`
(spec sysupdate.md 1, 2, 5.1)."""
import json
import os
import shutil
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parent / "seed.d"


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def transfer(pattern, extra=""):
    return ("[Transfer]\n" + extra +
            "[Source]\nType=url-file\nPath=http://localhost/\nMatchPattern=" + pattern + "\n"
            "[Target]\nType=regular-file\nPath=/var/lib/os\n")


@pytest.fixture
def seeds(tmp_path):
    d = tmp_path / "sysupdate.d"
    shutil.copytree(SEEDS, d)
    return d


@pytest.fixture
def root(tmp_path):
    """A root with an os-release, so %A and %w have values."""
    r = tmp_path / "root"
    write(r / "etc/os-release", 'ID=appliance\nVERSION_ID="12"\nIMAGE_VERSION="3.1"\n')
    return r


def definitions(abota, *args):
    r = abota(*args, "definitions", "--json=short")
    return json.loads(r.stdout), r


def host_image_version():
    for f in ("/etc/os-release", "/usr/lib/os-release"):
        if os.path.exists(f):
            for line in Path(f).read_text().splitlines():
                if line.startswith("IMAGE_VERSION="):
                    return line.split("=", 1)[1].strip("\"'") or None
            return None
    return None


def test_seed_files(abota, seeds):
    # The acceptance: the two seed files load and show what they say. (Path=auto cannot be
    # combined with --root, so os-release is the host's here.)
    r = abota(f"--definitions={seeds}", "definitions", "--json=pretty")
    d = json.loads(r.stdout)
    iv = host_image_version()
    assert d["image_version"] == iv
    assert d["search_dirs"] == [str(seeds)]
    store, kernel = d["transfers"]
    assert store["id"] == "10-store"
    assert store["file"] == str(seeds / "10-store.transfer")
    assert store["dropins"] == []
    assert store["verify"] is False and store["enabled"] is True
    assert store["source"] == {"type": "url-file", "path": "http://localhost/", "path_relative_to": "root",
                               "match_patterns": ["appliance_@v.store.raw"]}
    t = store["target"]
    assert t["type"] == "partition" and t["path"] == "auto"
    assert t["match_patterns"] == ["store_@v"]
    assert t["instances_max"] == 2 and t["read_only"] is True
    assert t["partition_type"] == "linux-generic"
    assert t["mode"] is None and t["tries_left"] is None

    assert kernel["protect_versions"] == ([iv] if iv else [])
    k = kernel["target"]
    assert k["type"] == "regular-file" and k["path"] == "/EFI/Linux" and k["path_relative_to"] == "boot"
    assert k["match_patterns"] == ["appliance_@v+@l-@d.efi", "appliance_@v+@l.efi", "appliance_@v.efi"]
    assert k["mode"] == "0444" and k["tries_left"] == 3 and k["tries_done"] is None
    assert k["instances_max"] == 2 and k["read_only"] is None and k["partition_type"] is None
    assert d["features"] == []
    if iv:
        assert r.stderr == ""
    else:
        assert r.stderr.splitlines() == [
            f"abota: warning: {seeds}/20-kernel.transfer:3: ProtectVersion=%A expands to nothing "
            "(field unset in os-release?), ignoring"]


def test_seed_files_text(abota, seeds):
    r = abota(f"--definitions={seeds}", "definitions")
    blocks = [b + "\n" for b in r.stdout.split("\n\n")]
    assert blocks[0].startswith("transfer 10-store (enabled)\n")
    assert "  source          url-file http://localhost/\n" in blocks[0]
    assert "  target          partition auto\n" in blocks[0]
    assert "  instances-max   2\n" in blocks[0]
    assert "  read-only       yes\n" in blocks[0]
    assert "  target          regular-file /EFI/Linux (relative to boot)\n" in blocks[1]
    assert "  mode            0444\n" in blocks[1]


def test_path_auto_refused_with_root(abota, seeds, root):
    r = abota(f"--definitions={seeds}", f"--root={root}", "definitions", check=False)
    assert r.returncode != 0
    assert r.stderr.splitlines() == [
        f"abota: {seeds}/10-store.transfer:11: [Target] Path=auto cannot be used with --root="]


def test_protect_version_from_root(abota, seeds, root, tmp_path):
    (seeds / "10-store.transfer").unlink()
    d, r = definitions(abota, f"--definitions={seeds}", f"--root={root}")
    assert d["image_version"] == "3.1"
    assert d["transfers"][0]["protect_versions"] == ["3.1"]
    assert r.stderr == ""
    assert "  protect-version 3.1\n" in abota(f"--definitions={seeds}", f"--root={root}", "definitions").stdout

    bare = tmp_path / "bare"
    write(bare / "usr/lib/os-release", "ID=appliance\n")
    d, r = definitions(abota, f"--definitions={seeds}", f"--root={bare}")
    assert d["transfers"][0]["protect_versions"] == []
    lines = r.stderr.splitlines()
    assert len(lines) == 1
    assert f"{seeds}/20-kernel.transfer:3:" in lines[0] and "ProtectVersion=%A" in lines[0]


BROKEN = [
    ("Type=partition", "Type=floppy", "Type=floppy: unknown resource type"),
    ("MatchPattern=store_@v", "MatchPattern=store", "no @v field"),
    ("MatchPattern=store_@v", "MatchPattern=store_@v_@v", "@v occurs twice"),
    ("MatchPattern=store_@v", "MatchPattern=store_@v@u", "@v@u"),
    ("MatchPattern=store_@v", "MatchPattern=store_@v*", "reserved character"),
    ("Verify=no", "Verify=no\nMinVersion=1~0", "MinVersion=1~0: not a valid version"),
    ("Verify=no", "Verify=no\nMinVersion=%A", "MinVersion=%A: '' is not a valid version"),
]


@pytest.mark.parametrize("old,new,reason", BROKEN)
def test_broken_file_one_line(abota, seeds, tmp_path, old, new, reason):
    f = seeds / "10-store.transfer"
    text = f.read_text()
    assert old in text
    f.write_text(text.replace(old, new, 1))
    line = f.read_text().splitlines().index(new.splitlines()[-1]) + 1
    empty_root = tmp_path / "empty"
    empty_root.mkdir()
    r = abota(f"--definitions={seeds}", f"--root={empty_root}", "definitions", check=False)
    assert r.returncode != 0
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r
    assert lines[0].startswith(f"abota: {f}:{line}: ")
    assert reason in lines[0]


def test_incompatible_types_named(abota, tmp_path):
    d = tmp_path / "defs"
    write(d / "a.transfer", "[Source]\nType=url-tar\nPath=http://x/\nMatchPattern=a_@v\n"
                            "[Target]\nType=partition\nPath=/dev/vda\n")
    r = abota(f"--definitions={d}", "definitions", check=False)
    assert r.returncode != 0
    assert r.stderr.splitlines() == [
        f"abota: {d}/a.transfer:6: a url-tar source cannot be installed into a partition target"]


def test_no_definitions(abota, tmp_path):
    r = abota(f"--definitions={tmp_path}", "definitions", check=False)
    assert r.returncode != 0
    assert r.stderr.splitlines() == [f"abota: No transfer definitions found in {tmp_path}."]


def test_search_path_override_and_masking(abota, root):
    write(root / "usr/lib/sysupdate.d/10-a.transfer", transfer("vendor_@v"))
    write(root / "etc/sysupdate.d/10-a.transfer", transfer("admin_@v"))
    write(root / "usr/lib/sysupdate.d/20-b.transfer", transfer("b_@v"))
    write(root / "usr/local/lib/sysupdate.d/30-c.transfer", "not even valid\n")
    (root / "run/sysupdate.d").mkdir(parents=True)
    os.symlink("/dev/null", root / "run/sysupdate.d/30-c.transfer")
    write(root / "run/sysupdate.d/05-empty.transfer", "")
    write(root / "usr/lib/sysupdate.d/05-empty.transfer", transfer("never_@v"))
    d, _ = definitions(abota, f"--root={root}")
    ids = [t["id"] for t in d["transfers"]]
    assert ids == ["10-a", "20-b"]
    assert d["search_dirs"] == [f"{root}/etc/sysupdate.d", f"{root}/run/sysupdate.d",
                                f"{root}/usr/local/lib/sysupdate.d", f"{root}/usr/lib/sysupdate.d"]
    assert d["transfers"][0]["file"] == f"{root}/etc/sysupdate.d/10-a.transfer"
    assert d["transfers"][0]["source"]["match_patterns"] == ["admin_@v"]


def test_definitions_dir_is_host_path_with_root(abota, root, tmp_path):
    write(root / "etc/sysupdate.d/10-a.transfer", transfer("inroot_@v"))
    host = tmp_path / "host-defs"
    write(host / "10-a.transfer", transfer("host_@v", "ProtectVersion=%A\n"))
    d, _ = definitions(abota, f"--root={root}", f"--definitions={host}")
    assert d["transfers"][0]["source"]["match_patterns"] == ["host_@v"]
    assert d["transfers"][0]["protect_versions"] == ["3.1"]  # os-release still from the root


def test_definitions_dir_below_root_first(abota, root, tmp_path):
    # systemd-sysupdate 257 looks for --definitions=DIR below --root=R; abota does too when R/DIR
    # exists (and takes DIR as a host path otherwise, see the test above)
    write(root / "defs/10-a.transfer", transfer("inroot_@v", "ProtectVersion=%A\n"))
    d, _ = definitions(abota, f"--root={root}", "--definitions=/defs")
    assert d["transfers"][0]["source"]["match_patterns"] == ["inroot_@v"]
    assert d["transfers"][0]["file"] == f"{root}/defs/10-a.transfer"
    assert d["search_dirs"] == [f"{root}/defs"]
    assert d["transfers"][0]["protect_versions"] == ["3.1"]


def test_conf_fallback(abota, tmp_path):
    d = tmp_path / "defs"
    write(d / "old.conf", transfer("old_@v"))
    out, r = definitions(abota, f"--definitions={d}")
    assert [t["id"] for t in out["transfers"]] == ["old"]
    assert len(r.stderr.splitlines()) == 1 and "*.transfer" in r.stderr and "old.conf" in r.stderr
    write(d / "new.transfer", transfer("new_@v"))
    out, r = definitions(abota, f"--definitions={d}")
    assert [t["id"] for t in out["transfers"]] == ["new"]
    assert r.stderr == ""


def test_dropins(abota, root):
    base = root / "usr/lib/sysupdate.d"
    write(base / "10-a.transfer", transfer("a_@v", "Verify=yes\n"))
    write(base / "10-a.transfer.d/50-limit.conf", "[Target]\nInstancesMax=4\n")
    write(base / "10-a.transfer.d/60-verify.conf", "[Transfer]\nVerify=no\n")
    write(root / "etc/sysupdate.d/10-a.transfer.d/60-verify.conf", "[Transfer]\nVerify=yes\nMinVersion=%w.1\n")
    write(root / "etc/sysupdate.d/10-a.transfer.d/70-mode.conf", "[Target]\nMode=600\n")
    d, _ = definitions(abota, f"--root={root}")
    t = d["transfers"][0]
    assert t["dropins"] == [f"{base}/10-a.transfer.d/50-limit.conf",
                            f"{root}/etc/sysupdate.d/10-a.transfer.d/60-verify.conf",
                            f"{root}/etc/sysupdate.d/10-a.transfer.d/70-mode.conf"]
    assert t["target"]["instances_max"] == 4
    assert t["verify"] is True
    assert t["min_version"] == "12.1"
    assert t["target"]["mode"] == "0600"


def test_components(abota, tmp_path):
    r = abota(f"--root={tmp_path}", "components")
    assert r.stdout == ""
    assert "No components defined." in r.stderr
    write(tmp_path / "usr/lib/sysupdate.d/a.transfer", transfer("a_@v"))
    write(tmp_path / "etc/sysupdate.shim.d/shim.transfer", transfer("shim_@v"))
    (tmp_path / "usr/lib/sysupdate.apps.d").mkdir(parents=True)
    r = abota(f"--root={tmp_path}", "components")
    assert r.stdout.splitlines() == ["<default>", "apps", "shim"]
    r = abota(f"--root={tmp_path}", "components", "--json=short")
    assert json.loads(r.stdout) == {"default": True, "components": ["apps", "shim"]}
    d, _ = definitions(abota, f"--root={tmp_path}", "-C", "shim")
    assert [t["id"] for t in d["transfers"]] == ["shim"]
    r = abota(f"--root={tmp_path}", "-C", "apps", "definitions", check=False)
    assert r.returncode != 0 and "No transfer definitions found in" in r.stderr
    r = abota("-C", "x.component", "definitions", check=False)
    assert r.returncode != 0 and r.stderr.splitlines() == [
        "abota: --component=x.component: not a valid component name"]


def test_features(abota, root):
    base = root / "usr/lib/sysupdate.d"
    write(base / "10-base.transfer", transfer("base_@v"))
    write(base / "20-devel.transfer", transfer("devel_@v", "Features=devel\n"))
    write(base / "30-docs.transfer", transfer("docs_@v", "Features=devel docs\nRequisiteFeatures=base\n"))
    write(base / "40-ghost.transfer", transfer("ghost_@v", "Features=ghost\n"))
    write(base / "devel.feature", "[Feature]\nDescription=Developer tools\nDocumentation=https://x/%w\n")
    write(base / "docs.feature", "[Feature]\nEnabled=yes\n")
    write(base / "base.feature", "[Feature]\nEnabled=no\n")
    d, _ = definitions(abota, f"--root={root}")
    enabled = {t["id"]: t["enabled"] for t in d["transfers"]}
    assert enabled == {"10-base": True, "20-devel": False, "30-docs": False, "40-ghost": False}
    features = {f["id"]: f for f in d["features"]}
    assert features["devel"]["description"] == "Developer tools"
    assert features["devel"]["documentation"] == "https://x/12"
    assert features["devel"]["enabled"] is False

    # What enable-feature writes: a drop-in in /etc.
    write(root / "etc/sysupdate.d/base.feature.d/50-systemd-sysupdate-enabled.conf", "[Feature]\nEnabled=yes\n")
    write(root / "etc/sysupdate.d/devel.feature.d/50-systemd-sysupdate-enabled.conf", "[Feature]\nEnabled=yes\n")
    d, _ = definitions(abota, f"--root={root}")
    enabled = {t["id"]: t["enabled"] for t in d["transfers"]}
    assert enabled == {"10-base": True, "20-devel": True, "30-docs": True, "40-ghost": False}


def test_specifiers_from_root(abota, root):
    base = root / "usr/lib/sysupdate.d"
    write(base / "10-os.transfer",
          "[Transfer]\nMinVersion=%w\nProtectVersion=%A\n"
          "[Source]\nType=url-file\nPath=http://localhost/%o/%w/\nMatchPattern=%o_@v.raw\n"
          "[Target]\nType=regular-file\nPath=/var/lib/%o\nMatchPattern=%o-%A-100%%_@v.raw\n")
    d, r = definitions(abota, f"--root={root}")
    t = d["transfers"][0]
    assert t["min_version"] == "12"
    assert t["protect_versions"] == ["3.1"]
    assert t["source"]["path"] == "http://localhost/appliance/12/"
    assert t["source"]["match_patterns"] == ["appliance_@v.raw"]
    assert t["target"]["path"] == "/var/lib/appliance"
    assert t["target"]["match_patterns"] == ["appliance-3.1-100%_@v.raw"]
    assert r.stderr == ""


def test_unknown_keys_warn(abota, tmp_path):
    d = tmp_path / "defs"
    write(d / "a.transfer", transfer("a_@v", "Frobnicate=yes\nVerify=perhaps\n"))
    out, r = definitions(abota, f"--definitions={d}")
    assert out["transfers"][0]["verify"] is True
    assert r.stderr.splitlines() == [
        f"abota: warning: {d}/a.transfer:2: unknown key Frobnicate= in [Transfer], ignoring",
        f"abota: warning: {d}/a.transfer:3: Verify=perhaps is not a boolean, ignoring"]


def test_image_without_definitions_refused(abota, tmp_path):
    # an image that cannot be read: neither verb may show the host's definitions instead.
    img = tmp_path / "disk.img"
    for verb in ("definitions", "components"):
        r = abota(f"--image={img}", verb, check=False)
        assert r.returncode == 1
        assert f"--image={img}" in r.stderr
        assert r.stdout == ""


def test_strict(abota, tmp_path):
    """--strict: warnings about the definitions become an error, before anything is read from
    the sources or written; clean definitions pass."""
    from agent_env import Appliance
    app = Appliance(tmp_path)
    args = app.args()
    definitions(abota, *args, "--strict")
    abota(*args, "--strict", "--offline", "list")
    before = app.snapshot()
    text = (app.defs / "10-store.transfer").read_text().replace("[Target]\n", "[Target]\nReadOnli=yes\n")
    (app.defs / "10-store.transfer").write_text(text)
    r = abota(*args, "definitions")
    assert "10-store.transfer:" in r.stderr and "unknown key ReadOnli=" in r.stderr
    for verb in (["definitions"], ["--offline", "list"], ["update"], ["check"]):
        r = abota(*args, "--strict", *verb, check=False)
        assert r.returncode == 1, verb
        assert r.stderr.splitlines()[-1] == "abota: --strict: 1 warning(s) about the definitions, refusing", verb
        assert r.stdout == ""
    assert app.snapshot() == before
