# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs every scenario of scenarios.py against systemd-sysupdate 257 and abota and prints each
difference: expected (a deliberate difference, with its reason), pending (not implemented yet,
issue 11) or unexpected. Exit status 1 when there is an unexpected difference.
Usage (inside the trixie chroot; tests/compat/run does that): python3 run.py ABOTA [SCENARIO...]"""

import fnmatch
import shutil
import sys

import compat
import scenarios


def main():
    abota, only = sys.argv[1], sys.argv[2:]
    compat.ABOTA = abota
    passed = failed = 0
    counts = {"expected": 0, "pending": 0, "unexpected": 0}
    for s in scenarios.ALL:
        if only and s.name not in only:
            continue
        diffs = s.compare(abota)
        kinds = []
        for aspect, text in diffs:
            kind, reason = s.classify(aspect)
            counts[kind] += 1
            kinds.append(kind)
            print(f"  {s.name}: {kind} difference: {text}" + (f"\n        reason: {reason}" if reason else ""))
        for key in list(s.expected) + list(s.pending):
            if not any(fnmatch.fnmatchcase(aspect, key) for aspect, _ in diffs):
                print(f"  {s.name}: note: the recorded difference '{key}' did not show")
        if "unexpected" in kinds:
            failed += 1
            print(f"FAIL {s.name}")
        else:
            passed += 1
            print(f"ok   {s.name}" + (f" ({len(diffs)} known differences)" if diffs else ""))
    shutil.rmtree(compat.WORK, ignore_errors=True)
    print(f"compat: {passed} passed, {failed} failed")
    print(f"compat: {counts['unexpected']} unexpected differences, {counts['expected']} expected "
          f"(deliberate), {counts['pending']} pending (not implemented yet)")
    return 1 if counts["unexpected"] else 0


if __name__ == "__main__":
    sys.exit(main())
