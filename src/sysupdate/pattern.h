/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The MatchPattern= language (spec sysupdate.md 3): a lexer, a strict matcher (the whole string
 * must be consumed, no prefix matches) and a formatter for new instance names. */

#include "instance.h"

#include <stdbool.h>

struct pattern;

enum pattern_result {
        PATTERN_NO = 0,
        PATTERN_YES = 1,
        PATTERN_RETRY = 2, /* the string is a directory prefix of the pattern: descend into it */
};

/* Compile s. On failure returns -EINVAL and sets *ret_reason to a static string naming the
 * problem ("no @v field", "@v occurs twice", "two fields without a separator: @v@u",
 * "reserved character '*'", ...). */
int pattern_compile(const char *s, struct pattern **ret, const char **ret_reason);
void pattern_free(struct pattern *p);
const char *pattern_string(const struct pattern *p);
bool pattern_has_field(const struct pattern *p, char field_letter);
bool pattern_has_slash(const struct pattern *p);

/* Match one string. On PATTERN_YES fills *ret (which the caller has initialised and must
 * instance_metadata_done()). Returns enum pattern_result or -ENOMEM. */
int pattern_match(const struct pattern *p, const char *s, struct instance_metadata *ret);

/* Try patterns in order; the first YES or RETRY wins. */
int pattern_match_many(struct pattern *const *patterns, size_t n, const char *s,
                       struct instance_metadata *ret);

/* Format a new name. -ENXIO with *ret_missing set to the field letter when the pattern needs a
 * value that m does not have. */
int pattern_format(const struct pattern *p, const struct instance_metadata *m, char **ret,
                   char *ret_missing);
