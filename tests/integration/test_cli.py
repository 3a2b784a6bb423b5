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


def test_global_options_before_own_parser_verb(abota, tmp_path):
    # bless, repart and publish parse their own options: global ones before them are refused
    # with a message (they used to reach a NULL verb function and crash).
    for verb in ("bless", "repart", "publish"):
        r = abota(f"--root={tmp_path}", verb, check=False)
        assert r.returncode == 1
        assert r.stderr.strip() == f"abota: {verb}: takes its own options, after the verb: abota {verb} [OPTIONS...]"


def test_no_verb_without_definitions_hints_at_help(abota, tmp_path):
    r = abota(f"--definitions={tmp_path}", check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"abota: No transfer definitions found in {tmp_path}.",
        "abota: Run without a verb, abota shows this system's version; abota --help lists the verbs."]
