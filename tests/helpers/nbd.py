#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small NBD server that serves one image file and logs every write and every flush, so that a
test can rebuild the disk as it would be after a power cut (tests/helpers/writelog.py).

Protocol (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md): fixed newstyle
handshake; options NBD_OPT_EXPORT_NAME, NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_LIST and NBD_OPT_ABORT
(everything else, structured replies included, is answered "unsupported", so simple replies are
used); commands READ, WRITE, FLUSH, TRIM and DISC. FUA is not offered: the client then follows a
forced write with a flush, which the log sees. Requests are served one at a time per connection,
in the order they arrive, and that is the order of the log.

The log (binary, appended; one record per event):
    b"W" u64 offset u32 length DATA     a write (TRIM is logged as a write of zeros)
    b"F" u64 0 u32 0                    a flush: everything before it is durable
    b"M" u64 0 u32 length TEXT          a mark added by the test (e.g. "phase download")
All integers big-endian.

Usage as a program: nbd.py --image FILE --log FILE [--port N] [--port-file FILE]
As a module: NBDServer(image, log).start() -> .port; .mark(text); .stop()."""
import argparse
import os
import socket
import struct
import sys
import threading

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698

FLAG_FIXED_NEWSTYLE = 1
FLAG_NO_ZEROES = 2
CLIENT_NO_ZEROES = 2

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO = 1, 2, 3, 6, 7
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
REP_ERR_UNSUP, REP_ERR_INVALID, REP_ERR_UNKNOWN = 2 ** 31 + 1, 2 ** 31 + 3, 2 ** 31 + 6
INFO_EXPORT, INFO_BLOCK_SIZE = 0, 3

TF_HAS_FLAGS, TF_SEND_FLUSH, TF_SEND_TRIM = 1, 4, 32
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM = 0, 1, 2, 3, 4
EIO, EINVAL, ENOSPC = 5, 22, 28
MAX_REQUEST = 32 * 1024 * 1024

RECORD = struct.Struct(">cQI")


class Disconnect(Exception):
    pass


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise Disconnect()
        buf += chunk
    return bytes(buf)


class NBDServer:
    def __init__(self, image, log, export="disk", host="127.0.0.1", port=0):
        self.image = os.fspath(image)
        self.export = export
        self.fd = os.open(self.image, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.log = open(log, "ab")
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = None
        self.writes = 0
        self.flushes = 0

    # ---- the image and the log ----
    def _record(self, kind, offset, data=b""):
        """Logs one event; a write also goes to the image (both under the lock, in log order)."""
        with self.lock:
            if self.log.closed:
                raise Disconnect()  # stopped: no more requests are served
            if kind == b"W":
                os.pwrite(self.fd, data, offset)
            self.log.write(RECORD.pack(kind, offset, len(data)))
            self.log.write(data)
            if kind != b"W":
                self.log.flush()

    def mark(self, text):
        self._record(b"M", 0, text.encode())

    # ---- serving ----
    def start(self):
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Stops accepting and closes the log (idempotent)."""
        if self.log.closed:
            return
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self.thread:
            self.thread.join(timeout=5)
        with self.lock:
            self.log.flush()
            self.log.close()
            os.close(self.fd)

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self._handshake(conn):
                self._transmission(conn)
        except (Disconnect, ConnectionError):
            pass
        finally:
            conn.close()

    def _option_reply(self, conn, option, reply, data=b""):
        conn.sendall(struct.pack(">QIII", REPLY_MAGIC, option, reply, len(data)) + data)

    def _transmission_flags(self):
        return TF_HAS_FLAGS | TF_SEND_FLUSH | TF_SEND_TRIM

    def _handshake(self, conn):
        """Fixed newstyle negotiation; True when transmission starts."""
        conn.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
        client_flags, = struct.unpack(">I", recv_exact(conn, 4))
        no_zeroes = bool(client_flags & CLIENT_NO_ZEROES)
        while True:
            magic, option, length = struct.unpack(">QII", recv_exact(conn, 16))
            if magic != IHAVEOPT:
                return False
            if length > 65536:
                return False
            data = recv_exact(conn, length)
            if option == OPT_EXPORT_NAME:
                if data.decode(errors="replace") not in (self.export, ""):
                    return False  # no way to report an error to EXPORT_NAME: hang up
                conn.sendall(struct.pack(">QH", self.size, self._transmission_flags()) +
                             (b"" if no_zeroes else b"\0" * 124))
                return True
            if option == OPT_ABORT:
                self._option_reply(conn, option, REP_ACK)
                return False
            if option == OPT_LIST:
                name = self.export.encode()
                self._option_reply(conn, option, REP_SERVER, struct.pack(">I", len(name)) + name)
                self._option_reply(conn, option, REP_ACK)
                continue
            if option in (OPT_INFO, OPT_GO):
                if length < 6:
                    self._option_reply(conn, option, REP_ERR_INVALID)
                    continue
                n, = struct.unpack(">I", data[:4])
                name = data[4:4 + n].decode(errors="replace")
                if name not in (self.export, ""):
                    self._option_reply(conn, option, REP_ERR_UNKNOWN)
                    continue
                self._option_reply(conn, option, REP_INFO,
                                   struct.pack(">HQH", INFO_EXPORT, self.size, self._transmission_flags()))
                self._option_reply(conn, option, REP_INFO,
                                   struct.pack(">HIII", INFO_BLOCK_SIZE, 1, 4096, MAX_REQUEST))
                self._option_reply(conn, option, REP_ACK)
                if option == OPT_GO:
                    return True
                continue
            self._option_reply(conn, option, REP_ERR_UNSUP)

    def _reply(self, conn, handle, error, data=b""):
        conn.sendall(struct.pack(">IIQ", SIMPLE_REPLY_MAGIC, error, handle) + data)

    def _transmission(self, conn):
        while True:
            magic, _flags, cmd, handle, offset, length = struct.unpack(">IHHQQI", recv_exact(conn, 28))
            if magic != REQUEST_MAGIC:
                return
            data = recv_exact(conn, length) if cmd == CMD_WRITE else b""
            if cmd == CMD_DISC:
                return
            in_range = offset + length <= self.size and length <= MAX_REQUEST
            if cmd == CMD_READ:
                if not in_range:
                    self._reply(conn, handle, EINVAL)
                    continue
                with self.lock:
                    if self.log.closed:
                        raise Disconnect()
                    data = os.pread(self.fd, length, offset)
                self._reply(conn, handle, 0, data.ljust(length, b"\0"))
            elif cmd in (CMD_WRITE, CMD_TRIM):
                if not in_range:
                    self._reply(conn, handle, ENOSPC if cmd == CMD_WRITE else EINVAL)
                    continue
                if cmd == CMD_TRIM:
                    data = b"\0" * length
                self._record(b"W", offset, data)
                self.writes += 1
                self._reply(conn, handle, 0)
            elif cmd == CMD_FLUSH:
                self._record(b"F", 0)
                self.flushes += 1
                self._reply(conn, handle, 0)
            else:
                self._reply(conn, handle, EINVAL)


def main():
    ap = argparse.ArgumentParser(description="serve an image file over NBD, logging writes and flushes")
    ap.add_argument("--image", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--export", default="disk")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    srv = NBDServer(a.image, a.log, a.export, port=a.port).start()
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{srv.port}\n")
        os.rename(a.port_file + ".tmp", a.port_file)
    else:
        print(srv.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
