/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json.h"

#include <inttypes.h>

void json_init(struct json_writer *w, FILE *f, enum json_mode mode) {
        *w = (struct json_writer) { .f = f, .pretty = mode == JSON_PRETTY, .first = true };
}

static void indent(struct json_writer *w) {
        if (!w->pretty)
                return;
        fputc('\n', w->f);
        for (int i = 0; i < w->depth; i++)
                fputs("\t", w->f);
}

/* Separator before a value (or key) at the current depth. */
static void before_value(struct json_writer *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (!w->first)
                fputc(',', w->f);
        if (w->depth > 0)
                indent(w);
        w->first = false;
}

static void open(struct json_writer *w, char c) {
        before_value(w);
        fputc(c, w->f);
        w->depth++;
        w->first = true;
}

static void close_(struct json_writer *w, char c) {
        w->depth--;
        if (!w->first)
                indent(w);
        fputc(c, w->f);
        w->first = false;
}

void json_begin_object(struct json_writer *w) {
        open(w, '{');
}
void json_end_object(struct json_writer *w) {
        close_(w, '}');
}
void json_begin_array(struct json_writer *w) {
        open(w, '[');
}
void json_end_array(struct json_writer *w) {
        close_(w, ']');
}

static void write_escaped(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"': fputs("\\\"", f); break;
                case '\\': fputs("\\\\", f); break;
                case '\n': fputs("\\n", f); break;
                case '\t': fputs("\\t", f); break;
                case '\r': fputs("\\r", f); break;
                default:
                        if (*p < 0x20)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                }
        }
        fputc('"', f);
}

void json_key(struct json_writer *w, const char *key) {
        before_value(w);
        write_escaped(w->f, key);
        fputs(w->pretty ? " : " : ":", w->f);
        w->after_key = true;
}

void json_string(struct json_writer *w, const char *s) {
        if (!s) {
                json_null(w);
                return;
        }
        before_value(w);
        write_escaped(w->f, s);
}

void json_uint(struct json_writer *w, uint64_t v) {
        before_value(w);
        fprintf(w->f, "%" PRIu64, v);
}

void json_int(struct json_writer *w, int64_t v) {
        before_value(w);
        fprintf(w->f, "%" PRId64, v);
}

void json_bool(struct json_writer *w, bool v) {
        before_value(w);
        fputs(v ? "true" : "false", w->f);
}

void json_null(struct json_writer *w) {
        before_value(w);
        fputs("null", w->f);
}

void json_finish(struct json_writer *w) {
        fputc('\n', w->f);
}

void json_kv_string(struct json_writer *w, const char *key, const char *s) {
        json_key(w, key);
        json_string(w, s);
}

void json_kv_uint(struct json_writer *w, const char *key, uint64_t v) {
        json_key(w, key);
        json_uint(w, v);
}

void json_kv_uint_or_null(struct json_writer *w, const char *key, bool has, uint64_t v) {
        json_key(w, key);
        if (has)
                json_uint(w, v);
        else
                json_null(w);
}

void json_kv_bool(struct json_writer *w, const char *key, bool v) {
        json_key(w, key);
        json_bool(w, v);
}

void json_kv_strv(struct json_writer *w, const char *key, char *const *l) {
        json_key(w, key);
        json_begin_array(w);
        for (size_t i = 0; l && l[i]; i++)
                json_string(w, l[i]);
        json_end_array(w);
}
