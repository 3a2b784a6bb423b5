#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The demo (run by ./demo.sh after it installed packages and built abota): builds the appliance,
publishes version 2 on a local update server, then boots the factory image (version 1) in QEMU with
a software TPM and shows, from the guest's serial console: the first boot creating the data
partition encrypted with the TPM (and its recovery key, shown once), the partition table, `abota
list`, the update (block reuse for the store pair; the UKI's full download killed with SIGKILL at
its first resume checkpoint, then resumed from its spool by a second `abota update`), the partition
table after it; then reboots into version 2, saving a screenshot of the systemd-boot menu (both
versions listed) as docs/boot-menu.png.

Environment: ABOTA (default build/abota), OUT (appliance build directory, default
examples/appliance/out), DEMO_T0 (start time, seconds since the epoch, for the elapsed time).
The full serial logs stay in OUT/demo/.
"""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vm import APPLIANCE, OUT, ROOT, Disk, Failure, Machine, Server, check  # noqa: E402

SCREENSHOT = ROOT / "docs" / "boot-menu.png"
TTY = sys.stdout.isatty()
ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|[=>])")
BOLD, RESET = ("\x1b[1m", "\x1b[0m") if TTY else ("", "")

# Guest script pieces: DEMO-STEP lines become headings on the host.
TABLE = "abota repart --definitions=/efi/demo/repart.d --dry-run=yes /dev/vda"
POWEROFF = "sync; umount /efi; umount /var; poweroff -f"
# The update, killed (SIGKILL) once the first resume state appears (the first checkpoint of a full
# download: the UKI's; block reuse keeps none), then run again: it resumes from the spool. Timing
# never fails the demo: an update that ended before the kill is said so, and not run again.
CUT = r"""R=/var/lib/abota/resume
abota update & pid=$!
alive() { [ -d /proc/$pid ] && ! grep -q '^State:.*Z' /proc/$pid/status 2>/dev/null; }
i=0
while alive && ! ls $R/*.state >/dev/null 2>&1 && [ $i -lt 1800 ]; do sleep 0.1; i=$((i+1)); done
st=$(ls $R/*.state 2>/dev/null | head -n1)
[ -n "$st" ] && alive && kill -9 $pid
wait $pid 2>/dev/null; rc=$?  # no "Killed" from the shell
printf '\r\033[K'  # ends the progress line the kill left
if [ $rc = 137 ] && [ -n "$st" ]; then
        t=$(sed -n 's/^transfer=//p' "$st"); n=$(sed -n 's/^done=//p' "$st")
        case $t in *kernel*) what="the UKI ($t)";; *) what=$t;; esac
        case $(sed -n 's/^spool=//p' "$st") in yes) how="downloaded and spooled to ${st%.state}.part";; *) how=written;; esac
        m=$((n * 10 / 1048576))
        echo "cut: killed abota update (kill -9) after its first checkpoint: $((m / 10)).$((m % 10)) MiB of $what $how"
        abota update; rc=$?
else
        echo "cut: abota update ended (exit $rc) before the kill; no resume to show"
fi
echo "DEMO-UPDATE=$rc"
"""
BOOT1 = f"""echo "DEMO-STEP 1. The partition table after first boot (in the guest: {TABLE})"
{TABLE}
echo "DEMO-STEP 2. Versions (in the guest: abota list)"
abota list
echo "DEMO-STEP 3. The update, cut and resumed (in the guest: abota update; kill -9 at its first resume checkpoint; abota update)"
{CUT}
echo "DEMO-STEP 4. The partition table after the update (in the guest: {TABLE})"
{TABLE}
echo "DEMO-STEP Versions after the update (in the guest: abota list)"
abota list
echo "DEMO-STEP abota reboot: a newer version is installed, so reboot"
abota reboot
echo "DEMO-REBOOT=$?"
{POWEROFF}"""
BOOT2 = f"""echo "DEMO-STEP 6. Version 2 is running (in the guest: abota list; abota bless status; ls /efi/EFI/Linux)"
abota list
echo "abota bless status: $(abota bless status)"
echo "boot entries: $(ls /efi/EFI/Linux | tr '\\n' ' ')"
echo "dm-verity: / is $(grep ' / ' /proc/mounts | cut -d' ' -f1,3,4), $(cat /sys/block/dm-0/dm/name) over $(ls /sys/block/dm-0/slaves | tr '\\n' ' ')read-only=$(cat /sys/block/dm-0/ro)"
{POWEROFF}"""


def heading(text):
    print(f"\n{BOLD}== {text} =={RESET}", flush=True)


class Console:
    """Shows the guest's serial console filtered to what matters: the version banner, the boot
    assessment and the output of the demo's guest script (DEMO-STEP lines become headings)."""

    def __init__(self):
        self.pos = 0
        self.in_script = False
        self.partial = False  # a progress line drawn with carriage returns is on the screen

    def __call__(self, raw):
        new = raw[self.pos:]
        while "\n" in new:
            line, new = new.split("\n", 1)
            self.pos += len(line) + 1
            self.line(line)
        if self.in_script and TTY and "\r" in new:
            segs = [ANSI.sub("", s) for s in new.split("\r") if s.strip()]
            if segs:  # the guest's progress line, redrawn in place as it was on its console
                sys.stdout.write("\r  " + segs[-1] + "\x1b[K")
                sys.stdout.flush()
                self.partial = True

    def line(self, line):
        # A line redrawn with carriage returns ends as its last segment, as on a terminal.
        segs = [ANSI.sub("", s) for s in line.split("\r") if ANSI.sub("", s).strip()]
        text = segs[-1].rstrip() if segs else ""
        end = "\x1b[K\n" if self.partial else "\n"
        prefix = "\r" if self.partial else ""
        self.partial = False
        if text.startswith("appliance: running /efi/abota-e2e.sh"):
            self.in_script = True
            return
        if text.startswith("appliance: e2e script exited"):
            self.in_script = False
            return
        # the initrd's lines (after the loader's screen): the data partition created and encrypted
        # with the TPM at first boot, its recovery key shown once, the unlock
        first = re.search(r"firstboot: .*|^\s+[a-z]{8}(-[a-z]{8}){7}$", text)
        if first and not self.in_script:
            sys.stdout.write(f"  {first.group(0)}\n")
        elif self.in_script:
            if text.startswith("DEMO-STEP "):
                heading(text[len("DEMO-STEP "):])
            elif not text.startswith("DEMO-"):
                sys.stdout.write(f"{prefix}  {text}{end}")
        elif (re.fullmatch(r"[ #]*#[ #]*", text) or re.match(r"abota appliance \S+, store ", text)
              or text.startswith(("appliance: boot assessment", "appliance: secure boot", "APPLIANCE-READY",
                                  "health:"))):
            sys.stdout.write(f"  {text}\n")
        sys.stdout.flush()


class MenuShot:
    """Takes the screenshot once systemd-boot's menu (drawn on the serial console too) lists both
    versions, then presses Enter to boot the default (newest) entry."""

    def __init__(self, machine, png, titles):
        self.machine = machine
        self.png = png
        self.titles = titles
        self.seen = None
        self.done = False

    def __call__(self, raw):
        if self.done:
            return
        head = raw.split("Linux version")[0]
        if self.seen is None and all(t in head for t in self.titles):
            self.seen = time.monotonic()
        # The serial console gets the menu a moment before the graphics console is complete.
        if self.seen is not None and time.monotonic() - self.seen > 2:
            self.done = True
            self.png.unlink(missing_ok=True)
            out = self.machine.monitor(f"screendump {self.png} -f png")
            check(self.png.exists() and self.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n",
                  f"QEMU screendump wrote no PNG: {out}")
            self.machine.monitor("sendkey ret")
            print(f"  systemd-boot menu on screen: {', '.join(self.titles)} "
                  f"(QEMU screendump -> {self.png}; Enter pressed to boot the first entry)")


def main():
    sys.stdout.reconfigure(line_buffering=True)
    t0 = float(os.environ.get("DEMO_T0", time.time()))
    abota = Path(os.environ.get("ABOTA", ROOT / "build" / "abota"))
    check(abota.exists(), f"{abota} missing: build abota first")

    heading("Building the appliance (examples/appliance/build.sh: Debian kernel, busybox, systemd-boot)")
    t = time.monotonic()
    subprocess.run([str(APPLIANCE / "build.sh")], check=True, env={**os.environ, "ABOTA": str(abota)})
    print(f"appliance built in {time.monotonic() - t:.0f} s: {OUT / 'disk.raw'} (version 1), "
          f"payloads of versions 1-3 in {OUT / 'payloads'}", flush=True)

    workdir = OUT / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    server = Server(workdir)
    server.start()
    try:
        heading("Publishing version 2 on the update server (lighttpd on 127.0.0.1)")
        print(f"$ abota publish --definitions={APPLIANCE / 'sysupdate.d'} --compress=zstd {server.docroot} "
              f"appliance_2_*.store-verity.raw appliance_2_*.store.raw appliance_2.efi", flush=True)
        server.publish(abota, "2")
        for f in sorted(server.docroot.iterdir()):
            print(f"  {f.name:64} {f.stat().st_size:>10} bytes")
        print(f"served at http://127.0.0.1:{server.port}/, which the guest reaches as http://10.0.2.100/")

        disk = Disk(workdir / "disk.raw")
        print(f"\n$ abota --image={disk.path} --offline list   (on the host: the image's own sysupdate.d and "
              "os-release from store_1, its ESP read with mtools)", flush=True)
        subprocess.run([str(abota), f"--image={disk.path}", "--offline", "list"], check=True)
        disk.mtools("mmd", "::/demo")
        disk.mtools("mcopy", "-s", APPLIANCE / "repart.d", "::/demo/")
        disk.mtools("mcopy", *sorted((APPLIANCE / "rootfs" / "usr" / "lib" / "repart.d").glob("*.conf")), "::/demo/repart.d/")
        vm = Machine(workdir, disk, server, "demo")

        heading("Boot 1: the factory image, version 1 (QEMU TCG + OVMF with Secure Boot + systemd-boot)")
        b = vm.boot(BOOT1, on_console=Console())
        print(f"(boot 1: ready in {b.ready_s or 0:.0f} s, {b.total_s:.0f} s in all; "
              f"serial log {workdir / 'demo-boot1.log'})")
        check(b.version == "1", f"version 1 did not boot; serial log {workdir / 'demo-boot1.log'}")
        check(b.secure_boot, f"Secure Boot not enforced in the guest: {b.line('appliance: secure boot: ')}")
        print(f"Secure Boot: systemd-boot enrolled the appliance's PK/KEK/db in {vm.enroll_s:.0f} s (setup mode), "
              f"the firmware then ran only signed images: {b.line('appliance: secure boot: ')} in the guest")
        check(b.line("DEMO-UPDATE=") == "0", f"abota update in the guest exited {b.line('DEMO-UPDATE=')}")
        labels = disk.labels()
        check("store_1" in labels and "store_2" in labels, f"partition labels after the update: {labels}")
        check("appliance_2+3-0.efi" in disk.entries(), f"ESP entries after the update: {disk.entries()}")

        heading("5. Reboot into version 2: the systemd-boot menu lists both versions")
        conf = disk.mtools("mtype", "::/loader/loader.conf")
        disk.put("/loader/loader.conf", re.sub(r"(?m)^timeout .*$", "timeout 30", conf))
        shot = workdir / "boot-menu.png"
        menu = MenuShot(vm, shot, ["abota appliance 2", "abota appliance 1"])
        console = Console()
        b = vm.boot(BOOT2, on_console=lambda raw: (menu(raw), console(raw)))
        disk.put("/loader/loader.conf", conf)
        print(f"(boot 2: ready in {b.ready_s or 0:.0f} s, {b.total_s:.0f} s in all; "
              f"serial log {workdir / 'demo-boot2.log'})")
        check(menu.done, "the systemd-boot menu with both versions was not seen on the console")
        check(b.version == "2", f"version 2 did not boot; serial log {workdir / 'demo-boot2.log'}")
        check("store PARTLABEL=store_2 (dm-verity" in b.log, "version 2's UKI did not mount store_2 through dm-verity")
        check("dm-verity: / is /dev/mapper/root erofs ro" in b.log, "version 2's / is not the dm-verity store")
        check(b.line("abota bless status: ") == "good", f"boot assessment {b.line('abota bless status: ')}")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
        print(f"\nThe systemd-boot menu of boot 2 (QEMU screendump): {SCREENSHOT}")
    finally:
        server.stop()
    print(f"\nDemo done in {time.time() - t0:.0f} s (serial logs and disk image in {workdir})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (Failure, subprocess.CalledProcessError) as e:
        detail = e.stderr.strip() if isinstance(e, subprocess.CalledProcessError) and e.stderr else str(e)
        print(f"\ndemo FAILED: {detail}", file=sys.stderr)
        sys.exit(1)
