/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Progress of one transfer on stderr: bytes, total (when known), rate and ETA. On a terminal a
 * single line redrawn in place; otherwise (a service's journal, a pipe) plain info-level log lines,
 * "abota: store_2  1.0 MiB / 2.0 MiB  50%  512.0 KiB/s  ETA 0:02", one each time another
 * PROGRESS_STEP_PERCENT of the total arrived or PROGRESS_HEARTBEAT_USEC passed, never two within
 * PROGRESS_MIN_GAP_USEC, and one at the end. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROGRESS_STEP_PERCENT 5
#define PROGRESS_HEARTBEAT_USEC 10000000ULL
#define PROGRESS_MIN_GAP_USEC 1000000ULL

struct progress {
        const char *what;
        uint64_t total;          /* 0 = unknown */
        uint64_t done;
        uint64_t start_usec, last_draw_usec;
        uint64_t last_line_done; /* plain lines: the bytes of the last line */
        unsigned last_percent;   /* plain lines: the percentage of the last line */
        bool enabled, tty, drawn;
};

/* want = the caller asked for progress: a redrawn line on a terminal, plain lines otherwise. */
void progress_start(struct progress *p, const char *what, bool want);
void progress_set_total(struct progress *p, uint64_t total);
/* Redraws at most every 200 ms (terminal), or logs a plain line when one is due. */
void progress_update(struct progress *p, uint64_t done);
/* Draws the final state and ends the line (terminal), or logs the final plain line. */
void progress_end(struct progress *p);
/* After a failure: draws nothing more. The line is left with the cursor at its start, so the
 * error message that follows overwrites it. */
void progress_abandon(struct progress *p);

/* The line without terminal control sequences, e.g.
 * "store_2  12.0 MiB / 1.0 GiB  1%  85.2 MiB/s  ETA 0:12"; total 0 = unknown. */
void progress_format(char *buf, size_t size, const char *what, uint64_t done, uint64_t total,
                     uint64_t elapsed_usec);

/* Microseconds of CLOCK_MONOTONIC. */
uint64_t progress_now_usec(void);
/* Bytes per second after elapsed_usec, 0 while below 1/10 s (noise). */
uint64_t progress_rate(uint64_t done, uint64_t elapsed_usec);
