/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pattern.h"

#include "base/util.h"
#include "version.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The order of this string indexes the reason tables below. */
#define FIELD_LETTERS "vufargtmsdlh"
#define N_FIELDS 12

/* @m accepts no world-write, setuid, setgid or sticky bits (spec 3.2). */
#define MODE_ALLOWED 0775

enum element_type {
        ELEMENT_LITERAL,
        ELEMENT_FIELD,
        ELEMENT_SLASH,
};

struct element {
        enum element_type type;
        char field;    /* ELEMENT_FIELD: one of FIELD_LETTERS */
        char *literal; /* ELEMENT_LITERAL: "@@" decoded to "@", never empty */
        size_t length;
};

struct pattern {
        char *string;
        struct element *elements;
        size_t n_elements;
        unsigned fields; /* bit i set: FIELD_LETTERS[i] occurs */
        bool has_slash;
};

static const char *const reason_twice[N_FIELDS] = {
        "@v occurs twice", "@u occurs twice", "@f occurs twice", "@a occurs twice",
        "@r occurs twice", "@g occurs twice", "@t occurs twice", "@m occurs twice",
        "@s occurs twice", "@d occurs twice", "@l occurs twice", "@h occurs twice",
};

#define NO_SEPARATOR(x)                                                                            \
        {                                                                                          \
                "two fields without a separator: @" x "@v",                                        \
                "two fields without a separator: @" x "@u",                                        \
                "two fields without a separator: @" x "@f",                                        \
                "two fields without a separator: @" x "@a",                                        \
                "two fields without a separator: @" x "@r",                                        \
                "two fields without a separator: @" x "@g",                                        \
                "two fields without a separator: @" x "@t",                                        \
                "two fields without a separator: @" x "@m",                                        \
                "two fields without a separator: @" x "@s",                                        \
                "two fields without a separator: @" x "@d",                                        \
                "two fields without a separator: @" x "@l",                                        \
                "two fields without a separator: @" x "@h",                                        \
        }
static const char *const reason_no_separator[N_FIELDS][N_FIELDS] = {
        NO_SEPARATOR("v"), NO_SEPARATOR("u"), NO_SEPARATOR("f"), NO_SEPARATOR("a"),
        NO_SEPARATOR("r"), NO_SEPARATOR("g"), NO_SEPARATOR("t"), NO_SEPARATOR("m"),
        NO_SEPARATOR("s"), NO_SEPARATOR("d"), NO_SEPARATOR("l"), NO_SEPARATOR("h"),
};

static int field_index(char c) {
        const char *p = c ? strchr(FIELD_LETTERS, c) : NULL;
        return p ? (int) (p - FIELD_LETTERS) : -1;
}

/* NULL when c may appear in a literal, else why not. */
static const char *literal_char_reason(char c) {
        unsigned char u = (unsigned char) c;
        if (u < 0x20 || u > 0x7e)
                return "control or non-ASCII character";
        switch (c) {
        case '$':
                return "reserved character '$'";
        case '*':
                return "reserved character '*'";
        case '?':
                return "reserved character '?'";
        case '[':
                return "reserved character '['";
        case ']':
                return "reserved character ']'";
        case '!':
                return "reserved character '!'";
        case '\\':
                return "reserved character '\\'";
        case '|':
                return "reserved character '|'";
        default:
                return NULL;
        }
}

void pattern_free(struct pattern *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_elements; i++)
                free(p->elements[i].literal);
        free(p->elements);
        free(p->string);
        free(p);
}

static void pattern_freep(struct pattern **p) {
        pattern_free(*p);
}

static const struct element *last_element(const struct pattern *p) {
        return p->n_elements > 0 ? &p->elements[p->n_elements - 1] : NULL;
}

static int push_literal(struct pattern *p, const char *text, size_t length) {
        char *copy = strndup(text, length);
        if (!copy)
                return -ENOMEM;
        p->elements[p->n_elements++] = (struct element) {
                .type = ELEMENT_LITERAL,
                .literal = copy,
                .length = length,
        };
        return 0;
}

/* "." and ".." components would make a formatted name escape or alias its directory. */
static bool has_dot_component(const struct pattern *p) {
        size_t start = 0;
        for (size_t i = 0; i <= p->n_elements; i++) {
                if (i < p->n_elements && p->elements[i].type != ELEMENT_SLASH)
                        continue;
                const struct element *e = &p->elements[start];
                if (i == start + 1 && e->type == ELEMENT_LITERAL &&
                    (streq(e->literal, ".") || streq(e->literal, "..")))
                        return true;
                start = i + 1;
        }
        return false;
}

static int lex(struct pattern *p, const char *s, const char **reason) {
        size_t n = strlen(s);
        if (n == 0) {
                *reason = "empty pattern";
                return -EINVAL;
        }

        /* Every element consumes at least one character of s. */
        p->elements = calloc(n, sizeof(struct element));
        _cleanup_free_ char *literal = malloc(n + 1);
        if (!p->elements || !literal)
                return -ENOMEM;
        size_t n_literal = 0;

        for (size_t i = 0;; i++) {
                char c = s[i];

                if (c == '@' && s[i + 1] == '@') {
                        literal[n_literal++] = '@';
                        i++;
                        continue;
                }
                if (c != '@' && c != '/' && c != 0) {
                        const char *why = literal_char_reason(c);
                        if (why) {
                                *reason = why;
                                return -EINVAL;
                        }
                        literal[n_literal++] = c;
                        continue;
                }

                if (n_literal > 0) {
                        int r = push_literal(p, literal, n_literal);
                        if (r < 0)
                                return r;
                        n_literal = 0;
                }
                if (c == 0)
                        break;

                const struct element *prev = last_element(p);
                if (c == '/') {
                        if (!prev)
                                *reason = "pattern starts with '/'";
                        else if (prev->type == ELEMENT_SLASH)
                                *reason = "empty path component '//'";
                        else if (s[i + 1] == 0)
                                *reason = "pattern ends with '/'";
                        else {
                                p->elements[p->n_elements++] = (struct element) { .type = ELEMENT_SLASH };
                                p->has_slash = true;
                                continue;
                        }
                        return -EINVAL;
                }

                int f = field_index(s[i + 1]);
                if (s[i + 1] == 0)
                        *reason = "trailing '@' (write '@@' for a literal '@')";
                else if (f < 0)
                        *reason = "unknown field after '@' (fields: @v @u @f @a @r @g @t @m @s @d @l @h; "
                                  "'@@' is a literal '@')";
                else if (p->fields & (1u << f))
                        *reason = reason_twice[f];
                else if (prev && prev->type == ELEMENT_FIELD)
                        *reason = reason_no_separator[field_index(prev->field)][f];
                else {
                        p->elements[p->n_elements++] = (struct element) {
                                .type = ELEMENT_FIELD,
                                .field = s[i + 1],
                        };
                        p->fields |= 1u << f;
                        i++;
                        continue;
                }
                return -EINVAL;
        }

        if (!(p->fields & 1u)) {
                *reason = "no @v field";
                return -EINVAL;
        }
        if (has_dot_component(p)) {
                *reason = "'.' or '..' as a path component";
                return -EINVAL;
        }
        return 0;
}

int pattern_compile(const char *s, struct pattern **ret, const char **ret_reason) {
        _cleanup_(pattern_freep) struct pattern *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->string = strdup(s);
        if (!p->string)
                return -ENOMEM;

        const char *reason = NULL;
        int r = lex(p, s, &reason);
        if (r < 0) {
                if (ret_reason)
                        *ret_reason = reason ? reason : "out of memory";
                return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

const char *pattern_string(const struct pattern *p) {
        return p->string;
}

bool pattern_has_field(const struct pattern *p, char field_letter) {
        int f = field_index(field_letter);
        return f >= 0 && (p->fields & (1u << f));
}

bool pattern_has_slash(const struct pattern *p) {
        return p->has_slash;
}

static bool all_chars(const char *s, const char *accept) {
        return *s && s[strspn(s, accept)] == 0;
}

/* Unsigned integers in the given base, digits only: no sign, no blanks, no "0x". */
static int parse_digits(const char *s, int base, uint64_t *ret) {
        const char *accept = base == 16 ? "0123456789abcdefABCDEF" : base == 8 ? "01234567" : "0123456789";
        if (!all_chars(s, accept))
                return -EINVAL;
        return parse_uint64(s, base, ret);
}

static bool seconds_fit_time_t(uint64_t sec) {
        time_t t = (time_t) sec;
        return t >= 0 && (uint64_t) t == sec;
}

static int parse_flag(const char *s, int *ret) {
        int b = parse_boolean(s);
        if (b < 0)
                return b;
        *ret = b;
        return 0;
}

/* Validate and store one captured field (spec 3.2). -EINVAL when the text is not acceptable. */
static int parse_field(char field, const char *text, struct instance_metadata *m) {
        uint64_t u;
        int r;

        switch (field) {
        case 'v':
                if (!version_is_valid(text))
                        return -EINVAL;
                free(m->version);
                m->version = strdup(text);
                return m->version ? 0 : -ENOMEM;
        case 'u':
                r = uuid_parse(text, m->uuid);
                m->has_uuid = r >= 0;
                return r;
        case 'f':
                r = parse_digits(text, 16, &m->flags);
                m->has_flags = r >= 0;
                return r;
        case 'a':
                return parse_flag(text, &m->no_auto);
        case 'r':
                return parse_flag(text, &m->read_only);
        case 'g':
                return parse_flag(text, &m->growfs);
        case 't':
                r = parse_digits(text, 10, &u);
                if (r < 0)
                        return r;
                /* UINT64_MAX means "unset" elsewhere; whole seconds must fit time_t. */
                if (u == UINT64_MAX || !seconds_fit_time_t(u / 1000000))
                        return -ERANGE;
                m->mtime = u;
                m->has_mtime = true;
                return 0;
        case 'm':
                r = parse_digits(text, 8, &u);
                if (r < 0)
                        return r;
                if (u & ~(uint64_t) MODE_ALLOWED)
                        return -EPERM;
                m->mode = (mode_t) u;
                m->has_mode = true;
                return 0;
        case 's':
                r = parse_digits(text, 10, &u);
                if (r < 0)
                        return r;
                if (u == UINT64_MAX)
                        return -ERANGE;
                m->size = u;
                m->has_size = true;
                return 0;
        case 'd':
                r = parse_digits(text, 10, &m->tries_done);
                m->has_tries_done = r >= 0;
                return r;
        case 'l':
                r = parse_digits(text, 10, &m->tries_left);
                m->has_tries_left = r >= 0;
                return r;
        case 'h':
                r = hex_parse(text, sizeof(m->sha256), m->sha256);
                m->has_sha256 = r >= 0;
                return r;
        default:
                return -EINVAL;
        }
}

/* Move the value of one field from src to dst, leaving other fields of dst alone. */
static void take_field(struct instance_metadata *dst, struct instance_metadata *src, char field) {
        switch (field) {
        case 'v':
                free(dst->version);
                dst->version = TAKE_PTR(src->version);
                break;
        case 'u':
                dst->has_uuid = src->has_uuid;
                memcpy(dst->uuid, src->uuid, sizeof(dst->uuid));
                break;
        case 'f':
                dst->has_flags = src->has_flags;
                dst->flags = src->flags;
                break;
        case 'a':
                dst->no_auto = src->no_auto;
                break;
        case 'r':
                dst->read_only = src->read_only;
                break;
        case 'g':
                dst->growfs = src->growfs;
                break;
        case 't':
                dst->has_mtime = src->has_mtime;
                dst->mtime = src->mtime;
                break;
        case 'm':
                dst->has_mode = src->has_mode;
                dst->mode = src->mode;
                break;
        case 's':
                dst->has_size = src->has_size;
                dst->size = src->size;
                break;
        case 'd':
                dst->has_tries_done = src->has_tries_done;
                dst->tries_done = src->tries_done;
                break;
        case 'l':
                dst->has_tries_left = src->has_tries_left;
                dst->tries_left = src->tries_left;
                break;
        case 'h':
                dst->has_sha256 = src->has_sha256;
                memcpy(dst->sha256, src->sha256, sizeof(dst->sha256));
                break;
        }
}

/* Where the text of field i ends (spec 3.3 step 4): at the end of s when it is the last element,
 * at the next '/' when a slash follows, else at the leftmost occurrence of the next literal (no
 * backtracking). NULL when that literal does not occur. */
static const char *field_end(const struct pattern *p, size_t i, const char *at) {
        if (i + 1 == p->n_elements)
                return at + strlen(at);
        const struct element *next = &p->elements[i + 1];
        if (next->type == ELEMENT_SLASH)
                return at + strcspn(at, "/");
        return strstr(at, next->literal);
}

int pattern_match(const struct pattern *p, const char *s, struct instance_metadata *ret) {
        _cleanup_(instance_metadata_donep) struct instance_metadata found;
        instance_metadata_init(&found);
        const char *at = s;

        for (size_t i = 0; i < p->n_elements; i++) {
                const struct element *e = &p->elements[i];

                switch (e->type) {
                case ELEMENT_LITERAL:
                        if (strncmp(at, e->literal, e->length) != 0)
                                return PATTERN_NO;
                        at += e->length;
                        break;

                case ELEMENT_SLASH:
                        /* s names a directory on the way to what the pattern describes. */
                        if (*at == 0 || (at[0] == '/' && at[1] == 0))
                                return PATTERN_RETRY;
                        if (*at != '/')
                                return PATTERN_NO;
                        at++;
                        break;

                case ELEMENT_FIELD: {
                        const char *end = field_end(p, i, at);
                        if (!end)
                                return PATTERN_NO;
                        _cleanup_free_ char *text = strndup(at, (size_t) (end - at));
                        if (!text)
                                return -ENOMEM;
                        int r = parse_field(e->field, text, &found);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return PATTERN_NO;
                        at = end;
                        break;
                }
                }
        }

        /* Strict: "foo_@v.raw" must not match "foo_1.raw.tar" (spec 3.3 step 5). */
        if (*at != 0)
                return PATTERN_NO;

        for (size_t i = 0; i < p->n_elements; i++)
                if (p->elements[i].type == ELEMENT_FIELD)
                        take_field(ret, &found, p->elements[i].field);
        return PATTERN_YES;
}

int pattern_match_many(struct pattern *const *patterns, size_t n, const char *s,
                       struct instance_metadata *ret) {
        for (size_t i = 0; i < n; i++) {
                int r = pattern_match(patterns[i], s, ret);
                if (r != PATTERN_NO)
                        return r;
        }
        return PATTERN_NO;
}

static bool field_is_set(const struct instance_metadata *m, char field) {
        switch (field) {
        case 'v':
                return m->version != NULL;
        case 'u':
                return m->has_uuid;
        case 'f':
                return m->has_flags;
        case 'a':
                return m->no_auto >= 0;
        case 'r':
                return m->read_only >= 0;
        case 'g':
                return m->growfs >= 0;
        case 't':
                return m->has_mtime;
        case 'm':
                return m->has_mode;
        case 's':
                return m->has_size;
        case 'd':
                return m->has_tries_done;
        case 'l':
                return m->has_tries_left;
        case 'h':
                return m->has_sha256;
        default:
                return false;
        }
}

static void put_hex(FILE *f, const uint8_t *bytes, size_t n) {
        char buf[2 * 32 + 1];
        hex_format(bytes, n, buf);
        fputs(buf, f);
}

/* Spec 3.6: uuid as 32 lowercase hex digits, flags bare lowercase hex, mode %03o, booleans 1/0. */
static void put_field(FILE *f, char field, const struct instance_metadata *m) {
        switch (field) {
        case 'v':
                fputs(m->version, f);
                break;
        case 'u':
                put_hex(f, m->uuid, sizeof(m->uuid));
                break;
        case 'f':
                fprintf(f, "%" PRIx64, m->flags);
                break;
        case 'a':
                fputc(m->no_auto ? '1' : '0', f);
                break;
        case 'r':
                fputc(m->read_only ? '1' : '0', f);
                break;
        case 'g':
                fputc(m->growfs ? '1' : '0', f);
                break;
        case 't':
                fprintf(f, "%" PRIu64, m->mtime);
                break;
        case 'm':
                fprintf(f, "%03o", (unsigned) m->mode);
                break;
        case 's':
                fprintf(f, "%" PRIu64, m->size);
                break;
        case 'd':
                fprintf(f, "%" PRIu64, m->tries_done);
                break;
        case 'l':
                fprintf(f, "%" PRIu64, m->tries_left);
                break;
        case 'h':
                put_hex(f, m->sha256, sizeof(m->sha256));
                break;
        }
}

int pattern_format(const struct pattern *p, const struct instance_metadata *m, char **ret,
                   char *ret_missing) {
        for (size_t i = 0; i < p->n_elements; i++) {
                const struct element *e = &p->elements[i];
                if (e->type == ELEMENT_FIELD && !field_is_set(m, e->field)) {
                        if (ret_missing)
                                *ret_missing = e->field;
                        return -ENXIO;
                }
        }

        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_elements; i++) {
                const struct element *e = &p->elements[i];
                if (e->type == ELEMENT_LITERAL)
                        fputs(e->literal, f);
                else if (e->type == ELEMENT_SLASH)
                        fputc('/', f);
                else
                        put_field(f, e->field, m);
        }
        bool failed = ferror(f);
        if (fclose(f) != 0 || failed) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}
