/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Input: "PATTERN\nNAME". Invariants:
 * - compile either succeeds on a pattern made of allowed characters with an @v, or gives a reason;
 * - match returns NO, YES or RETRY (RETRY only for slash patterns); YES yields a valid version;
 * - format -> match round trip: metadata built from the input, formatted with the pattern, matches
 *   the pattern again and gives back the same values, whenever no formatted value contains a
 *   character of the pattern's literals (otherwise the non-greedy split may legitimately cut
 *   elsewhere);
 * - the same round trip for what a successful match extracted. */
#include "fuzz.h"

#include "sysupdate/instance.h"
#include "base/log.h"
#include "sysupdate/pattern.h"
#include "base/util.h"
#include "sysupdate/version.h"

#include <errno.h>
#include <inttypes.h>

#define FIELD_LETTERS "vufargtmsdlh"

/* Which characters occur in the literals of pattern s (after "@@" -> "@"). */
static void literal_chars(const char *s, bool ret[256]) {
        memset(ret, 0, 256 * sizeof(bool));
        for (const char *c = s; *c; c++) {
                if (*c == '@') {
                        if (c[1] == '@')
                                ret['@'] = true;
                        c++;
                } else if (*c != '/')
                        ret[(unsigned char) *c] = true;
        }
}

static bool clashes(const char *value, const bool literal[256]) {
        for (const char *c = value; *c; c++)
                if (literal[(unsigned char) *c])
                        return true;
        return false;
}

/* The text one field is formatted to, the same way a one-field pattern formats it. */
static char *format_one(char field, const struct instance_metadata *m) {
        char spec[8] = { 'x', '@', field, '_', '@', 'v', 0 };
        if (field == 'v')
                spec[3] = 0;
        struct pattern *p = NULL;
        const char *reason;
        FUZZ_ASSERT(pattern_compile(spec, &p, &reason) == 0, "%s: %s", spec, reason);
        char *s = NULL;
        int r = pattern_format(p, m, &s, NULL);
        pattern_free(p);
        FUZZ_ASSERT(r == 0 || r == -ENOMEM, "%s: %d", spec, r);
        if (!s)
                return NULL;
        /* Cut "x" in front and "_VERSION" behind. */
        size_t n = strlen(s) - (field == 'v' ? 0 : 1 + strlen(m->version));
        memmove(s, s + 1, n - 1);
        s[n - 1] = 0;
        return s;
}

static void assert_same_fields(const struct pattern *p, const struct instance_metadata *a,
                               const struct instance_metadata *b, const char *name) {
        const char *ps = pattern_string(p);
        if (pattern_has_field(p, 'v'))
                FUZZ_ASSERT(streq_ptr(a->version, b->version), "%s / %s", ps, name);
        if (pattern_has_field(p, 'u'))
                FUZZ_ASSERT(b->has_uuid && memcmp(a->uuid, b->uuid, 16) == 0, "%s / %s", ps, name);
        if (pattern_has_field(p, 'f'))
                FUZZ_ASSERT(b->has_flags && a->flags == b->flags, "%s / %s", ps, name);
        if (pattern_has_field(p, 'a'))
                FUZZ_ASSERT(a->no_auto == b->no_auto, "%s / %s", ps, name);
        if (pattern_has_field(p, 'r'))
                FUZZ_ASSERT(a->read_only == b->read_only, "%s / %s", ps, name);
        if (pattern_has_field(p, 'g'))
                FUZZ_ASSERT(a->growfs == b->growfs, "%s / %s", ps, name);
        if (pattern_has_field(p, 't'))
                FUZZ_ASSERT(b->has_mtime && a->mtime == b->mtime, "%s / %s", ps, name);
        if (pattern_has_field(p, 'm'))
                FUZZ_ASSERT(b->has_mode && a->mode == b->mode, "%s / %s", ps, name);
        if (pattern_has_field(p, 's'))
                FUZZ_ASSERT(b->has_size && a->size == b->size, "%s / %s", ps, name);
        if (pattern_has_field(p, 'd'))
                FUZZ_ASSERT(b->has_tries_done && a->tries_done == b->tries_done, "%s / %s", ps, name);
        if (pattern_has_field(p, 'l'))
                FUZZ_ASSERT(b->has_tries_left && a->tries_left == b->tries_left, "%s / %s", ps, name);
        if (pattern_has_field(p, 'h'))
                FUZZ_ASSERT(b->has_sha256 && memcmp(a->sha256, b->sha256, 32) == 0, "%s / %s", ps, name);
}

/* Format m with p, match the result and compare, when no formatted value contains a character of
 * the pattern's literals. */
static void round_trip(const struct pattern *p, const struct instance_metadata *m) {
        _cleanup_free_ char *name = NULL;
        char missing = 0;
        int r = pattern_format(p, m, &name, &missing);
        if (r == -ENOMEM)
                return;
        FUZZ_ASSERT(r == 0, "%s: format failed %d, missing @%c", pattern_string(p), r, missing);

        bool literal[256];
        literal_chars(pattern_string(p), literal);
        bool must_match = true;
        for (const char *f = FIELD_LETTERS; *f && must_match; f++) {
                if (!pattern_has_field(p, *f))
                        continue;
                _cleanup_free_ char *v = format_one(*f, m);
                if (!v)
                        return;
                must_match = !clashes(v, literal);
        }

        _cleanup_(instance_metadata_donep) struct instance_metadata back;
        instance_metadata_init(&back);
        r = pattern_match(p, name, &back);
        if (r == -ENOMEM)
                return;
        /* When a value does contain a literal's character, the split may land elsewhere and
         * yield other valid values: nothing to check then. */
        if (!must_match)
                return;
        FUZZ_ASSERT(r == PATTERN_YES, "%s: formatted \"%s\" does not match back (%d)", pattern_string(p),
                    name, r);
        assert_same_fields(p, m, &back, name);
}

static uint64_t take_u64(const uint8_t **data, size_t *size) {
        uint64_t v = 0;
        for (size_t i = 0; i < 8 && *size > 0; i++, (*data)++, (*size)--)
                v = v << 8 | **data;
        return v;
}

/* Metadata with every field set, its version made of version characters that are not in the
 * pattern's literals, its numbers from the remaining input. */
static int metadata_from_input(const char *pattern, const char *name, const uint8_t *data, size_t size,
                               struct instance_metadata *m) {
        bool literal[256];
        literal_chars(pattern, literal);
        char version[65];
        size_t n = 0;
        for (const char *c = name; *c && n < sizeof(version) - 1; c++) {
                char one[2] = { *c, 0 };
                if (version_is_valid(one) && !literal[(unsigned char) *c])
                        version[n++] = *c;
        }
        if (n == 0)
                return -EINVAL;
        version[n] = 0;
        m->version = strdup(version);
        if (!m->version)
                return -ENOMEM;

        m->has_uuid = m->has_flags = m->has_mtime = m->has_mode = m->has_size = true;
        m->has_tries_done = m->has_tries_left = m->has_sha256 = true;
        uint64_t bits = take_u64(&data, &size);
        m->no_auto = bits & 1;
        m->read_only = (bits >> 1) & 1;
        m->growfs = (bits >> 2) & 1;
        m->mode = (mode_t) ((bits >> 3) & 0775);
        m->flags = take_u64(&data, &size);
        m->mtime = take_u64(&data, &size) % (UINT64_MAX - 1);
        m->size = take_u64(&data, &size) % (UINT64_MAX - 1);
        m->tries_done = take_u64(&data, &size);
        m->tries_left = take_u64(&data, &size);
        for (size_t i = 0; i < 16; i++)
                m->uuid[i] = (uint8_t) (take_u64(&data, &size) + i);
        for (size_t i = 0; i < 32; i++)
                m->sha256[i] = (uint8_t) (take_u64(&data, &size) * 31 + i);
        return 0;
}

static void check_compiled(const char *s, const struct pattern *p) {
        FUZZ_ASSERT(streq(pattern_string(p), s), "%s", s);
        FUZZ_ASSERT(pattern_has_field(p, 'v'), "%s", s);
        FUZZ_ASSERT(pattern_has_slash(p) == (strchr(s, '/') != NULL), "%s", s);
        FUZZ_ASSERT(s[0] != '/' && !strstr(s, "//"), "%s", s);
        for (const char *c = s; *c; c++)
                FUZZ_ASSERT(*c >= 0x20 && *c <= 0x7e && !strchr("$*?[]!\\|", *c), "%s", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        log_set_max_level((enum log_level) 0);

        const uint8_t *rest = data;
        size_t n_rest = size;
        _cleanup_free_ char *pattern = fuzz_take(&rest, &n_rest, '\n');
        _cleanup_free_ char *name = fuzz_take(&rest, &n_rest, '\n');
        if (!pattern || !name)
                return 0;

        struct pattern *p = NULL;
        const char *reason = NULL;
        int r = pattern_compile(pattern, &p, &reason);
        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                FUZZ_ASSERT(r == -EINVAL && reason && *reason && !p, "%s: %d", pattern, r);
                return 0;
        }
        check_compiled(pattern, p);

        _cleanup_(instance_metadata_donep) struct instance_metadata m;
        instance_metadata_init(&m);
        r = pattern_match(p, name, &m);
        FUZZ_ASSERT(r == -ENOMEM || r == PATTERN_NO || r == PATTERN_YES || r == PATTERN_RETRY, "%d", r);
        if (r == PATTERN_RETRY)
                FUZZ_ASSERT(pattern_has_slash(p), "%s / %s", pattern, name);
        if (r == PATTERN_YES) {
                FUZZ_ASSERT(version_is_valid(m.version), "%s / %s", pattern, name);
                round_trip(p, &m);
        }
        struct pattern *const list[1] = { p };
        _cleanup_(instance_metadata_donep) struct instance_metadata m2;
        instance_metadata_init(&m2);
        int r2 = pattern_match_many(list, 1, name, &m2);
        FUZZ_ASSERT(r2 == r || r2 == -ENOMEM || r == -ENOMEM, "%d vs %d", r2, r);

        _cleanup_(instance_metadata_donep) struct instance_metadata gen;
        instance_metadata_init(&gen);
        if (metadata_from_input(pattern, name, rest, n_rest, &gen) == 0)
                round_trip(p, &gen);

        pattern_free(p);
        return 0;
}
