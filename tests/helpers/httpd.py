#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small, misbehaving-on-demand HTTP server for tests (unit tests in C and pytest alike).

Serves the files below --root on 127.0.0.1 (GET and HEAD, single byte ranges "bytes=N-" and
"bytes=N-M" answered with 206 unless --no-range; several ranges "bytes=A-B,C-D,..." as a
multipart/byteranges 206, as zchunk's client asks for them). Every file carries an ETag (of its
size and mtime) and a Last-Modified; a GET with a matching If-None-Match, or else an
If-Modified-Since not older than the file, is answered 304 Not Modified. The port is chosen by the kernel and written to
--port-file (atomically: the file appears complete or not at all), so tests can start it with
Popen and poll for the file. Runs until SIGTERM/SIGINT.

    python3 tests/helpers/httpd.py --root DIR --port-file F [options]

Failure modes (each applies to every GET, or only to the first K ones with --fail-count K):
    --fail-status 404|500|...  answer with that status and a short body instead of the file
    --stall-after N            send the headers and N body bytes, then go silent (keep the socket)
    --truncate-after N         promise the full Content-Length, send N body bytes, close
    --hang                     read the request, then never answer (not even headers)
Other options:
    --throttle BPS             send at most BPS body bytes per second (all requests), in pieces
                               of a tenth of that, so a slow server trickles instead of bursting
    --sndbuf BYTES             a socket send buffer of that size (no autotuning): with a small
                               receive buffer on the client (CRASH_RCVBUF of the syscall shim),
                               what a killed client loses in flight stays small, as on a real link
    --no-range                 ignore Range headers (answer 200 with the whole file)
    --multi-range MODE         how a request for several ranges is answered (RFC 9110 §14 lets a
                               server choose): multipart (default: a multipart/byteranges 206, one
                               part per range in the order asked), reverse (the parts in reverse
                               order), merge (ranges less than 4 KiB apart merged into one part),
                               span (a single-part 206 from the first range's start to the last
                               one's end), first (a single-part 206 of the first range only), whole
                               (200 with the whole file, as Python's http.server); and broken
                               answers: refuse (416), no-content-range (parts without their
                               Content-Range), unclosed (no closing boundary)
    --max-ranges N             a request for more than N ranges gets 200 with the whole file (as
                               nginx's max_ranges; Apache's MaxRanges)
    --max-parts N              answer a request for more than N ranges with the first N only (as
                               lighttpd 1.4 does with 10)
    --corrupt-ranges           answer a byte range with the right length and headers but wrong
                               bytes (the first byte of each answer or part inverted)
    --log FILE                 append one line per request: "GET /path STATUS RANGE|-"
                               (lets a test count requests, e.g. that a 404 was not retried)
    --stale NAME=FILE          answer the first GET of /NAME with FILE (an old version of it, as
                               a client sees in the moment between two renames of a publish)
    --redirect BASE            answer every request with 302 to BASE + the requested path
    --tls-cert PEM --tls-key PEM   serve https with this certificate (clients are told to trust
                               it, e.g. with CURL_CA_BUNDLE)
    --count FILE               keep FILE up to date (after every request) with a JSON object of
                               the totals since start: connections, requests, bytes_out (status
                               lines, headers and bodies sent), bytes_in (requests received)

Example (pytest):
    p = subprocess.Popen([sys.executable, HTTPD, "--root", d, "--port-file", pf, "--fail-count", "1",
                          "--fail-status", "500"])
    ... wait for pf, url = f"http://127.0.0.1:{open(pf).read().strip()}/file" ...
    p.terminate(); p.wait()
"""
import argparse
import email.utils
import http.server
import json
import os
import posixpath
import re
import signal
import sys
import threading
import time
import urllib.parse

CHUNK = 64 * 1024


class Config:
    def __init__(self, args):
        self.root = os.path.realpath(args.root)
        self.fail_status = args.fail_status
        self.stall_after = args.stall_after
        self.truncate_after = args.truncate_after
        self.hang = args.hang
        self.fail_count = args.fail_count
        self.throttle = args.throttle
        self.sndbuf = args.sndbuf
        self.range = not args.no_range
        self.corrupt_ranges = args.corrupt_ranges
        self.multi_range = args.multi_range
        self.max_ranges = args.max_ranges
        self.max_parts = args.max_parts
        self.no_head = args.no_head
        self.log = args.log
        self.redirect = args.redirect
        self.stale = dict(s.split("=", 1) for s in args.stale)
        self.lock = threading.Lock()
        self.gets = 0
        self.count = args.count
        self.totals = {"connections": 0, "requests": 0, "bytes_out": 0, "bytes_in": 0}

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                self.totals[k] += v

    def write_totals(self):
        if not self.count:
            return
        with self.lock:
            tmp = self.count + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.totals, f)
            os.rename(tmp, self.count)

    def next_get_fails(self):
        """True if this GET gets the configured failure (counting GETs for --fail-count)."""
        with self.lock:
            self.gets += 1
            return self.fail_count is None or self.gets <= self.fail_count

    def take_stale(self, path):
        """The stand-in file for the first GET of path, else None."""
        with self.lock:
            return self.stale.pop(urllib.parse.unquote(path).lstrip("/"), None)

    def record(self, line):
        if self.log:
            with self.lock, open(self.log, "a") as f:
                f.write(line + "\n")


class Counting:
    """A socket file that adds the bytes passing through it to Config.totals[key]."""

    def __init__(self, f, config, key):
        self.f, self.config, self.key = f, config, key

    def write(self, data):
        n = self.f.write(data)
        self.config.add(**{self.key: len(data)})
        return n

    def read(self, *a):
        data = self.f.read(*a)
        self.config.add(**{self.key: len(data)})
        return data

    def readline(self, *a):
        data = self.f.readline(*a)
        self.config.add(**{self.key: len(data)})
        return data

    def __getattr__(self, name):
        return getattr(self.f, name)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "abota-test-httpd/1"
    config = None  # set in main()

    def setup(self):
        if self.config.sndbuf:
            import socket
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.sndbuf)
        super().setup()
        if self.config.count:
            self.config.add(connections=1)
            self.rfile = Counting(self.rfile, self.config, "bytes_in")
            self.wfile = Counting(self.wfile, self.config, "bytes_out")
            self.config.write_totals()

    def handle_one_request(self):
        super().handle_one_request()
        if self.config.count and self.raw_requestline:
            self.config.add(requests=1)
            self.config.write_totals()

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def translate(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        path = posixpath.normpath(path).lstrip("/")
        full = os.path.realpath(os.path.join(self.config.root, path))
        if full != self.config.root and not full.startswith(self.config.root + os.sep):
            return None
        return full

    def send_simple(self, status, text, rng="-"):
        body = (text + "\n").encode()
        # Logged before answering, so a client that reads the log right after its request
        # always finds the line.
        self.config.record(f"{self.command} {self.path} {status} {rng}")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def not_modified(self, etag, mtime):
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            return etag in [t.strip() for t in inm.split(",")]
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                return int(mtime) <= email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return False
        return False

    def parse_range(self, size):
        h = self.headers.get("Range")
        if not h or not self.config.range:
            return None
        if "," in h:
            ranges = []
            for part in h.strip().removeprefix("bytes=").split(","):
                m = re.fullmatch(r"(\d+)-(\d+)", part.strip())
                if not m or int(m.group(1)) >= size or int(m.group(2)) < int(m.group(1)):
                    return "unsatisfiable"
                ranges.append((int(m.group(1)), min(int(m.group(2)), size - 1)))
            return ranges
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", h.strip())
        if not m:
            return None
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if start >= size or end < start:
            return "unsatisfiable"
        return start, min(end, size - 1)

    def do_HEAD(self):
        if self.config.no_head:
            self.send_simple(405, "HEAD not allowed here")
            return
        self.serve()

    def do_GET(self):
        self.serve()

    def serve(self):
        c = self.config
        rng_text = self.headers.get("Range", "-")
        if c.redirect:
            c.record(f"{self.command} {self.path} 302 {rng_text}")
            self.send_response(302)
            self.send_header("Location", c.redirect.rstrip("/") + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        failing = self.command == "GET" and c.next_get_fails()
        if failing and c.hang:
            c.record(f"{self.command} {self.path} hang {rng_text}")
            self.stall()
            self.close_connection = True
            return
        if failing and c.fail_status:
            self.send_simple(c.fail_status, f"failing on purpose with {c.fail_status}", rng_text)
            return
        path = (self.command == "GET" and c.take_stale(self.path)) or self.translate()
        if not path or not os.path.isfile(path):
            self.send_simple(404, "not found", rng_text)
            return
        st = os.stat(path)
        size = st.st_size
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        if self.not_modified(etag, st.st_mtime):
            c.record(f"{self.command} {self.path} 304 {rng_text}")
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            self.end_headers()
            return
        rng = self.parse_range(size)
        if isinstance(rng, list):
            rng = self.answer_ranges(rng)
        if rng == "unsatisfiable":
            c.record(f"{self.command} {self.path} 416 {rng_text}")
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if isinstance(rng, list):
            self.send_multipart(path, size, rng, rng_text)
            return
        start, end = rng if rng else (0, size - 1)
        length = end - start + 1 if size > 0 else 0
        status = 206 if rng else 200
        c.record(f"{self.command} {self.path} {status} {rng_text}")
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes" if c.range else "none")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = length
        if failing and c.stall_after is not None:
            limit = min(limit, c.stall_after)
        if failing and c.truncate_after is not None:
            limit = min(limit, c.truncate_after)
        self.send_body(path, start, limit, corrupt=bool(rng) and c.corrupt_ranges)
        if limit < length:
            if failing and c.stall_after is not None:
                self.stall()
            self.close_connection = True

    def answer_ranges(self, ranges):
        """What --multi-range and --max-ranges make of several ranges asked for: a list of parts,
        one range (a single-part 206), or None (200 with the whole file)."""
        mode = self.config.multi_range
        if mode == "refuse":
            return "unsatisfiable"
        if mode == "whole" or (self.config.max_ranges is not None and len(ranges) > self.config.max_ranges):
            return None
        if self.config.max_parts is not None:
            ranges = ranges[:self.config.max_parts]
        if mode == "reverse":
            return ranges[::-1]
        if mode == "merge":
            merged = []
            for start, end in sorted(ranges):
                if merged and start <= merged[-1][1] + 4096:
                    merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
                else:
                    merged.append((start, end))
            return merged
        if mode == "span":
            return min(r[0] for r in ranges), max(r[1] for r in ranges)
        if mode == "first":
            return ranges[0]
        return ranges

    def send_multipart(self, path, size, ranges, rng_text):
        boundary = "abota-test-httpd-boundary"
        parts = []
        mode = self.config.multi_range
        for start, end in ranges:
            crange = "" if mode == "no-content-range" else f"Content-Range: bytes {start}-{end}/{size}\r\n"
            head = f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n{crange}\r\n".encode()
            parts.append((head, start, end - start + 1))
        tail = b"" if mode == "unclosed" else f"\r\n--{boundary}--\r\n".encode()
        length = sum(len(h) + n for h, _, n in parts) + len(tail)
        self.config.record(f"{self.command} {self.path} 206 {rng_text}")
        self.send_response(206)
        self.send_header("Content-Type", f"multipart/byteranges; boundary={boundary}")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        for head, start, n in parts:
            self.wfile.write(head)
            self.send_body(path, start, n, corrupt=self.config.corrupt_ranges)
        self.wfile.write(tail)

    def send_body(self, path, start, count, corrupt=False):
        began = time.monotonic()
        sent = 0
        chunk = max(1, min(CHUNK, self.config.throttle // 10)) if self.config.throttle else CHUNK
        with open(path, "rb") as f:
            f.seek(start)
            while sent < count:
                data = f.read(min(chunk, count - sent))
                if not data:
                    break
                if corrupt and sent == 0:
                    data = bytes([data[0] ^ 0xff]) + data[1:]
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                sent += len(data)
                if self.config.throttle:
                    due = began + sent / self.config.throttle
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)

    def stall(self):
        """Silent until the client gives up (its socket closes) or an hour passes."""
        self.connection.settimeout(0.1)
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            try:
                if self.connection.recv(1) == b"":
                    return
            except TimeoutError:
                continue
            except OSError:
                return


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--fail-status", type=int)
    ap.add_argument("--stall-after", type=int)
    ap.add_argument("--truncate-after", type=int)
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--fail-count", type=int)
    ap.add_argument("--throttle", type=int)
    ap.add_argument("--sndbuf", type=int)
    ap.add_argument("--no-range", action="store_true")
    ap.add_argument("--multi-range", default="multipart", choices=["multipart", "reverse", "merge", "span", "first", "whole", "refuse",
                                                                    "no-content-range", "unclosed"])
    ap.add_argument("--max-ranges", type=int)
    ap.add_argument("--max-parts", type=int)
    ap.add_argument("--corrupt-ranges", action="store_true")
    ap.add_argument("--no-head", action="store_true", help="answer HEAD with 405, as some CDNs do")
    ap.add_argument("--log")
    ap.add_argument("--redirect")
    ap.add_argument("--stale", action="append", default=[])
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--count")
    args = ap.parse_args()

    Handler.config = Config(args)
    server = Server(("127.0.0.1", 0), Handler)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
