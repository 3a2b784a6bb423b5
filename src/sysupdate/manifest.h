/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The SHA256SUMS manifest of a url-file source (spec sysupdate.md 5.4): a strict parser that
 * rejects hostile input as a whole, and a writer for `abota publish`. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define MANIFEST_SIZE_MAX (4u * 1024 * 1024)  /* larger manifests are refused */
#define MANIFEST_LINE_MAX 4096u

struct manifest_entry {
        char *name;          /* relative, normalized; no control characters */
        uint8_t sha256[32];
};

struct manifest {
        struct manifest_entry *entries; /* in file order, BEST-BEFORE markers excluded */
        size_t n_entries;
        time_t *best_before;           /* midnight UTC of each parsable BEST-BEFORE-YYYY-MM-DD */
        size_t n_best_before;
};

/* Parse data[0..size). On malformed input returns -EBADMSG and sets *ret_reason to a malloc'ed
 * text "line N: reason" (the caller prefixes the URL). */
int manifest_parse(const char *data, size_t size, struct manifest **ret, char **ret_reason);
void manifest_free(struct manifest *m);

/* -ESTALE if any best-before date is before now (unless SYSTEMD_SYSUPDATE_VERIFY_FRESHNESS=0). */
int manifest_check_fresh(const struct manifest *m, time_t now);

/* NULL when name can be listed in a manifest, else why not ("file name contains a control
 * character", ...): the rules the parser applies to every name. */
const char *manifest_name_check(const char *name);

/* "YYYY-MM-DD" exactly, a real calendar day, as midnight UTC; -EINVAL otherwise. */
int manifest_parse_date(const char *s, time_t *ret);
/* The marker entry "BEST-BEFORE-<date>" with the SHA-256 of an empty file, for manifest_write();
 * ret->name is malloc'ed. -EINVAL when date is not a valid "YYYY-MM-DD". */
int manifest_best_before_entry(const char *date, struct manifest_entry *ret);

const struct manifest_entry *manifest_find(const struct manifest *m, const char *name);

/* Write entries sorted by name in the strict format "HEX  NAME\n" (as sha256sum writes it, so
 * `sha256sum -c SHA256SUMS` works on the server directory). A name the parser would refuse, or
 * a name listed twice, is logged and returns -EINVAL; write errors return -errno unlogged (the
 * caller knows the file). */
int manifest_write(FILE *f, const struct manifest_entry *entries, size_t n);
