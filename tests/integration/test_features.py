# SPDX-License-Identifier: LGPL-2.1-or-later
"""`abota features [FEATURE]`, `enable-feature`, `disable-feature` (spec sysupdate.md 1.2, 10.1):
the shapes of systemd-sysupdate 257's features verb, and updatectl's drop-in for enabling."""
import json

from test_definitions import transfer, write


def setup_root(tmp_path):
    root = tmp_path / "root"
    d = root / "etc/sysupdate.d"
    write(d / "opt.feature", "[Feature]\nDescription=Opt\nDocumentation=https://example.com/doc\n"
                             "AppStream=https://example.com/as.xml\nEnabled=yes\n")
    write(d / "bare.feature", "[Feature]\n")
    write(d / "10-a.transfer", transfer("a_@v", "Features=opt\n"))
    write(d / "20-b.transfer", transfer("b_@v", "RequisiteFeatures=bare\n"))
    write(d / "30-c.transfer", transfer("c_@v"))
    return root


def features(abota, root, *args, check=True):
    r = abota(f"--root={root}", "--json=short", "features", *args, check=check)
    return json.loads(r.stdout) if r.returncode == 0 else None, r


def test_list_and_show(abota, tmp_path):
    root = setup_root(tmp_path)
    assert features(abota, root)[0] == {"features": ["bare", "opt"]}
    assert features(abota, root, "opt")[0] == {
        "name": "opt", "enabled": True, "description": "Opt", "documentation": "https://example.com/doc",
        "appStream": "https://example.com/as.xml", "transfers": ["10-a"]}
    # unset fields and an empty transfer list are left out, as in v257
    assert features(abota, root, "bare")[0] == {"name": "bare", "enabled": False, "transfers": ["20-b"]}
    out, r = features(abota, root, "nope", check=False)
    assert r.returncode == 1 and r.stderr.strip() == "abota: Optional feature not found: nope"

    text = abota(f"--root={root}", "features").stdout.splitlines()
    assert text[0].split() == ["FEATURE", "DESCRIPTION", "DOCUMENTATION"]
    assert text[1].split() == ["\u2717", "bare"]
    assert text[2].split() == ["\u2713", "opt", "Opt", "https://example.com/doc"]
    text = abota(f"--root={root}", "features", "bare").stdout
    assert "Name: bare" in text and "Enabled: no" in text and "Transfers: 20-b" in text


def test_enable_disable_dropin(abota, tmp_path):
    root = setup_root(tmp_path)
    dropin = root / "etc/sysupdate.d/bare.feature.d/50-systemd-sysupdate-enabled.conf"
    abota(f"--root={root}", "enable-feature", "bare")
    assert dropin.read_text() == "[Feature]\nEnabled=yes\n"
    assert features(abota, root, "bare")[0]["enabled"] is True
    d = json.loads(abota(f"--root={root}", "--json=short", "definitions").stdout)
    assert [t["id"] for t in d["transfers"] if t["enabled"]] == ["10-a", "20-b", "30-c"]

    abota(f"--root={root}", "disable-feature", "bare", "opt")
    assert dropin.read_text() == "[Feature]\nEnabled=no\n"
    assert features(abota, root, "opt")[0]["enabled"] is False
    d = json.loads(abota(f"--root={root}", "--json=short", "definitions").stdout)
    assert [t["id"] for t in d["transfers"] if t["enabled"]] == ["30-c"]

    # an unknown name is refused before anything is written
    before = sorted(p.name for p in (root / "etc/sysupdate.d").iterdir())
    r = abota(f"--root={root}", "enable-feature", "opt", "nope", check=False)
    assert r.returncode == 1 and "Optional feature not found: nope" in r.stderr
    assert sorted(p.name for p in (root / "etc/sysupdate.d").iterdir()) == before
    assert features(abota, root, "opt")[0]["enabled"] is False


def test_disable_then_vacuum_counts_transfers(abota, tmp_path):
    # systemd 257's vacuum JSON: "removed" counts the enabled transfers' instances,
    # "disabledTransfers" the disabled transfers that had something to wipe
    root = tmp_path / "root"
    d = root / "etc/sysupdate.d"
    write(d / "opt.feature", "[Feature]\nEnabled=yes\n")
    for name, feat in (("10-base", ""), ("20-opt", "[Transfer]\nFeatures=opt\n")):
        write(d / f"{name}.transfer", feat + f"[Source]\nType=regular-file\nPath=/src\nMatchPattern={name}_@v\n"
                                             f"[Target]\nType=regular-file\nPath=/dst\nMatchPattern={name}_@v\n"
                                             "InstancesMax=2\n")
        for v in ("1", "2"):
            write(root / f"src/{name}_{v}", f"{name} {v}\n")
    abota(f"--root={root}", "update", "1")
    abota(f"--root={root}", "update", "2")
    assert sorted(p.name for p in (root / "dst").iterdir()) == ["10-base_1", "10-base_2", "20-opt_1", "20-opt_2"]

    abota(f"--root={root}", "disable-feature", "opt")
    j = json.loads(abota(f"--root={root}", "--json=short", "vacuum").stdout)
    assert j == {"removed": 0, "disabledTransfers": 1}
    assert sorted(p.name for p in (root / "dst").iterdir()) == ["10-base_1", "10-base_2"]

    abota(f"--root={root}", "enable-feature", "opt")
    abota(f"--root={root}", "update")
    assert sorted(p.name for p in (root / "dst").iterdir()) == ["10-base_1", "10-base_2", "20-opt_2"]
