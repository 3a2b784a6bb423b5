# SPDX-License-Identifier: LGPL-2.1-or-later
"""A software TPM 2.0 (swtpm in socket mode) on 127.0.0.1 for tests: Swtpm(state_dir) starts one,
.tcti is the tpm2-tss TCTI string for it, .stop() ends exactly the process it started."""
import socket
import subprocess
import time
from pathlib import Path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Swtpm:
    def __init__(self, state: Path):
        state.mkdir(parents=True, exist_ok=True)
        self.state = state
        for _ in range(5):
            # tpm2-tss's swtpm TCTI expects the control channel on the next port.
            self.port = _free_port()
            ctrl = self.port + 1
            self.proc = subprocess.Popen(
                ["swtpm", "socket", "--tpm2",
                 "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
                 "--ctrl", f"type=tcp,port={ctrl},bindaddr=127.0.0.1",
                 "--tpmstate", f"dir={state}", "--flags", "startup-clear"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait():
                self.tcti = f"swtpm:host=127.0.0.1,port={self.port}"
                return
            self.stop()
        raise RuntimeError("swtpm did not start")

    def _wait(self):
        for _ in range(200):
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
