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


def test_option_errors_in_abota_style(abota):
    # one line each, in abota's words, naming what was typed, exit status 1 (usage), for the
    # global options and for every verb with its own parser
    cases = {
        ("--frob", "list"): "abota: unknown option '--frob' (see abota --help)",
        ("list", "--frob=3"): "abota: unknown option '--frob' (see abota --help)",
        ("-x", "list"): "abota: unknown option '-x' (see abota --help)",
        ("-vx",): "abota: unknown option '-x' (see abota --help)",
        ("list", "--root"): "abota: option '--root' needs a value (see abota --help)",
        ("list", "-C"): "abota: option '-C' needs a value (see abota --help)",
        ("--offline=yes", "list"): "abota: option '--offline' takes no value (see abota --help)",
        ("--r", "list"): "abota: ambiguous option '--r': --root, --reboot, --random-delay (see abota --help)",
        ("--json=yaml", "list"): "abota: --json=yaml: expected pretty, short or off",
        ("-m", "0", "list"): "abota: --instances-max=0: expected a positive number",
        ("repart", "--frob"): "abota: repart: unknown option '--frob' (see abota repart --help)",
        ("repart", "--definitions"): "abota: repart: option '--definitions' needs a value (see abota repart --help)",
        ("repart", "--empty=sometimes", "x.raw"):
            "abota: --empty=sometimes: expected refuse, allow, require, force or create",
        ("publish", "--sign"): "abota: publish: option '--sign' needs a value (see abota publish --help)",
        ("publish", "--keep=none", "d", "f"): "abota: --keep=none: expected a positive number",
        ("bless", "-q"): "abota: bless: unknown option '-q' (see abota bless --help)",
        ("unlock", "--test=1"): "abota: unlock: option '--test' takes no value (see abota unlock --help)",
        ("enroll", "--tpm2-pcrs"): "abota: enroll: option '--tpm2-pcrs' needs a value (see abota enroll --help)",
        ("enroll", "--tpm2-pcrs=99", "v"): "abota: --tpm2-pcrs=99: expected PCR numbers 0-23 separated by + or ,",
    }
    for args, line in cases.items():
        r = abota(*args, check=False)
        assert (r.returncode, r.stdout, r.stderr) == (1, "", line + "\n"), args
