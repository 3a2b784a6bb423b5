# SPDX-License-Identifier: LGPL-2.1-or-later
"""The LD_PRELOAD shim of tests/helpers/syscall_shim.c: kill a process at its Nth data-changing
system call, count those calls, or log them (call, file, offset, length)."""
import os
import subprocess
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "helpers" / "syscall_shim.c"


def build_shim(directory: Path) -> Path:
    out = directory / "syscall_shim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(out), str(SOURCE), "-ldl"], check=True)
    return out


def shim_env(shim, **extra):
    env = dict(os.environ, LD_PRELOAD=str(shim), **{k: str(v) for k, v in extra.items()})
    # sanitizer builds insist on coming first; the shim only wraps libc calls
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    return env


def read_log(path: Path):
    """[(n, call, path, offset, length)] from a CRASH_LOG_FILE."""
    out = []
    for line in path.read_text().splitlines():
        n, call, p, off, length = line.split(" ")
        out.append((int(n), call, p, int(off), int(length)))
    return out
