/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A single updating progress line per transfer on stderr: bytes, total (when known), rate and
 * ETA. Only drawn when stderr is a terminal; otherwise every call is a no-op, so logs and pipes
 * stay clean. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct progress {
        const char *what;
        uint64_t total;          /* 0 = unknown */
        uint64_t done;
        uint64_t start_usec, last_draw_usec;
        bool enabled, drawn;
};

/* want = the caller asked for progress; it is shown only if stderr is also a terminal. */
void progress_start(struct progress *p, const char *what, bool want);
void progress_set_total(struct progress *p, uint64_t total);
/* Redraws at most every 200 ms. */
void progress_update(struct progress *p, uint64_t done);
/* Draws the final state and ends the line. */
void progress_end(struct progress *p);
/* After a failure: draws nothing more. The line is left with the cursor at its start, so the
 * error message that follows overwrites it. */
void progress_abandon(struct progress *p);

/* The line without terminal control sequences, e.g.
 * "store_2  12.0 MiB / 1.0 GiB  1%  85.2 MiB/s  ETA 0:12"; total 0 = unknown. */
void progress_format(char *buf, size_t size, const char *what, uint64_t done, uint64_t total,
                     uint64_t elapsed_usec);
