# SPDX-License-Identifier: LGPL-2.1-or-later
"""tests/helpers/nbd.py (the write-logging NBD server the e2e power cuts serve the VM's disk with)
and tests/helpers/writelog.py (the rebuild after a power cut), driven by a small NBD client."""
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
import nbd  # noqa: E402
import writelog  # noqa: E402


class Client:
    """Fixed newstyle client: NBD_OPT_GO (or NBD_OPT_EXPORT_NAME), simple replies."""

    def __init__(self, port, export="disk", go=True):
        self.s = socket.create_connection(("127.0.0.1", port))
        magic, opt, flags = struct.unpack(">QQH", self.recv(18))
        assert (magic, opt) == (nbd.NBDMAGIC, nbd.IHAVEOPT) and flags & nbd.FLAG_FIXED_NEWSTYLE
        self.s.sendall(struct.pack(">I", nbd.FLAG_FIXED_NEWSTYLE | nbd.CLIENT_NO_ZEROES))
        # structured replies are refused: simple replies follow
        self.option(8, b"")
        assert self.reply()[1] == nbd.REP_ERR_UNSUP
        if go:
            name = export.encode()
            self.option(nbd.OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
            infos = []
            while True:
                _, rep, data = self.reply()
                if rep == nbd.REP_ACK:
                    break
                assert rep == nbd.REP_INFO, hex(rep)
                infos.append(data)
            kind, self.size, self.flags = struct.unpack(">HQH", infos[0])
            assert kind == nbd.INFO_EXPORT
        else:
            self.option(nbd.OPT_EXPORT_NAME, export.encode())
            self.size, self.flags = struct.unpack(">QH", self.recv(10))

    def recv(self, n):
        return nbd.recv_exact(self.s, n)

    def option(self, opt, data):
        self.s.sendall(struct.pack(">QII", nbd.IHAVEOPT, opt, len(data)) + data)

    def reply(self):
        magic, opt, rep, length = struct.unpack(">QIII", self.recv(20))
        assert magic == nbd.REPLY_MAGIC
        return opt, rep, self.recv(length)

    def request(self, cmd, offset=0, length=0, data=b""):
        self.s.sendall(struct.pack(">IHHQQI", nbd.REQUEST_MAGIC, 0, cmd, 7, offset, length or len(data)) + data)
        if cmd == nbd.CMD_DISC:
            return 0, b""
        magic, error, handle = struct.unpack(">IIQ", self.recv(16))
        assert magic == nbd.SIMPLE_REPLY_MAGIC and handle == 7
        return error, self.recv(length) if cmd == nbd.CMD_READ and not error else b""


@pytest.fixture
def served(tmp_path):
    image = tmp_path / "disk.raw"
    image.write_bytes(b"\x11" * 65536)
    base = tmp_path / "base.raw"
    base.write_bytes(image.read_bytes())
    srv = nbd.NBDServer(image, tmp_path / "writes.log").start()
    yield srv, image, base, tmp_path / "writes.log"
    srv.stop()


def test_serve_and_log(served):
    srv, image, base, log = served
    c = Client(srv.port)
    assert c.size == 65536 and c.flags & nbd.TF_SEND_FLUSH and c.flags & nbd.TF_SEND_TRIM
    assert c.request(nbd.CMD_WRITE, 512, data=b"A" * 1024) == (0, b"")
    assert c.request(nbd.CMD_FLUSH) == (0, b"")
    srv.mark("phase two")
    assert c.request(nbd.CMD_WRITE, 4096, data=b"B" * 512)[0] == 0
    assert c.request(nbd.CMD_TRIM, 8192, 512)[0] == 0
    assert c.request(nbd.CMD_WRITE, 65536 - 256, data=b"C" * 512)[0] == nbd.ENOSPC  # past the end
    assert c.request(nbd.CMD_READ, 0, 2048) == (0, b"\x11" * 512 + b"A" * 1024 + b"\x11" * 512)
    assert c.request(nbd.CMD_READ, 8192, 512) == (0, b"\0" * 512)
    c.request(nbd.CMD_DISC)
    c2 = Client(srv.port, go=False)  # the old way in: NBD_OPT_EXPORT_NAME
    assert c2.request(nbd.CMD_READ, 4096, 4) == (0, b"BBBB")
    assert c2.request(nbd.CMD_WRITE, 0, data=b"D" * 512)[0] == 0
    c2.request(nbd.CMD_DISC)
    srv.stop()

    wl = writelog.WriteLog(log)
    assert (wl.writes, wl.flushes) == (4, 1)
    assert [e.phase for e in wl.epochs] == ["start", "two"]
    assert [(w.offset, w.length) for w in wl.epochs[1].writes] == [(4096, 512), (8192, 512), (0, 512)]
    # the rebuild with every write is the served image
    out = base.parent / "all.raw"
    wl.rebuild(base, out, 1, keep=1.1)
    assert out.read_bytes() != image.read_bytes()  # never all writes of an epoch of several
    # up to the flush only: the first write, nothing after it
    chosen = wl.rebuild(base, out, 1, keep=0.0)
    assert chosen == []
    assert out.read_bytes() == b"\x11" * 512 + b"A" * 1024 + b"\x11" * (65536 - 1536)
    # epoch 0 is before the first flush: the base, plus maybe the first write
    assert wl.rebuild(base, out, 0, seed=3, keep=0.0) == [] and out.read_bytes() == base.read_bytes()


def test_subsets_are_seeded(served):
    srv, image, base, log = served
    c = Client(srv.port)
    for k in range(16):
        c.request(nbd.CMD_WRITE, k * 4096, data=bytes([k]) * 4096)
    c.request(nbd.CMD_FLUSH)
    c.request(nbd.CMD_DISC)
    srv.stop()
    wl = writelog.WriteLog(log)
    a = [w.index for w in wl.choose(0, 1)]
    assert a == [w.index for w in wl.choose(0, 1)]  # same seed, same subset
    assert a != [w.index for w in wl.choose(0, 2)]
    assert 0 < len(a) < 16
    out = base.parent / "cut.raw"
    assert wl.rebuild(base, out, 0, 1) == a
    data = out.read_bytes()
    for k in range(16):
        assert data[k * 4096:(k + 1) * 4096] == (bytes([k]) if k in a else b"\x11") * 4096
    # after the flush: everything
    wl.rebuild(base, out, 1, 0)
    assert out.read_bytes() == image.read_bytes()
    r = subprocess.run([sys.executable, writelog.__file__, "summary", str(log)], capture_output=True, text=True,
                       check=True)
    assert r.stdout.startswith("16 writes, 1 flushes, 0 marks")
