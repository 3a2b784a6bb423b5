# SPDX-License-Identifier: LGPL-2.1-or-later
"""Summary lines (kill-point and side-by-side counts) printed at the end of the pytest run.

The suite runs in parallel (pytest-xdist), where a worker's own output never reaches the terminal:
a test appends its line to a file that conftest.py creates before the workers start and prints in
the terminal summary."""
import os

ENV = "ABOTA_TEST_SUMMARY"


def summary(text):
    path = os.environ.get(ENV)
    if path:
        with open(path, "a") as f:
            f.write(text + "\n")
    else:
        print("\n" + text, flush=True)
