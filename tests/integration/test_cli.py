# SPDX-License-Identifier: LGPL-2.1-or-later
"""The command line itself: help, version, usage errors."""


def test_version(abota):
    r = abota("--version")
    assert r.stdout.startswith("abota ")


def test_help_lists_options(abota):
    r = abota("--help")
    assert "--definitions=DIR" in r.stdout
    assert "Verbs:" in r.stdout


def test_unknown_verb(abota):
    r = abota("frobnicate", check=False)
    assert r.returncode != 0
    assert r.stderr.strip() == "abota: unknown verb 'frobnicate' (see abota --help)"


def test_bad_json_mode(abota):
    r = abota("--json=yaml", "components", check=False)
    assert r.returncode != 0
    assert "--json=yaml" in r.stderr
