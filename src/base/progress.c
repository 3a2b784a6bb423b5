/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Byte counts, rate and ETA instead of a coarse percentage (spec sysupdate.md 12, #37604). */
#include "progress.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_USEC 200000ULL

uint64_t progress_now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static void format_duration(char buf[static 16], uint64_t sec) {
        if (sec >= 100ULL * 3600)
                snprintf(buf, 16, ">99h");
        else if (sec >= 3600)
                snprintf(buf, 16, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, sec / 3600, sec / 60 % 60, sec % 60);
        else
                snprintf(buf, 16, "%" PRIu64 ":%02" PRIu64, sec / 60, sec % 60);
}

static unsigned pct_of(uint64_t done, uint64_t total) {
        return total == 0 ? 0 : done >= total ? 100 : (unsigned) (done * 100.0 / (double) total);
}

static unsigned percent(const struct progress *p) {
        return pct_of(p->done, p->total);
}

uint64_t progress_rate(uint64_t done, uint64_t elapsed_usec) {
        return elapsed_usec >= 100000 ? (uint64_t) ((double) done * 1e6 / (double) elapsed_usec) : 0;
}

void progress_format(char *buf, size_t size, const char *what, uint64_t done, uint64_t total,
                     uint64_t elapsed_usec) {
        char d[16], t[16], rate[16], eta[16];
        /* Bytes per second; below 1/10 s the estimate is noise. */
        uint64_t bps = progress_rate(done, elapsed_usec);
        format_bytes(d, done);
        int n;
        if (total > 0) {
                n = snprintf(buf, size, "%s  %s / %s  %u%%", what, d, format_bytes(t, total), pct_of(done, total));
        } else
                n = snprintf(buf, size, "%s  %s", what, d);
        if (n < 0 || (size_t) n >= size)
                return;
        if (bps == 0) {
                snprintf(buf + n, size - (size_t) n, "  -/s");
                return;
        }
        format_bytes(rate, bps);
        if (total > done) {
                format_duration(eta, (total - done + bps - 1) / bps);
                snprintf(buf + n, size - (size_t) n, "  %s/s  ETA %s", rate, eta);
        } else
                snprintf(buf + n, size - (size_t) n, "  %s/s", rate);
}


/* A plain line for logs: no control sequences, at info level like the other messages. */
static void log_line(struct progress *p, uint64_t now) {
        char line[256];
        progress_format(line, sizeof(line), p->what, p->done, p->total, now - p->start_usec);
        log_info("%s", line);
        p->last_draw_usec = now;
        p->last_percent = percent(p);
        p->last_line_done = p->done;
        p->drawn = true;
}

static bool line_due(const struct progress *p, uint64_t now) {
        uint64_t since = now - (p->drawn ? p->last_draw_usec : p->start_usec);
        if (since < PROGRESS_MIN_GAP_USEC)
                return false;
        return since >= PROGRESS_HEARTBEAT_USEC ||
               (p->total > 0 && percent(p) >= p->last_percent + PROGRESS_STEP_PERCENT);
}

static void draw(struct progress *p, uint64_t now) {
        char line[256];
        if (!p->tty) {
                log_line(p, now);
                return;
        }
        progress_format(line, sizeof(line), p->what, p->done, p->total, now - p->start_usec);
        /* \e[K clears what a longer previous line left behind. The cursor is left at column 0,
         * so that an error logged meanwhile (log.c knows nothing of this line) overwrites the
         * line instead of being glued to its end. */
        fprintf(stderr, "%s\x1b[K\r", line);
        fflush(stderr);
        p->last_draw_usec = now;
        p->drawn = true;
}

void progress_start(struct progress *p, const char *what, bool want) {
        *p = (struct progress) {
                .what = what,
                .enabled = want,
                .tty = isatty(STDERR_FILENO),
                .start_usec = progress_now_usec(),
        };
}

void progress_set_total(struct progress *p, uint64_t total) {
        p->total = total;
}

void progress_update(struct progress *p, uint64_t done) {
        p->done = done;
        if (!p->enabled)
                return;
        uint64_t now = progress_now_usec();
        if (p->tty ? !p->drawn || now - p->last_draw_usec >= REDRAW_USEC : line_due(p, now))
                draw(p, now);
}

void progress_end(struct progress *p) {
        if (!p->enabled || (!p->tty && p->drawn && p->last_line_done == p->done))
                return;
        draw(p, progress_now_usec());
        if (p->tty)
                fputc('\n', stderr);
        p->enabled = false;
}

void progress_abandon(struct progress *p) {
        p->enabled = false;
}
