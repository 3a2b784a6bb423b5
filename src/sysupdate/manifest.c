/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manifest.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>

#define BEST_BEFORE_PREFIX "BEST-BEFORE-"
#define SHA256_HEX_LEN 64

/* SHA-256 of zero bytes: what a BEST-BEFORE marker line should list. */
static const char empty_sha256_hex[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

void manifest_free(struct manifest *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n_entries; i++)
                free(m->entries[i].name);
        free(m->entries);
        free(m->best_before);
        free(m);
}

static void manifest_freep(struct manifest **m) {
        manifest_free(*m);
}

/* Why name (len bytes, not NUL-terminated) cannot appear in a manifest, or NULL when it can. The
 * rules protect clients that append the name to a URL or a directory: relative, normalized, no
 * control characters, valid UTF-8. */
static const char *name_check(const char *name, size_t len) {
        if (len == 0)
                return "empty file name";
        if (name[0] == '/')
                return "absolute file name";
        size_t component = 0;
        for (size_t i = 0; i < len;) {
                uint32_t c;
                size_t k = utf8_decode(name + i, len - i, &c);
                if (k == 0)
                        return "file name is not valid UTF-8";
                if (c < 0x20 || (c >= 0x7f && c < 0xa0))
                        return "file name contains a control character";
                if (c == '/') {
                        if (component == 0)
                                return "file name contains '//'";
                        component = 0;
                } else
                        component += k;
                if (component > 255)
                        return "file name component longer than 255 bytes";
                i += k;
        }
        if (component == 0)
                return "file name ends with '/'";
        /* "." and ".." as whole components */
        for (size_t start = 0; start < len;) {
                const char *slash = memchr(name + start, '/', len - start);
                size_t end = slash ? (size_t) (slash - name) : len;
                size_t n = end - start;
                if ((n == 1 && name[start] == '.') || (n == 2 && name[start] == '.' && name[start + 1] == '.'))
                        return "file name contains a '.' or '..' component";
                start = end + 1;
        }
        return NULL;
}

int manifest_parse_date(const char *s, time_t *ret) {
        unsigned v[3] = {};
        static const unsigned digits[3] = { 4, 2, 2 };
        const char *p = s;
        for (size_t f = 0; f < 3; f++) {
                for (unsigned i = 0; i < digits[f]; i++, p++) {
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        v[f] = v[f] * 10 + (unsigned) (*p - '0');
                }
                if (f < 2 && *p++ != '-')
                        return -EINVAL;
        }
        if (*p != 0 || v[1] < 1 || v[1] > 12 || v[2] < 1)
                return -EINVAL;
        static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
        if (v[2] > mdays[v[1] - 1] || (v[1] == 2 && v[2] == 29 && !leap))
                return -EINVAL;
        struct tm tm = { .tm_year = (int) v[0] - 1900, .tm_mon = (int) v[1] - 1, .tm_mday = (int) v[2] };
        time_t t = timegm(&tm);
        if (t == (time_t) -1)
                return -ERANGE;
        *ret = t;
        return 0;
}

const char *manifest_name_check(const char *name) {
        return name_check(name, strlen(name));
}

static int reason_set(char **ret_reason, size_t line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int reason_set(char **ret_reason, size_t line, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        char *t = line > 0 ? strprintf("line %zu: %s", line, s) : strprintf("%s", s);
        if (!t)
                return -ENOMEM;
        if (ret_reason)
                *ret_reason = t;
        else
                free(t);
        return -EBADMSG;
}

static int append_best_before(struct manifest *m, const char *name, const char *hex, size_t line) {
        const char *date = name + strlen(BEST_BEFORE_PREFIX);
        time_t t;
        if (manifest_parse_date(date, &t) < 0) {
                log_warning("SHA256SUMS line %zu: cannot parse best-before date '%s', ignoring.", line, date);
                return 0;
        }
        if (strncasecmp(hex, empty_sha256_hex, SHA256_HEX_LEN) != 0)
                log_warning("SHA256SUMS line %zu: best-before marker lists a hash other than that of an empty file.",
                            line);
        time_t *b = realloc(m->best_before, (m->n_best_before + 1) * sizeof(time_t));
        if (!b)
                return -ENOMEM;
        m->best_before = b;
        m->best_before[m->n_best_before++] = t;
        return 0;
}

/* One line without its '\n'. Returns 0, -EBADMSG with *ret_reason set, or -ENOMEM. */
static int parse_line(struct manifest *m, const char *s, size_t len, size_t line, char **ret_reason) {
        if (len == 0)
                return reason_set(ret_reason, line, "blank line");
        if (len > MANIFEST_LINE_MAX)
                return reason_set(ret_reason, line, "longer than %u bytes", MANIFEST_LINE_MAX);
        if (memchr(s, 0, len))
                return reason_set(ret_reason, line, "contains a NUL byte");
        if (memchr(s, '\r', len))
                return reason_set(ret_reason, line, "contains a carriage return (DOS line ending?)");
        if (s[0] == '\\')
                return reason_set(ret_reason, line, "escaped file names (leading '\\') are not supported");
        for (size_t i = 0; i < SHA256_HEX_LEN; i++)
                if (i >= len || unhexchar(s[i]) < 0)
                        return reason_set(ret_reason, line, "hash is not 64 hex digits");
        if (len < SHA256_HEX_LEN + 2 || s[SHA256_HEX_LEN] != ' ')
                return reason_set(ret_reason, line, "expected one space after the hash");
        if (s[SHA256_HEX_LEN + 1] != ' ' && s[SHA256_HEX_LEN + 1] != '*')
                return reason_set(ret_reason, line, "expected ' ' or '*' between the hash and the file name");

        const char *name = s + SHA256_HEX_LEN + 2;
        size_t name_len = len - SHA256_HEX_LEN - 2;
        const char *why = name_check(name, name_len);
        if (why)
                return reason_set(ret_reason, line, "%s", why);

        _cleanup_free_ char *n = strndup(name, name_len);
        if (!n)
                return -ENOMEM;
        if (startswith(n, BEST_BEFORE_PREFIX))
                return append_best_before(m, n, s, line);

        struct manifest_entry *e = realloc(m->entries, (m->n_entries + 1) * sizeof(*e));
        if (!e)
                return -ENOMEM;
        m->entries = e;
        e = &m->entries[m->n_entries];
        char hex[SHA256_HEX_LEN + 1];
        memcpy(hex, s, SHA256_HEX_LEN);
        hex[SHA256_HEX_LEN] = 0;
        (void) hex_parse(hex, 32, e->sha256); /* digits checked above */
        e->name = TAKE_PTR(n);
        m->n_entries++;
        return 0;
}

int manifest_best_before_entry(const char *date, struct manifest_entry *ret) {
        time_t t;
        if (manifest_parse_date(date, &t) < 0)
                return -EINVAL;
        char *name = strprintf(BEST_BEFORE_PREFIX "%s", date);
        if (!name)
                return -ENOMEM;
        *ret = (struct manifest_entry) { .name = name };
        (void) hex_parse(empty_sha256_hex, 32, ret->sha256);
        return 0;
}

struct name_ref {
        const char *name;
        size_t line;
};

static int name_ref_cmp(const void *a, const void *b) {
        const struct name_ref *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

static int check_duplicates(const struct manifest *m, const size_t *lines, char **ret_reason) {
        if (m->n_entries < 2)
                return 0;
        _cleanup_free_ struct name_ref *refs = calloc(m->n_entries, sizeof(*refs));
        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_entries; i++)
                refs[i] = (struct name_ref) { m->entries[i].name, lines[i] };
        qsort(refs, m->n_entries, sizeof(*refs), name_ref_cmp);
        for (size_t i = 1; i < m->n_entries; i++)
                if (streq(refs[i - 1].name, refs[i].name))
                        return reason_set(ret_reason, refs[i].line, "duplicate file name '%s' (first on line %zu)",
                                          refs[i].name, refs[i - 1].line);
        return 0;
}

int manifest_parse(const char *data, size_t size, struct manifest **ret, char **ret_reason) {
        if (size > MANIFEST_SIZE_MAX)
                return reason_set(ret_reason, 0, "%zu bytes, larger than the limit of %u bytes", size,
                                  MANIFEST_SIZE_MAX);

        _cleanup_(manifest_freep) struct manifest *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        _cleanup_free_ size_t *lines = NULL; /* line number of each entry */
        size_t line = 0;
        for (size_t pos = 0; pos < size;) {
                line++;
                const char *nl = memchr(data + pos, '\n', size - pos);
                if (!nl)
                        return reason_set(ret_reason, line, "missing final newline");
                size_t len = (size_t) (nl - (data + pos));
                size_t before = m->n_entries;
                int r = parse_line(m, data + pos, len, line, ret_reason);
                if (r < 0)
                        return r;
                if (m->n_entries > before) {
                        size_t *l = realloc(lines, m->n_entries * sizeof(size_t));
                        if (!l)
                                return -ENOMEM;
                        lines = l;
                        lines[before] = line;
                }
                pos += len + 1;
        }
        int r = check_duplicates(m, lines, ret_reason);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int manifest_check_fresh(const struct manifest *m, time_t now) {
        const char *e = getenv("SYSTEMD_SYSUPDATE_VERIFY_FRESHNESS");
        if (e && parse_boolean(e) == 0)
                return 0;
        for (size_t i = 0; i < m->n_best_before; i++)
                if (m->best_before[i] < now)
                        return -ESTALE;
        return 0;
}

const struct manifest_entry *manifest_find(const struct manifest *m, const char *name) {
        for (size_t i = 0; i < m->n_entries; i++)
                if (streq(m->entries[i].name, name))
                        return &m->entries[i];
        return NULL;
}

static int entry_ptr_cmp(const void *a, const void *b) {
        const struct manifest_entry *const *x = a, *const *y = b;
        return strcmp((*x)->name, (*y)->name);
}

int manifest_write(FILE *f, const struct manifest_entry *entries, size_t n) {
        _cleanup_free_ const struct manifest_entry **sorted = calloc(n ? n : 1, sizeof(*sorted));
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *why = manifest_name_check(entries[i].name);
                if (why)
                        return log_error_errno(EINVAL, "cannot list file in SHA256SUMS: %s", why);
                sorted[i] = &entries[i];
        }
        qsort(sorted, n, sizeof(*sorted), entry_ptr_cmp);
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && streq(sorted[i - 1]->name, sorted[i]->name))
                        return log_error_errno(EINVAL, "%s: listed twice in SHA256SUMS", sorted[i]->name);
                char hex[SHA256_HEX_LEN + 1];
                hex_format(sorted[i]->sha256, 32, hex);
                if (fprintf(f, "%s  %s\n", hex, sorted[i]->name) < 0)
                        return errno > 0 ? -errno : -EIO;
        }
        if (fflush(f) != 0 || ferror(f))
                return errno > 0 ? -errno : -EIO;
        return 0;
}
