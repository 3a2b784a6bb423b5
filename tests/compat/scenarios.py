# SPDX-License-Identifier: LGPL-2.1-or-later
"""The scenarios of the side-by-side suite, written from systemd's documented behaviour
(sysupdate.d(5), systemd-sysupdate(8), sysupdate.features(5)) and the steps TEST-72-SYSUPDATE
exercises, not from its code."""

import gzip
import os
import shutil
import subprocess

import compat
from compat import Scenario, create_subvolume, payload

ROOT_X86_64 = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
ROOT_VERITY = "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5"
D = "--definitions=@W/defs"
JSON = "--json=short"


def version_files(work, v, uki=True, extra=True, parts=False, opt=True):
    if uki:
        work.write(f"source/uki-{v}.efi", payload(f"uki-{v}"))
    if extra:
        work.write(f"source/uki-extra-{v}.efi", payload(f"extra-{v}"))
    if opt:
        work.write(f"source/optional-{v}.efi", payload(f"optional-{v}"))
    if parts:
        work.write(f"source/part1-{v}.raw", b"\0" * 512 + payload(f"part1-{v}", 64 * 1024))
        work.write(f"source/part2-{v}.raw.gz", gzip.compress(payload(f"part2-{v}", 64 * 1024), mtime=0))


UKI = """[Source]
Type=regular-file
Path=@W/source
MatchPattern=uki-@v.efi

[Target]
Type=regular-file
Path=/EFI/Linux
PathRelativeTo=boot
MatchPattern=uki_@v+@l-@d.efi uki_@v+@l.efi uki_@v.efi
Mode=0444
TriesLeft=3
TriesDone=0
InstancesMax=2
"""

EXTRA = """[Source]
Type=regular-file
Path=@W/source
MatchPattern=uki-extra-@v.efi

[Target]
Type=regular-file
Path=/EFI/Linux
PathRelativeTo=boot
MatchPattern=uki_@v.efi.extra.d/extra.addon.efi
Mode=0444
InstancesMax=2
"""

OPTIONAL = """[Transfer]
Features=optional

[Source]
Type=regular-file
Path=@W/source
MatchPattern=optional-@v.efi

[Target]
Type=regular-file
Path=/EFI/Linux
PathRelativeTo=boot
MatchPattern=uki_@v.efi.extra.d/optional.efi
Mode=0444
InstancesMax=2
"""


def part_transfer(n, src, ptype, label, source_type="regular-file", path="@W/source"):
    return f"""[Source]
Type={source_type}
Path={path}
MatchPattern={src}

[Target]
Type=partition
Path=@DISK
MatchPattern={label}
MatchPartitionType={ptype}
"""


BOOT_ENV = {"SYSTEMD_ESP_PATH": "@W/esp", "SYSTEMD_XBOOTLDR_PATH": "@W/xbootldr"}


def boot_dirs(work):
    os.makedirs(work.p("esp/EFI/Linux"))
    os.makedirs(work.p("xbootldr/EFI/Linux"))


def add(*versions, **kw):
    return lambda work: [version_files(work, v, **kw) for v in versions]


def rm(rel):
    def f(work):
        p = work.p(rel)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.unlink(p)
    return f


def upd(*extra):
    return [("--verify=no", D, JSON, "check-new"), ("--verify=no", D, "update") + extra,
            ("--verify=no", D, JSON, "check-new")]


# --- TEST-72's steps, one piece each ---------------------------------------------------------

def setup_boot_files(work):
    boot_dirs(work)
    work.transfer("04-fourth.transfer", UKI)
    work.transfer("05-fifth.transfer", EXTRA)
    work.transfer("99-optional.transfer", OPTIONAL)
    work.write("defs/optional.feature", "[Feature]\nDescription=Optional Feature\n")
    version_files(work, "v1")


BOOT_FILES = Scenario(
    "t72-boot-files", setup_boot_files,
    upd() + [add("v2")] + upd() + [add("v3")] + upd() + [
        (D, JSON, "--offline", "list"), (D, JSON, "--offline", "list", "v3"), (D, JSON, "vacuum")],
    env=BOOT_ENV)


def setup_partitions(work, sector_size=512, loop=False):
    dev = work.disk("disk.img", [(ROOT_X86_64, "_empty"), (ROOT_X86_64, "_empty"),
                                 (ROOT_VERITY, "_empty"), (ROOT_VERITY, "_empty")], sector_size, loop=loop)
    if loop:
        work.disk_path = dev
    work.transfer("01-first.transfer", part_transfer(1, "part1-@v.raw", "root-x86-64", "part1-@v"))
    work.transfer("02-second.transfer", part_transfer(2, "part2-@v.raw.gz", "root-x86-64-verity",
                                                     "a-very-long-partition-name-@v"))
    version_files(work, "v1", uki=False, extra=False, opt=False, parts=True)


def part_steps():
    a = add("v2", uki=False, extra=False, opt=False, parts=True)
    b = add("v3", uki=False, extra=False, opt=False, parts=True)
    return upd() + [a] + upd() + [b] + upd() + [(D, JSON, "--offline", "list", "v3"), (D, JSON, "--offline", "list")]


PARTITIONS = Scenario("t72-partitions", setup_partitions, part_steps())
# As TEST-72: a loop device, with 512 and with 4096-byte sectors.
PARTITIONS_LOOP_512 = Scenario("t72-partitions-loop-512", lambda w: setup_partitions(w, 512, loop=True),
                               part_steps())
PARTITIONS_LOOP_4096 = Scenario("t72-partitions-loop-4096", lambda w: setup_partitions(w, 4096, loop=True),
                                part_steps())


def setup_incomplete_server(work):
    setup_boot_files(work)
    version_files(work, "v4", extra=False)


INCOMPLETE_SERVER = Scenario(
    "t72-incomplete-on-server", setup_incomplete_server,
    [("--verify=no", D, "update"), (D, JSON, "list"), ("--verify=no", D, JSON, "check-new"),
     add("v5")] + upd(),
    env=BOOT_ENV)


REPAIR = Scenario(
    "t72-repair-incomplete", setup_boot_files,
    [("--verify=no", D, "update"), rm("xbootldr/EFI/Linux/uki_v1.efi.extra.d"),
     (D, JSON, "--offline", "list", "v1"), ("--verify=no", D, JSON, "check-new"),
     ("--verify=no", D, "update"), (D, JSON, "--offline", "list", "v1")],
    env=BOOT_ENV)


def enable_optional(work):
    work.write("defs/optional.feature.d/enable.conf", "[Feature]\nEnabled=true\n")


FEATURES = Scenario(
    "t72-features", setup_boot_files,
    [("--verify=no", D, "update"), (D, JSON, "features"), (D, JSON, "features", "optional"),
     enable_optional, (D, JSON, "--offline", "list", "v1"), ("--verify=no", D, "update"),
     (D, JSON, "--offline", "list", "v1"), rm("defs/optional.feature.d"), (D, JSON, "vacuum"),
     (D, JSON, "--offline", "list", "v1")],
    env=BOOT_ENV,
    expected={})


def add_dir(v):
    def f(work):
        work.write(f"source/dir-{v}/foo.txt", payload(f"foo-{v}"))
        os.utime(work.p(f"source/dir-{v}"), (1600000000, 1600000000))
    return f


def source_tree(work, d):
    """A source version's tree at d: files, a symlink, a 0600 file in a subdirectory."""
    v = os.path.basename(d)
    work.write(f"{d}/foo.txt", payload(f"foo-{v}"))
    work.write(f"{d}/bar.txt", payload(f"bar-{v}"))
    os.symlink("foo.txt", work.p(f"{d}/link"))
    os.makedirs(work.p(f"{d}/sub"), exist_ok=True)
    work.write(f"{d}/sub/x", payload(f"x-{v}"), mode=0o600)
    os.utime(work.p(f"{d}/sub"), (1600000000, 1600000000))
    os.utime(work.p(d), (1600000000, 1600000000))


def setup_directory(work):
    for v in ("v1", "v2"):
        source_tree(work, f"source/dir-{v}")
    os.makedirs(work.p("dirs"))
    work.transfer("03-third.transfer", """[Source]
Type=directory
Path=@W/source
MatchPattern=dir-@v

[Target]
Type=directory
Path=@W/dirs
CurrentSymlink=@W/dirs/current
MatchPattern=dir-@v
InstancesMax=3
""")


DIRECTORY = Scenario(
    "t72-directory-current-symlink", setup_directory,
    upd() + [(D, JSON, "--offline", "list", "v2"), add_dir("v3"), ("--verify=no", D, "update"),
             ("--verify=no", D, "update", "v1"), ("--verify=no", D, "-m", "2", JSON, "vacuum"),
             (D, JSON, "--offline", "list")])


def make_tarballs(work, v, compress):
    """source/dir-V.tar.EXT of a tree with a symlink, a 0600 file and a subdirectory."""
    import subprocess
    d = work.p(f"tree-{v}")
    work.write(f"tree-{v}/foo.txt", payload(f"foo-{v}"))
    work.write(f"tree-{v}/sub/secret", payload(f"secret-{v}"), mode=0o600)
    os.symlink("foo.txt", os.path.join(d, "link"))
    for x in (os.path.join(d, "sub"), d):
        os.utime(x, (1600000000, 1600000000))
    flag = {"gz": "-z", "xz": "-J", "zst": "--zstd"}[compress]
    os.makedirs(work.p("source"), exist_ok=True)
    subprocess.run(["tar", "--numeric-owner", "--mtime=@1600000000", flag, "-C", d, "-cf",
                    work.p(f"source/dir-{v}.tar.{compress}"), "."], check=True)
    os.utime(work.p(f"source/dir-{v}.tar.{compress}"), (1700000000, 1700000000))
    shutil.rmtree(d)


def setup_tar(work, url):
    os.makedirs(work.p("dirs"))
    for v, c in (("v1", "gz"), ("v2", "xz"), ("v3", "zst")):
        make_tarballs(work, v, c)
    names = sorted(n for n in os.listdir(work.p("source")) if n.startswith("dir-"))
    work.sha256sums("source", names)
    source = "Type=url-tar\nPath=file://@W/source" if url else "Type=tar\nPath=@W/source"
    work.transfer("03-third.transfer", f"""[Source]
{source}
MatchPattern=dir-@v.tar.gz dir-@v.tar.xz dir-@v.tar.zst

[Target]
Type=directory
Path=@W/dirs
CurrentSymlink=@W/dirs/current
MatchPattern=dir-@v
InstancesMax=2
""")


TAR_STEPS = [("--verify=no", D, JSON, "list", "v1"), ("--verify=no", D, "update", "v1"), ("--verify=no", D, "update", "v2"), ("--verify=no", D, "update"),
             ("--verify=no", D, JSON, "list", "v3"), ("--verify=no", D, JSON, "list")]
ZSTD = "abota unpacks .tar.zst archives; systemd 257's importer cannot decompress zstd and fails"
TAR_ZSTD = {"step 3 exit": ZSTD, "step 4 output": ZSTD + ", so v3 is installed only by abota",
            "step 5 output": ZSTD + ", so v3 is current only with abota",
            "tree dirs/current": ZSTD + ", so current points at dir-v3 only with abota",
            "tree dirs/dir-v3*": ZSTD + ", so only abota unpacked dir-v3"}
URL_TAR = Scenario("url-tar-to-directory", lambda w: setup_tar(w, True), TAR_STEPS, expected=TAR_ZSTD,
                   ref_failures={3})
LOCAL_TAR = Scenario("tar-to-directory", lambda w: setup_tar(w, False), TAR_STEPS, expected=TAR_ZSTD,
                     ref_failures={3})


def setup_url(work):
    setup_partitions(work)
    work.sha256sums("source", ["part1-v1.raw", "part2-v1.raw.gz"])
    work.transfer("02-second.transfer", part_transfer(2, "part2-@v.raw.gz", "root-x86-64-verity",
                                                     "a-very-long-partition-name-@v", "url-file",
                                                     "file://@W/source"))


URL_FILE = Scenario("t72-url-file", setup_url, upd() + [(D, JSON, "--offline", "list", "v1")])


def setup_conf(work):
    setup_boot_files(work)
    for n in os.listdir(work.p("defs")):
        if n.endswith(".transfer"):
            os.rename(work.p("defs", n), work.p("defs", n[:-len(".transfer")] + ".conf"))


CONF_FALLBACK = Scenario("t72-conf-fallback", setup_conf, upd() + [(D, JSON, "--offline", "list")], env=BOOT_ENV)

# --- beyond TEST-72 ----------------------------------------------------------------------------

PLAIN = """[Source]
Type=regular-file
Path=@W/source
MatchPattern={src}

[Target]
Type=regular-file
Path=@W/target
MatchPattern={dst}
InstancesMax=3
"""


def setup_missing_source(work):
    os.makedirs(work.p("target"))
    work.write("target/app_1.raw", payload("app1"))
    work.transfer("10-app.transfer", PLAIN.format(src="app_@v.raw", dst="app_@v.raw"))


MISSING_SOURCE = Scenario(
    "missing-source-directory", setup_missing_source,
    [(D, JSON, "list"), ("--verify=no", D, JSON, "check-new"), ("--verify=no", D, "update"),
     (D, JSON, "vacuum")])


def setup_bad_manifest(work):
    os.makedirs(work.p("target"))
    work.write("source/app_1.raw", payload("app1"))
    work.write("source/app_2.raw", payload("app2"))
    work.sha256sums("source", ["app_1.raw", "app_2.raw"], extra="abad1dea  app_3.raw\n")
    work.transfer("10-app.transfer", PLAIN.format(src="app_@v.raw", dst="app_@v.raw")
                  .replace("Type=regular-file\nPath=@W/source", "Type=url-file\nPath=file://@W/source"))


BAD_MANIFEST = Scenario(
    "malformed-sha256sums-line", setup_bad_manifest,
    [("--verify=no", D, JSON, "list"), ("--verify=no", D, JSON, "check-new"), ("--verify=no", D, "update")],
    ref_failures={0, 1, 2})


def manifest_scenario(name, lines, expected=None, ref_failures=()):
    """A url-file source whose SHA256SUMS is lines(hash_of) (hash_of(name) -> hex)."""
    def setup(work):
        os.makedirs(work.p("target"))
        for v in ("1", "2"):
            work.write(f"source/app_{v}.raw", payload(f"app{v}"))
        work.write("source/BEST-BEFORE-2020-01-01", b"")
        import hashlib

        def hash_of(n):
            with open(work.p("source", n), "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()
        work.write("source/SHA256SUMS", lines(hash_of))
        work.transfer("10-app.transfer", PLAIN.format(src="app_@v.raw", dst="app_@v.raw")
                      .replace("Type=regular-file\nPath=@W/source", "Type=url-file\nPath=file://@W/source"))
    return Scenario(name, setup, [("--verify=no", D, JSON, "list"), ("--verify=no", D, JSON, "check-new"),
                                  ("--verify=no", D, "update")],
                    expected=expected, ref_failures=ref_failures)


STRICT = "abota is stricter about SHA256SUMS: it refuses the manifest"
MANIFESTS = [
    manifest_scenario("sha256sums-uppercase-hash",
                      lambda h: f"{h('app_1.raw').upper()}  app_1.raw\n{h('app_2.raw').upper()} *app_2.raw\n"),
    manifest_scenario("sha256sums-no-final-newline",
                      lambda h: f"{h('app_1.raw')}  app_1.raw\n{h('app_2.raw')}  app_2.raw", ref_failures={0, 1, 2}),
    manifest_scenario("sha256sums-blank-line",
                      lambda h: f"{h('app_1.raw')}  app_1.raw\n\n{h('app_2.raw')}  app_2.raw\n", ref_failures={0, 1, 2}),
    manifest_scenario("sha256sums-crlf",
                      lambda h: f"{h('app_1.raw')}  app_1.raw\r\n{h('app_2.raw')}  app_2.raw\r\n", ref_failures={0, 1, 2}),
    manifest_scenario("sha256sums-tab-separator",
                      lambda h: f"{h('app_1.raw')}\tapp_1.raw\n{h('app_2.raw')}  app_2.raw\n", ref_failures={0, 1, 2}),
    manifest_scenario(
        "sha256sums-duplicate-name",
        lambda h: f"{h('app_1.raw')}  app_1.raw\n{h('app_2.raw')}  app_2.raw\n{h('app_1.raw')}  app_1.raw\n",
        expected={"step *": f"{STRICT} when a file name is listed twice (v257 takes the first)",
                  "tree target/app_2.raw": f"{STRICT} when a file name is listed twice, so nothing is installed"}),
    manifest_scenario(
        "sha256sums-best-before-past",
        lambda h: f"{h('app_1.raw')}  app_1.raw\n{h('app_2.raw')}  app_2.raw\n"
                  f"{h('BEST-BEFORE-2020-01-01')}  BEST-BEFORE-2020-01-01\n",
        expected={"step *": "abota honours BEST-BEFORE-YYYY-MM-DD freshness markers (newer systemd does, 257 "
                            "does not): an out-of-date file list is refused",
                  "tree target/app_2.raw": "abota refuses the out-of-date file list, so nothing is installed"}),
    manifest_scenario(
        "sha256sums-subdirectory-name",
        lambda h: f"{h('app_1.raw')}  app_1.raw\n{h('app_2.raw')}  app_2.raw\n{h('app_2.raw')}  sub/app_3.raw\n",
        expected={"step *": "abota accepts relative paths in SHA256SUMS as newer systemd does; 257 refuses "
                            "the whole manifest",
                  "tree target/app_2.raw": "abota reads the manifest (see above), so it installs version 2"},
        ref_failures={0, 1, 2}),
]


def setup_disagree(work):
    os.makedirs(work.p("target"))
    for v in ("1", "2", "3"):
        work.write(f"source/a_{v}.raw", payload(f"a{v}"))
    for v in ("1", "2", "4"):
        work.write(f"source/b_{v}.raw", payload(f"b{v}"))
    work.transfer("10-a.transfer", PLAIN.format(src="a_@v.raw", dst="a_@v.raw"))
    work.transfer("20-b.transfer", PLAIN.format(src="b_@v.raw", dst="b_@v.raw"))


DISAGREE = Scenario(
    "transfers-disagree-on-versions", setup_disagree,
    [(D, JSON, "list"), ("--verify=no", D, JSON, "check-new"), ("--verify=no", D, "update"),
     (D, JSON, "--offline", "list"), ("--verify=no", D, "update", "3"), ("--verify=no", D, "update", "1"),
     (D, JSON, "list", "1"), (D, JSON, "list", "2")],
    ref_failures={4})


def setup_versions(work):
    os.makedirs(work.p("target"))
    for v in ("0.9", "1~rc1", "1^post", "1,1", "0.8_x+y"):
        work.write(f"source/app_{v}.raw", payload(f"app{v}"))
    work.transfer("10-app.transfer", PLAIN.format(src="app_@v.raw", dst="app_@v.raw"))


VERSIONS = Scenario(
    "version-validity", setup_versions,
    [(D, JSON, "list"), ("--verify=no", D, JSON, "check-new"), ("--verify=no", D, "update"),
     ("--verify=no", D, JSON, "check-new")])


def setup_patterns(work):
    os.makedirs(work.p("target"))
    for n in ("x_1.raw", "x_2.raw.tar", "x_3.raw", "y_1@.img", "y_2@.img", "z_5_part.bin", "z_6_part_extra.bin"):
        work.write(f"source/{n}", payload(n))
    work.transfer("10-x.transfer", PLAIN.format(src="x_@v.raw", dst="x_@v.raw"))
    work.transfer("20-y.transfer", PLAIN.format(src="y_@v@@.img", dst="y_@v@@.img"))
    work.transfer("30-z.transfer", PLAIN.format(src="z_@v_part.bin", dst="z-@v.bin"))


PATTERNS = Scenario(
    "pattern-edge-cases", setup_patterns,
    [(D, JSON, "list"), ("--verify=no", D, "update"), (D, JSON, "--offline", "list")])


def setup_readback(work):
    os.makedirs(work.p("target"))
    work.write("source/a_1.raw", payload("a1"))
    work.write("source/a_2-r3.raw", payload("a2"))
    # version 2-r3 gives b-2-r3-3.raw (tries left 3), which b-@v-@l.raw reads back as version 2
    # with tries left "r3-3": no match
    work.transfer("10-a.transfer", PLAIN.format(src="a_@v.raw", dst="b-@v-@l.raw"))


READBACK = Scenario(
    "pattern-version-not-read-back", setup_readback,
    [("--verify=no", D, "update", "1"), ("--verify=no", D, JSON, "check-new"), ("--verify=no", D, "update"),
     (D, JSON, "--offline", "list")],
    expected={"step 2 exit": "abota refuses a version its own target pattern cannot read back from the new "
                             "name: systemd installs b-2-r3-3.raw and never recognises it again",
              "tree target/b-2-r3-3.raw": "abota refuses to install the version it could not read back"})


def setup_json_shapes(work):
    setup_url(work)
    version_files(work, "v2", uki=False, extra=False, opt=False, parts=True)
    work.sha256sums("source", ["part1-v1.raw", "part2-v1.raw.gz", "part1-v2.raw", "part2-v2.raw.gz"])
    work.write("root/etc/sysupdate.d/10-a.transfer", PLAIN.format(src="a_@v.raw", dst="a_@v.raw"))
    work.write("root/etc/sysupdate.test.d/10-a.transfer", PLAIN.format(src="a_@v.raw", dst="a_@v.raw"))


JSON_SHAPES = Scenario(
    "json-shapes", setup_json_shapes,
    [("--verify=no", D, "update", "v1"), ("--verify=no", D, JSON, "list"), ("--verify=no", D, JSON, "list", "v2"),
     ("--verify=no", D, JSON, "list", "v1"), ("--root=@W/root", JSON, "components"), (D, JSON, "vacuum")])


def setup_flags(work):
    os.makedirs(work.p("target"))
    for v in ("1", "2", "3", "4"):
        work.write(f"source/app_{v}.raw", payload(f"app{v}"))
    work.write("target/app_1+0-3.raw", payload("app1"))
    work.write("target/app_2+2-1.raw", payload("app2"))
    work.transfer("10-app.transfer", "[Transfer]\nMinVersion=2\nProtectVersion=2\n" +
                  PLAIN.format(src="app_@v.raw", dst="app_@v+@l-@d.raw app_@v.raw").replace("InstancesMax=3",
                                                                                         "InstancesMax=1"))


FLAGS = Scenario(
    "min-protect-tries-instances", setup_flags,
    [(D, JSON, "list"), (D, JSON, "list", "1"), (D, JSON, "list", "2"), ("--verify=no", D, "update", "1"),
     ("--verify=no", D, "update"), (D, JSON, "--offline", "list"), ("--verify=no", D, "update", "4"),
     (D, JSON, "vacuum"), (D, JSON, "--offline", "list", "4")])


def setup_root_esp(work):
    os.makedirs(work.p("root/efi/EFI/Linux"))
    os.makedirs(work.p("root/boot"))
    for v in ("1", "2"):
        work.write(f"root/srv/uki-{v}.efi", payload(f"uki{v}"))
    work.write("root/etc/os-release", "ID=test\nIMAGE_VERSION=1\n")
    work.transfer("10-uki.transfer", UKI.replace("@W/source", "/srv").replace("PathRelativeTo=boot", "PathRelativeTo=esp"),
                  defs="root/etc/sysupdate.d")


ROOT_ESP_STEPS = [("--root=@W/root", JSON, "list"), ("--root=@W/root", "update"),
                  ("--root=@W/root", JSON, "--offline", "list")]
ESP_REASON = ("under --root abota takes a plain directory ROOT/efi (or /boot, /boot/efi) as the ESP, for image "
              "build trees; systemd 257 does not accept it ('Failed to resolve $BOOT: Required key not available', "
              "also with SYSTEMD_RELAX_ESP_CHECKS=1)")
ROOT_ESP = Scenario("esp-below-root-plain-directory", setup_root_esp, ROOT_ESP_STEPS,
                    env={"SYSTEMD_RELAX_ESP_CHECKS": "1"},
                    expected={"step *": ESP_REASON, "tree root/efi/EFI/Linux/*": ESP_REASON},
                    ref_failures={0, 1, 2})


def setup_no_update(work):
    os.makedirs(work.p("target"))
    work.write("source/app_1.raw", payload("app1"))
    work.write("target/app_1.raw", payload("app1"))
    work.transfer("10-app.transfer", PLAIN.format(src="app_@v.raw", dst="app_@v.raw"))


NOTHING_NEW = Scenario(
    "check-new-nothing-new", setup_no_update,
    [("--verify=no", D, JSON, "check-new"), ("--verify=no", D, "check-new"),
     (D, JSON, "--offline", "list", "1")],
    ref_failures={1})


def setup_booted(work):
    os.makedirs(work.p("root/target"))
    for v in ("1", "2", "3"):
        work.write(f"root/target/app_{v}.raw", payload(f"app{v}"))
    work.write("root/etc/os-release", "ID=test\nIMAGE_VERSION=1\n")
    work.transfer("10-app.transfer", PLAIN.format(src="app_@v.raw", dst="app_@v.raw")
                  .replace("@W/source", "/source").replace("@W/target", "/target"),
                  defs="root/etc/sysupdate.d")


BOOTED = Scenario(
    "booted-version-protected", setup_booted,
    [("--root=@W/root", JSON, "--offline", "list"), ("--root=@W/root", "-m", "1", JSON, "vacuum")],
    expected={"tree root/target/app_1.raw": "abota never removes the booted version (IMAGE_VERSION), even "
                                            "without ProtectVersion=%A",
              "tree root/target/app_3.raw": "abota keeps the booted version 1, so with -m 1 it removes 3 as well"})


def setup_root_defs(work):
    setup_booted(work)
    work.transfer("10-app.transfer", PLAIN.format(src="app_@v.raw", dst="app_@v.raw")
                  .replace("@W/source", "/source").replace("@W/target", "/target"),
                  defs="root/defs")
    os.unlink(work.p("root/etc/sysupdate.d/10-app.transfer"))


ROOT_DEFINITIONS = Scenario(
    "definitions-below-root", setup_root_defs,
    [("--root=@W/root", "--definitions=/defs", JSON, "--offline", "list")])

def setup_current_symlink_partition(work):
    work.disk_path = work.disk("disk.img", [(ROOT_X86_64, "_empty"), (ROOT_X86_64, "_empty")], loop=True,
                               partscan=True)
    work.transfer("01-first.transfer", part_transfer(1, "part1-@v.raw", "root-x86-64", "part1-@v")
                  + "CurrentSymlink=@W/links/current\n")
    os.makedirs(work.p("links"))
    version_files(work, "v1", uki=False, extra=False, opt=False, parts=True)


CURRENT_SYMLINK_PARTITION = Scenario(
    "current-symlink-partition", setup_current_symlink_partition,
    upd() + [add("v2", uki=False, extra=False, opt=False, parts=True)] + upd(),
    expected={"tree links/current": "abota points the link at the partition's device node (/dev/loopNpM); "
                                    "systemd 257 at its own file descriptor, /proc/self/fd/3pM, which names "
                                    "nothing outside the process"})


def setup_subvolumes(work):
    fs = work.mount_btrfs("fs")
    for v in ("v1", "v2"):
        if v == "v2":  # a subvolume source: the new subvolume is its snapshot
            os.makedirs(f"{fs}/source", exist_ok=True)
            create_subvolume(f"{fs}/source/dir-{v}")
        source_tree(work, f"fs/source/dir-{v}")
    os.makedirs(work.p("fs/dirs"))
    work.transfer("03-third.transfer", """[Source]
Type=directory
Path=@W/fs/source
MatchPattern=dir-@v

[Target]
Type=subvolume
Path=@W/fs/dirs
MatchPattern=dir-@v
ReadOnly=yes
InstancesMax=2
""")


def add_subvolume_source(v):
    def f(work):
        work.write(f"fs/source/dir-{v}/foo.txt", payload(f"foo-{v}"))
        os.utime(work.p(f"fs/source/dir-{v}"), (1600000000, 1600000000))
    return f


SUBVOLUMES = Scenario(
    "subvolumes-on-btrfs", setup_subvolumes,
    upd() + [("--verify=no", D, "update", "v1"), add_subvolume_source("v3"), ("--verify=no", D, "update"),
             (D, JSON, "--offline", "list"), ("--verify=no", D, "-m", "1", JSON, "vacuum")])

def publish_part(v, changes):
    """abota publish (patches from the 2 newest older versions, block index and blocks) of
    part1-V.raw into source/: v1's content with a few blocks changed, as an update changes an
    image."""
    def f(work):
        data = bytearray(payload("part1-v1", 768 * 1024))
        for k in range(changes):
            data[k * 64 * 1024:k * 64 * 1024 + 300] = payload(f"{v}-{k}")
        build = work.write(f"build/part1-{v}.raw", bytes(data))
        os.makedirs(work.p("source"), exist_ok=True)
        subprocess.run([compat.ABOTA, "publish", "--pattern=part1-@v.raw", "--deltas=2", "--block-index=yes",
                        work.p("source"), build], check=True, capture_output=True)
        with open(work.p("source/SHA256SUMS")) as sums:
            listed = sums.read()
        # the block index and blocks are there, and from v2 on the patches, listed in SHA256SUMS
        assert f"@index@part1-{v}.raw" in listed and f"@blocks@part1-{v}.raw" in listed, listed
        assert v == "v1" or f"@delta@v1@part1-{v}.raw" in listed, listed
    return f


def setup_deltas(work):
    work.disk("disk.img", [(ROOT_X86_64, "_empty"), (ROOT_X86_64, "_empty")])
    work.transfer("01-first.transfer", part_transfer(1, "part1-@v.raw", "root-x86-64", "part1-@v", "url-file",
                                                     "file://@W/source"))
    publish_part("v1", 0)(work)


# A directory published with patches (`@delta@BASE@NAME`) and block indexes (`@index@NAME`,
# `@blocks@NAME`), all listed in SHA256SUMS: systemd-sysupdate ignores them and installs the full
# images; abota builds the same slots from the patches.
DELTAS = Scenario(
    "published-with-deltas", setup_deltas,
    upd() + [publish_part("v2", 3)] + upd() + [publish_part("v3", 5)] + upd()
    + [(D, JSON, "--offline", "list"), ("--verify=no", D, JSON, "list")])

ALL = MANIFESTS + [READBACK, JSON_SHAPES, FLAGS, ROOT_ESP, URL_TAR, LOCAL_TAR, BOOT_FILES, PARTITIONS, PARTITIONS_LOOP_512, PARTITIONS_LOOP_4096, INCOMPLETE_SERVER, REPAIR, FEATURES, DIRECTORY, URL_FILE, CONF_FALLBACK,
       MISSING_SOURCE, BAD_MANIFEST, DISAGREE, VERSIONS, PATTERNS, NOTHING_NEW, BOOTED, ROOT_DEFINITIONS,
       CURRENT_SYMLINK_PARTITION, SUBVOLUMES, DELTAS]
