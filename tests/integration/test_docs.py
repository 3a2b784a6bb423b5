# SPDX-License-Identifier: LGPL-2.1-or-later
"""The man pages stay true: every verb and option the binary prints is documented in the matching
page and every documented option exists; every environment variable the code reads is
described; the pages render without warnings and are installed by meson."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

MAN = ROOT / "man"
# The command whose --help a page documents (None: the global options of abota --help).
PAGES = {
    "abota.1": None,
    "abota-repart.1": "repart",
    "abota-publish.1": "publish",
    "abota-bless.1": "bless",
    "abota-unlock.1": "unlock",
    "abota-enroll.1": "enroll",
}


def split_args(s):
    """Arguments of a roff macro line: blank-separated, "..." quoting ("" is a literal quote)."""
    args, cur, quoted, i, started = [], "", False, 0, False
    while i < len(s):
        ch = s[i]
        if quoted:
            if ch == '"' and s[i + 1:i + 2] == '"':
                cur += '"'
                i += 1
            elif ch == '"':
                quoted = False
            else:
                cur += ch
        elif ch == '"':
            quoted, started = True, True
        elif ch in " \t":
            if started:
                args.append(cur)
            cur, started = "", False
        else:
            cur += ch
            started = True
        i += 1
    if started:
        args.append(cur)
    return args


def unescape(s):
    s = re.sub(r"\\f(\[[^]]*\]|.)", "", s)
    s = re.sub(r"\\\((..)", " ", s)
    s = s.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\").replace("\\c", "")
    return s


ALTERNATING = {"BR", "BI", "IB", "IR", "RB", "RI"}


def parse(path):
    """[(section, subsection, macro, text)] with the text as it reads, one entry per line."""
    out, sh, ss = [], None, None
    for raw in path.read_text().splitlines():
        if raw.startswith(".\\\""):
            out.append((sh, ss, "\\\"", ""))  # keep one entry per line
            continue
        macro, text = None, raw
        if raw.startswith("."):
            name, _, rest = raw[1:].partition(" ")
            macro = name
            args = split_args(rest)
            text = "".join(args) if name in ALTERNATING else " ".join(args)
        text = unescape(text)
        if macro == "SH":
            sh, ss = text, None
        elif macro == "SS":
            ss = text
        out.append((sh, ss, macro, text))
    return out


def tags(lines, section):
    """The tags (the line after .TP, or .TQ for a paragraph with several) of the paragraphs in section."""
    return [lines[k + 1][3] for k, (sh, _, macro, _) in enumerate(lines)
            if sh == section and macro in ("TP", "TQ") and k + 1 < len(lines)]


def option_tags(lines):
    """The tags of the .TP paragraphs in OPTIONS: {long option: short letter or None}."""
    opts = {}
    for tag in tags(lines, "OPTIONS"):
        m = re.search(r"(?<![\w-])--([a-z][a-z0-9-]*)", tag)
        assert m, f"OPTIONS entry without a long option: {tag!r}"
        short = re.match(r"\s*-([A-Za-z]),", tag)
        opts[m.group(1)] = short.group(1) if short else None
    return opts


def help_options(text):
    """The option lines of a --help text: {long option: short letter or None}."""
    opts = {}
    for line in text.splitlines():
        m = re.match(r"\s+(?:-([A-Za-z])\s+)?--([a-z][a-z0-9-]*)", line)
        if m:
            opts[m.group(2)] = m.group(1)
    return opts


def help_verbs(text):
    block = text.split("Verbs:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


def run_help(abota, verb):
    return abota(*([verb] if verb else []), "--help").stdout


def test_every_verb_documented(abota):
    verbs = help_verbs(run_help(abota, None))
    assert {"list", "update", "check-new", "bless"} <= set(verbs), verbs
    lines = parse(MAN / "abota.1")
    sections = [ss.split()[0] for sh, ss, macro, _ in lines if sh == "COMMANDS" and macro == "SS"]
    for v in verbs:
        assert v in sections or (MAN / f"abota-{v}.1").exists(), f"verb {v} has no section in abota.1 nor a page"
    for s in sections:
        assert s in verbs, f"abota.1 documents a verb '{s}' that abota --help does not list"
    # the pages of the verbs with their own options are named in the synopsis and exist
    for page, verb in PAGES.items():
        if verb:
            assert verb in verbs
            assert any(sh == "SYNOPSIS" and f"abota {verb}" in text for sh, _, _, text in parse(MAN / page))


@pytest.mark.parametrize("page", sorted(PAGES))
def test_options_match_help(abota, page):
    verb = PAGES[page]
    text = run_help(abota, verb)
    if verb is None:
        text = text.split("Options", 1)[1]
    in_help = help_options(text)
    in_man = option_tags(parse(MAN / page))
    assert len(in_help) >= 3
    missing = sorted(set(in_help) - set(in_man))
    extra = sorted(set(in_man) - set(in_help))
    assert not missing, f"{page}: options of --help not documented: {missing}"
    assert not extra, f"{page}: documented options that --help does not know: {extra}"
    for name, short in in_help.items():
        assert in_man[name] == short, f"{page}: --{name}: short option {in_man[name]!r}, --help says {short!r}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_options_really_exist(abota, page, tmp_path):
    """Each documented option is accepted by the parser: never "unknown option"."""
    verb = PAGES[page]
    for name in option_tags(parse(MAN / page)):
        if name in ("help", "version"):
            continue
        args = ([verb] if verb else []) + [f"--{name}=x"]
        r = abota(*args, check=False, cwd=tmp_path)
        assert "unknown option" not in r.stderr, f"{page}: --{name}: {r.stderr}"


def test_version_matches(abota):
    version = abota("--version").stdout.split()[1]
    for page in PAGES:
        th = [text for _, _, macro, text in parse(MAN / page) if macro == "TH"]
        assert th and f"abota {version}" in th[0], f"{page}: .TH {th} does not name abota {version}"


def test_names_and_references():
    pages = sorted(p.name for p in MAN.glob("*.1"))
    assert pages == sorted(PAGES)
    for page in pages:
        lines = parse(MAN / page)
        th = [text for _, _, macro, text in lines if macro == "TH"][0]
        assert th.split()[0] == page[:-2].upper()
        name = [text for sh, _, macro, text in lines if sh == "NAME" and macro is None]
        assert name and name[0].startswith(page[:-2] + " - "), name
        for ref in re.findall(r"\b(abota(?:-[a-z]+)?)\((\d)\)", "\n".join(t for *_, t in lines)):
            assert (MAN / f"{ref[0]}.{ref[1]}").exists(), f"{page} refers to missing {ref[0]}({ref[1]})"


def code_environment():
    names = set()
    for f in list((ROOT / "src").rglob("*.c")):
        text = f.read_text()
        names |= set(re.findall(r'getenv\("([A-Z][A-Z0-9_]*)"\)', text))
        names |= set(re.findall(r'_from_env\([^;]*?"([A-Z][A-Z0-9_]*)"', text))
    return names - {"PATH"}


def test_environment_documented():
    names = code_environment()
    assert {"ABOTA_REBOOT_COMMAND", "NOTIFY_SOCKET", "ABOTA_STALL_TIMEOUT"} <= names
    documented = set()
    for page in PAGES:
        documented |= set(tags(parse(MAN / page), "ENVIRONMENT"))
    missing = sorted(names - documented)
    assert not missing, f"environment variables read by the code but not in any ENVIRONMENT section: {missing}"
    unknown = sorted(documented - names)
    assert not unknown, f"ENVIRONMENT documents variables the code does not read: {unknown}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_renders_without_warnings(page):
    assert shutil.which("man"), "man-db is needed (tools/lib.sh TEST_PACKAGES)"
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(MAN / page)], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", f"{page}: {p.stderr}"
    assert "NAME" in p.stdout and "SYNOPSIS" in p.stdout


def test_installed_by_meson():
    build = (ROOT / "meson.build").read_text()
    m = re.search(r"install_man\(([^)]*)\)", build)
    assert m, "meson.build has no install_man()"
    listed = set(re.findall(r"'man/([^']+)'", m.group(1)))
    assert listed == set(PAGES), listed


def examples(page):
    """The .EX ... .EE blocks of a page, as the reader sees them."""
    blocks, cur = [], None
    for raw in (MAN / page).read_text().splitlines():
        if raw == ".EX":
            cur = []
        elif raw == ".EE":
            blocks.append("\n".join(cur) + "\n")
            cur = None
        elif cur is not None:
            cur.append(unescape(raw))
    return blocks


def without_comments(path):
    lines = [line for line in path.read_text().splitlines() if not line.startswith("# ")]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("page,example", [
    ("abota.1", "examples/appliance/sysupdate.d/05-store-verity.transfer"),
    ("abota.1", "examples/appliance/sysupdate.d/10-store.transfer"),
    ("abota.1", "examples/appliance/sysupdate.d/20-kernel.transfer"),
    ("abota-repart.1", "examples/appliance/repart.d/10-store.conf"),
    ("abota-repart.1", "examples/appliance/repart.d/11-store-verity.conf"),
    ("abota-repart.1", "examples/appliance/repart.d/20-empty.conf"),
    ("abota-repart.1", "examples/appliance/rootfs/usr/lib/repart.d/30-data.conf"),
    ("abota-repart.1", "examples/appliance/repart.d/21-empty-verity.conf"),
    ("abota-bless.1", "examples/appliance/rootfs/usr/lib/abota/health.d/10-system"),
])
def test_examples_are_the_seed_appliance(page, example):
    """The examples quote the seed appliance's files (minus comments) and follow their changes,
    except that they verify signatures (the demo publishes unsigned, with Verify=no)."""
    text = without_comments(ROOT / example).replace("Verify=no\n", "Verify=yes\n")
    assert text in examples(page), f"{page} does not show {example} as it is (with Verify=yes)"


def test_examples_verify():
    """No example in a page turns signature checking off."""
    for page in PAGES:
        for block in examples(page):
            assert "Verify=no" not in block and "--verify=no" not in block, f"{page}: {block}"


def test_repart_json_fields(abota, tmp_path):
    """abota-repart(1) names exactly the fields of the JSON a real (dry) run prints."""
    defs = tmp_path / "repart.d"
    defs.mkdir()
    (defs / "10-a.conf").write_text("[Partition]\nType=linux-generic\nLabel=a\nSizeMinBytes=10M\n")
    # a verity pair, for the roothash field
    (defs / "20-usr.conf").write_text("[Partition]\nType=usr\nVerity=data\nVerityMatchKey=usr\n")
    (defs / "30-usr-verity.conf").write_text("[Partition]\nType=usr-verity\nVerity=hash\nVerityMatchKey=usr\n")
    r = abota("repart", f"--definitions={defs}", "--empty=create", "--size=auto", "--split=yes",
              "--json=short", tmp_path / "disk.raw")
    assert not (tmp_path / "disk.raw").exists(), "the default is a dry run"
    keys = set(json.loads(r.stdout)[0])
    assert json.loads(r.stdout)[0]["split_path"] == str(tmp_path / "disk.linux-generic.raw")

    lines = parse(MAN / "abota-repart.1")
    start = next(k for k, (sh, _, m, t) in enumerate(lines) if sh == "OPTIONS" and t.startswith("--json="))
    end = next(k for k in range(start, len(lines)) if lines[k][2] in ("TP", "SH"))
    raw = (MAN / "abota-repart.1").read_text().splitlines()
    words = set(re.findall(r"[a-z_]+", " ".join(t for *_, t in lines[start:end])))
    bold = {unescape(split_args(line.split(" ", 1)[1])[0]) for line in raw[start + 2:end]
            if line.startswith((".B ", ".BR "))}
    assert keys <= words, f"JSON fields not documented: {sorted(keys - words)}"
    assert bold == keys, f"documented JSON fields {sorted(bold)} differ from the printed {sorted(keys)}"


def test_files_known_to_the_code():
    """Every absolute path under FILES is one the code uses (literally, or as search root + name)."""
    source = "\n".join(f.read_text() for f in (ROOT / "src").rglob("*.[ch]"))
    checked = 0
    for page in PAGES:
        for tag in tags(parse(MAN / page), "FILES"):
            for path in re.split(r",\s*", tag):
                if not path.startswith("/"):
                    continue
                path = re.sub(r"/\*.*$", "", path).rstrip("/")
                head, _, tail = path.rpartition("/")
                known = f'"{path}"' in source or (f'"{head}"' in source and f'"{tail}"' in source) \
                    or (f'"{head}"' in source and f'"{tail.split(".")[0]}.' in source)
                assert known, f"{page}: FILES names {path}, which the code does not use"
                checked += 1
    assert checked >= 15


def test_exit_codes_documented():
    """The exit codes of src/cli/cli.h are the ones abota(1) and the README list."""
    codes = {int(v) for v in re.findall(r"#define EXIT_[A-Z]+ (\d+)", (ROOT / "src" / "cli" / "cli.h").read_text())}
    assert codes == {0, 1, 75}
    lines = parse(MAN / "abota.1")
    documented = {int(t) for t in tags(lines, "EXIT STATUS")}
    assert documented == codes, documented
    readme = (ROOT / "README.md").read_text().split("**Exit status**", 1)[1].split("\n- ", 1)[0]
    assert {int(n) for n in re.findall(r"\b(\d+) (?:success|something|try)", readme)} == codes
