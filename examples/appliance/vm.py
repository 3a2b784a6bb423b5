# SPDX-License-Identifier: LGPL-2.1-or-later
"""The appliance in QEMU, shared by tests/e2e/run and examples/appliance/demo.py: lighttpd as the
update server (reachable by the guest only as 10.0.2.100:80 through QEMU's guestfwd), the disk
image read and written from the host (sfdisk, mtools), and one QEMU (TCG) + OVMF + systemd-boot
boot at a time with the serial console in a log file and a software TPM (swtpm) per machine.

Environment: OUT (the appliance build directory, default examples/appliance/out).
"""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

APPLIANCE = Path(__file__).resolve().parent
ROOT = APPLIANCE.parents[1]
OUT = Path(os.environ.get("OUT", APPLIANCE / "out"))
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")  # empty: no PK, so setup mode
# Secure Boot: OVMF's build with SMM (variables only writable from SMM, authenticated variables).
OVMF_CODE_SECBOOT = Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd")
SECBOOT_QEMU = ["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"]
READY = re.compile(r"APPLIANCE-READY version=(\S+)(?: uptime=([0-9.]+))?")
BOOT_TIMEOUT = 600  # a hang guard: TCG on a loaded 2-core machine took up to 200 s (an encrypted /var, load 20)


def payloads(version):
    """The published files of a version: the store pair's hash half, its data half, the UKI."""
    d = OUT / "payloads"
    return [*sorted(d.glob(f"appliance_{version}_*.store-verity.raw")), *sorted(d.glob(f"appliance_{version}_*.store.raw")),
            d / f"appliance_{version}.efi"]


def roothash(version):
    return (OUT / "payloads" / f"appliance_{version}.roothash").read_text().strip()


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw).stdout


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def spawn(args, sig=signal.SIGKILL, **kw):
    """subprocess.Popen(args, **kw) for a process that must not outlive this one (QEMU, swtpm,
    lighttpd, the second e2e process): the kernel sends it sig when this process ends, however it
    ends (prctl PR_SET_PDEATHSIG; spawn from the main thread: the signal follows the thread)."""
    parent = os.getpid()

    def die_with_parent():
        _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent ended before prctl
            os._exit(127)
    return subprocess.Popen([str(a) for a in args], preexec_fn=die_with_parent, **kw)


def reap(proc, timeout=60):
    """Ends proc if it still runs (SIGTERM, SIGKILL after timeout s) and waits for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def exit_on_signals():
    """SIGTERM, SIGINT and SIGHUP raise SystemExit in this process, so that its finally blocks stop
    its VMs, servers and child processes; later ones are ignored while they do (each of their
    waits is bounded)."""
    def handler(sig, frame):
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        raise SystemExit(128 + sig)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, handler)


class Server:
    """lighttpd serving an update directory, with its own configuration in a temp dir."""

    def __init__(self, workdir):
        self.dir = workdir / "httpd"
        self.docroot = self.dir / "docroot"
        self.docroot.mkdir(parents=True)
        self.proc = None
        self.port = None

    def start(self, kbytes_per_second=0, access_log=None):
        """access_log: a file that gets "REQUEST-LINE STATUS RANGE-HEADER" per request."""
        self.stop()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        conf = self.dir / "lighttpd.conf"
        conf.write_text(
            f'server.document-root = "{self.docroot}"\n'
            f'server.bind = "127.0.0.1"\n'
            f"server.port = {self.port}\n"
            f'server.errorlog = "{self.dir}/error.log"\n'
            'mimetype.assign = ("" => "application/octet-stream")\n'
            + (f"connection.kbytes-per-second = {kbytes_per_second}\n" if kbytes_per_second else "")
            + (f'server.modules += ("mod_accesslog")\naccesslog.filename = "{access_log}"\n'
               'accesslog.format = "%r %>s %{Range}i"\n' if access_log else ""))
        self.proc = spawn(["lighttpd", "-D", "-f", conf])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise Failure(f"lighttpd did not start on port {self.port}")

    def stop(self):
        if self.proc:
            reap(self.proc)
            self.proc = None

    def publish(self, abota, version):
        """abota publish: add version's store pair (data and hash) and UKI, compressed with zstd
        (the store is an uncompressed erofs padded to the slot), rewrite SHA256SUMS."""
        run(abota, "publish", f"--definitions={APPLIANCE / 'sysupdate.d'}", "--compress=zstd", self.docroot,
            *payloads(version))

    def clear(self):
        for f in self.docroot.iterdir():
            f.unlink()


class Disk:
    """The appliance disk image and its ESP, read and written with sfdisk and mtools."""

    def __init__(self, path, source=OUT / "disk.raw"):
        """A copy of source (default: the factory image) at path; source=None: path as it is."""
        self.path = path
        if source is not None:
            shutil.copyfile(source, path)
        self.esp_offset = next(start for name, start in self.partitions() if name == "esp")

    def partitions(self):
        out = run("sfdisk", "--dump", self.path)
        parts = []
        for line in out.splitlines():
            m = re.match(r".* : start=\s*(\d+),.*name=\"([^\"]*)\"", line)
            if m:
                parts.append((m.group(2), int(m.group(1)) * 512))
        return parts

    def labels(self):
        return [name for name, _ in self.partitions()]

    def _img(self):
        return f"{self.path}@@{self.esp_offset}"

    def mtools(self, tool, *args):
        return run(tool, "-i", self._img(), *args, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})

    def entries(self):
        out = self.mtools("mdir", "-b", "::/EFI/Linux")
        return sorted(Path(line.strip()).name for line in out.splitlines()
                      if line.strip() and not Path(line.strip()).name.startswith("."))

    def put(self, dest, text):
        with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
            f.write(text)
            f.flush()
            self.mtools("mcopy", "-o", f.name, f"::{dest}")

    def rename(self, a, b):
        self.mtools("mmove", f"::{a}", f"::{b}")

    def remove(self, path):
        """Removes a file from the ESP if it is there."""
        listing = self.mtools("mdir", "-b", f"::{Path(path).parent}")
        if Path(path).name.lower() in (Path(line.strip()).name.lower() for line in listing.splitlines()):
            self.mtools("mdel", f"::{path}")

    def partition_bytes(self, name):
        """The bytes of the partition labelled name."""
        out = run("sfdisk", "--json", self.path)
        p = next(p for p in json.loads(out)["partitiontable"]["partitions"] if p.get("name") == name)
        with open(self.path, "rb") as f:
            f.seek(p["start"] * 512)
            return f.read(p["size"] * 512)


class Boot:
    def __init__(self, log, ready_s, total_s):
        self.log = log
        self.ready_s = ready_s  # seconds from QEMU start to APPLIANCE-READY, or None
        self.total_s = total_s
        m = READY.search(log)
        self.version = m.group(1) if m else None
        self.uptime = float(m.group(2)) if m and m.group(2) else None  # kernel start -> ready
        # The guest's init reads SecureBoot and SetupMode from efivarfs: "1 0" when enforced.
        sb = re.search(r"appliance: secure boot: SecureBoot=(\d) SetupMode=(\d)", log)
        self.secure_boot = sb.group(1) == "1" and sb.group(2) == "0" if sb else None

    def line(self, prefix):
        """The value of the guest's "PREFIX..." output line, or None."""
        m = re.search(re.escape(prefix) + r"(.*)", self.log)
        return m.group(1).strip() if m else None


# Machine.boot(FIELD): no test script on the ESP, the appliance boots as a device in the field.
FIELD = object()


class Machine:
    """QEMU q35 + OVMF (code read-only, a private copy of the vars) + the disk on virtio.

    secure_boot=True (the default): OVMF's Secure Boot build with SMM. A machine's vars file starts
    empty (setup mode) unless this process already enrolled the keys of OUT once: then it starts
    as a copy of that enrolled vars file. In setup mode, the first boot() is preceded by an
    enrollment boot: systemd-boot enrolls PK, KEK and db from the ESP's /loader/keys/auto/
    (secure-boot-enroll force) and resets; from then on the firmware enforces Secure Boot.
    The vars file stays the machine's own across its boots."""

    times = []  # (QEMU start -> ready, kernel start -> ready) of every boot that got ready
    enrolled = {}  # OUT -> a vars file right after the enrollment of OUT's keys

    def __init__(self, workdir, disk, server, name, drive=None, secure_boot=True, tpm=True, serial_input=False):
        """drive: QEMU's -drive for the disk (id disk0), default the raw image file disk.path.
        secure_boot: OVMF's Secure Boot build (SMM), keys enrolled by systemd-boot on the first boot.
        tpm: the directory holding the machine's TPM state (True: workdir/NAME-tpm, created fresh:
        a new machine; None: no TPM). Each boot gets a TPM 2.0 (tpm-tis) served by swtpm (socket
        mode) from it; the state persists across boots, as the machine's TPM does. The appliance
        seals its data partition's key to it on the first boot.
        serial_input: the serial console is a socket (still logged to the boot's log file), so that
        on_console may type on it with self.type()."""
        self.tpm = workdir / f"{name}-tpm" if tpm is True else Path(tpm) if tpm else None
        self.serial_input = serial_input
        self.workdir = workdir
        self.drive = drive or f"if=none,id=disk0,format=raw,file={disk.path}"
        self.disk = disk
        self.server = server
        self.name = name
        self.secure_boot = secure_boot
        self.vars = workdir / f"{name}-vars.fd"
        template = Machine.enrolled.get(OUT) if secure_boot else None
        shutil.copyfile(template or OVMF_VARS, self.vars)
        self.setup_mode = secure_boot and template is None
        self.n = 0
        if not secure_boot:
            # OVMF's plain build has Secure Boot variables too (no SMM) and starts in setup mode:
            # keep systemd-boot from enrolling the keys there.
            conf = disk.mtools("mtype", "::/loader/loader.conf")
            disk.put("/loader/loader.conf", re.sub(r"(?m)^secure-boot-enroll .*$", "secure-boot-enroll off", conf))

    def qemu_args(self, log):
        code = OVMF_CODE_SECBOOT if self.secure_boot else OVMF_CODE
        fwd = f"guestfwd=tcp:10.0.2.100:80-cmd:socat - TCP:127.0.0.1:{self.server.port}"
        return ["qemu-system-x86_64", *(SECBOOT_QEMU if self.secure_boot else ["-machine", "q35"]),
                "-accel", "tcg", "-m", "512", "-smp", "1",
                "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
                "-drive", f"if=pflash,format=raw,unit=1,file={self.vars}",
                "-drive", self.drive,
                "-device", "virtio-blk-pci,drive=disk0",
                "-netdev", f"user,id=net0,restrict=on,{fwd}", "-device", "virtio-net-pci,netdev=net0",
                "-display", "none", "-monitor", f"unix:{self.monitor_path},server=on,wait=off", "-no-reboot"]

    def enroll(self, timeout=BOOT_TIMEOUT):
        """The enrollment boot: firmware in setup mode, systemd-boot enrolls the ESP's keys and
        resets (QEMU exits, -no-reboot). Remembers the enrolled vars for this process's machines."""
        log = self.workdir / f"{self.name}-enroll.log"
        self.monitor_path = self.workdir / f"{self.name}-monitor.sock"
        self.monitor_path.unlink(missing_ok=True)
        t0 = time.monotonic()
        proc = spawn(self.qemu_args(log) + ["-serial", f"file:{log}"], stdin=subprocess.DEVNULL)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"Secure Boot key enrollment did not reset within {timeout} s; console: {log}")
        finally:
            reap(proc)
        check(rc == 0, f"QEMU exited {rc} in the Secure Boot key enrollment; console: {log}")
        text = log.read_bytes().decode("utf-8", "replace")
        check("Enrolling secure boot keys" in text,
              f"systemd-boot did not enroll the Secure Boot keys (firmware not in setup mode?); console: {log}")
        self.setup_mode = False
        self.enroll_s = time.monotonic() - t0
        template = self.workdir / f"enrolled-vars-{os.getpid()}.fd"
        shutil.copyfile(self.vars, template)
        Machine.enrolled[OUT] = template
        return self.enroll_s

    def boot(self, script, kill_on=None, kill_after=0.0, timeout=BOOT_TIMEOUT, on_console=None):
        """One boot running script in the guest (None: the one already on the ESP; FIELD: none,
        the appliance boots as in the field); returns when the guest powers off or reboots (or
        kill_after seconds after kill_on appeared on the console: a power cut that keeps every
        write in the host's page cache).
        on_console(text), if given, is called with the console output so far (as received,
        including carriage returns) while the guest runs; it may use self.monitor()."""
        if self.setup_mode:
            self.enroll(timeout)
        self.n += 1
        if script is FIELD:
            self.disk.remove("/abota-e2e.sh")
        elif script is not None:
            self.disk.put("/abota-e2e.sh", script + "\n")
        log = self.workdir / f"{self.name}-boot{self.n}.log"
        self.monitor_path = self.workdir / f"{self.name}-monitor.sock"
        self.monitor_path.unlink(missing_ok=True)
        args = self.qemu_args(log)
        args += self._serial_args(log)
        swtpm = self._start_tpm(args) if self.tpm else None
        t0 = time.monotonic()
        proc = spawn(args, stdin=subprocess.DEVNULL)
        self.console = None
        ready = None
        kill_at = None
        text = ""
        try:
            while True:
                exited = proc.poll() is not None
                raw = log.read_bytes().decode("utf-8", "replace") if log.exists() else ""
                text = raw.replace("\r", "")
                if on_console:
                    on_console(raw)
                now = time.monotonic()
                if self.serial_input and not exited:
                    self._drain_console()
                if ready is None and READY.search(text):
                    ready = now - t0
                if exited:
                    break
                if kill_on and kill_at is None and kill_on in text:
                    kill_at = now + kill_after
                if kill_at is not None and now >= kill_at:
                    proc.kill()  # the power cut: no guest shutdown, no flush
                    proc.wait()
                    break
                if now - t0 > timeout:
                    raise Failure(f"boot {self.n} timed out after {timeout} s; console: {log}")
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if self.console:
                self.console.close()
                self.console = None
            if swtpm:
                swtpm.terminate()
                swtpm.wait()
        if on_console and log.exists():
            on_console(log.read_bytes().decode("utf-8", "replace"))
        b = Boot(text, ready, time.monotonic() - t0)
        if ready is not None:
            Machine.times.append((ready, b.uptime or 0.0))
        return b

    def _serial_args(self, log):
        if not self.serial_input:
            return ["-serial", f"file:{log}"]
        self.serial_path = self.workdir / f"{self.name}-serial.sock"
        self.serial_path.unlink(missing_ok=True)
        return ["-chardev", f"socket,id=ser0,path={self.serial_path},server=on,wait=off,logfile={log}",
                "-serial", "chardev:ser0"]

    def _connect_console(self):
        """Connects to the serial socket (its output is drained: the log file has it)."""
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(self.serial_path))
        except OSError:
            s.close()
            return
        s.setblocking(False)
        self.console = s

    def _drain_console(self):
        """Connects to the serial socket once it is there and reads what it has (the log file keeps
        it): QEMU must never wait for a full socket."""
        if self.console is None:
            self._connect_console()
        try:
            while self.console and self.console.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def type(self, text):
        """Types text on the serial console (serial_input=True)."""
        check(self.console is not None, "the serial console is not connected")
        self.console.setblocking(True)
        self.console.sendall(text.encode())
        self.console.setblocking(False)

    def _start_tpm(self, args):
        """Starts swtpm for one boot on the state in self.tpm; adds QEMU's TPM options to args."""
        self.tpm.mkdir(parents=True, exist_ok=True)
        sock = self.workdir / f"{self.name}-swtpm.sock"
        sock.unlink(missing_ok=True)
        proc = spawn(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.tpm}",
                                 "--ctrl", f"type=unixio,path={sock}", "--terminate"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        for _ in range(200):
            if sock.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not sock.exists():
            proc.kill()
            proc.wait()
            raise Failure(f"swtpm did not start on {self.tpm}")
        args += ["-chardev", f"socket,id=chrtpm,path={sock}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                 "-device", "tpm-tis,tpmdev=tpm0"]
        return proc

    def monitor(self, command, timeout=30):
        """Runs one QEMU human monitor (HMP) command in the running boot; returns its output."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(str(self.monitor_path))
            out = b""
            while not out.endswith(b"(qemu) "):  # the greeting ends with the first prompt
                chunk = s.recv(4096)
                if not chunk:
                    raise Failure(f"QEMU monitor closed before its prompt ({command})")
                out += chunk
            s.sendall(command.encode() + b"\n")
            out = b""
            while not out.endswith(b"(qemu) "):
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        # The monitor echoes the command line with terminal escapes; keep the lines after it.
        lines = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out.decode("utf-8", "replace")).splitlines()
        return "\n".join(l for l in lines[1:] if l.strip() != "(qemu)").strip()

