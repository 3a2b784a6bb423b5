#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Rebuilds a disk as it would be after a power cut, from the write log of tests/helpers/nbd.py,
the way CrashMonkey and dm-log-writes do: everything up to a chosen flush is on the disk, and of
the writes after it (up to the next flush, which never completed) a random subset made it, chosen
with a seeded RNG. Overlapping writes are applied in log order.

An epoch is the stretch of writes after one flush (epoch k follows flush k; epoch 0 precedes the
first flush). Marks the test wrote into the log (nbd.NBDServer.mark) name the phases.

Usage: writelog.py summary LOG
       writelog.py rebuild --base IMAGE --log LOG --epoch K [--seed S] [--keep P] OUT
"""
import argparse
import os
import random
import struct
import subprocess
import sys

RECORD = struct.Struct(">cQI")


class Write:
    __slots__ = ("index", "offset", "length", "pos")

    def __init__(self, index, offset, length, pos):
        self.index, self.offset, self.length, self.pos = index, offset, length, pos


class Epoch:
    """The writes after flush `number` (number 0: before the first flush), with the phase the
    last mark before them names."""

    def __init__(self, number, phase):
        self.number = number
        self.phase = phase
        self.writes = []

    @property
    def bytes(self):
        return sum(w.length for w in self.writes)


class WriteLog:
    def __init__(self, path):
        self.path = os.fspath(path)
        self.epochs = [Epoch(0, None)]
        self.marks = []  # (epoch number, number of writes before it in that epoch, text)
        self.writes = 0
        phase = None
        with open(self.path, "rb") as f:
            pos = 0
            while True:
                head = f.read(RECORD.size)
                if len(head) < RECORD.size:
                    break
                kind, offset, length = RECORD.unpack(head)
                pos += RECORD.size
                if kind == b"W":
                    self.epochs[-1].writes.append(Write(self.writes, offset, length, pos))
                    self.writes += 1
                    f.seek(length, os.SEEK_CUR)
                elif kind == b"F":
                    self.epochs.append(Epoch(len(self.epochs), phase))
                elif kind == b"M":
                    text = f.read(length).decode()
                    self.marks.append((len(self.epochs) - 1, len(self.epochs[-1].writes), text))
                    if text.startswith("phase "):
                        phase = text[len("phase "):]
                        if not self.epochs[-1].writes:
                            self.epochs[-1].phase = phase
                else:
                    raise ValueError(f"{self.path}: bad record {kind!r} at byte {pos - RECORD.size}")
                pos += length
        for e in self.epochs:
            if e.phase is None:
                e.phase = "start"

    @property
    def flushes(self):
        return len(self.epochs) - 1

    def choose(self, epoch, seed, keep=0.5):
        """The writes of `epoch` that survive a cut with RNG seed `seed` (each with probability
        keep; never all of them, unless there is only one and keep is 1)."""
        writes = self.epochs[epoch].writes
        rng = random.Random(f"{epoch}-{seed}")
        chosen = [w for w in writes if rng.random() < keep]
        if len(chosen) == len(writes) and len(writes) > 1:
            chosen.pop(rng.randrange(len(chosen)))
        return chosen

    def rebuild(self, base, out, epoch, seed=0, keep=0.5):
        """Writes OUT: base + every write before flush `epoch` + a random subset of epoch's
        writes. Returns the list of the subset's write indexes."""
        tmp = os.fspath(out) + ".tmp"
        subprocess.run(["cp", "--sparse=always", os.fspath(base), tmp], check=True)
        chosen = self.choose(epoch, seed, keep)
        with open(self.path, "rb") as log, open(tmp, "r+b") as disk:
            def apply(w):
                log.seek(w.pos)
                disk.seek(w.offset)
                disk.write(log.read(w.length))
            for e in self.epochs[:epoch]:
                for w in e.writes:
                    apply(w)
            for w in chosen:
                apply(w)
            disk.flush()
        os.rename(tmp, out)
        return [w.index for w in chosen]

    def summary(self):
        phases = {}
        for e in self.epochs:
            n, b, k = phases.get(e.phase, (0, 0, 0))
            phases[e.phase] = (n + 1, b + e.bytes, k + len(e.writes))
        lines = [f"{self.writes} writes, {self.flushes} flushes, {len(self.marks)} marks"]
        lines += [f"  {p}: {n} epochs, {k} writes, {b} bytes" for p, (n, b, k) in phases.items()]
        return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary")
    s.add_argument("log")
    r = sub.add_parser("rebuild")
    r.add_argument("--base", required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--epoch", type=int, required=True)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--keep", type=float, default=0.5)
    r.add_argument("out")
    a = ap.parse_args()
    log = WriteLog(a.log)
    if a.cmd == "summary":
        print(log.summary())
        return 0
    if not 0 <= a.epoch < len(log.epochs):
        ap.error(f"--epoch must be in 0..{len(log.epochs) - 1}")
    chosen = log.rebuild(a.base, a.out, a.epoch, a.seed, a.keep)
    print(f"{a.out}: flush {a.epoch} + {len(chosen)} of {len(log.epochs[a.epoch].writes)} later writes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
