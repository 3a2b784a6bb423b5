/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A streaming JSON writer for --json=pretty|short output. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum json_mode { JSON_OFF, JSON_SHORT, JSON_PRETTY };

struct json_writer {
        FILE *f;
        bool pretty;
        int depth;
        bool first;       /* no element written yet at this depth */
        bool after_key;
};

void json_init(struct json_writer *w, FILE *f, enum json_mode mode);
void json_begin_object(struct json_writer *w);
void json_end_object(struct json_writer *w);
void json_begin_array(struct json_writer *w);
void json_end_array(struct json_writer *w);
void json_key(struct json_writer *w, const char *key);
void json_string(struct json_writer *w, const char *s); /* NULL writes null */
void json_uint(struct json_writer *w, uint64_t v);
void json_int(struct json_writer *w, int64_t v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);
/* Ends the document with a newline. */
void json_finish(struct json_writer *w);

/* Convenience: key + value. */
void json_kv_string(struct json_writer *w, const char *key, const char *s);
void json_kv_uint(struct json_writer *w, const char *key, uint64_t v);
/* v when has, else null. */
void json_kv_uint_or_null(struct json_writer *w, const char *key, bool has, uint64_t v);
void json_kv_bool(struct json_writer *w, const char *key, bool v);
void json_kv_strv(struct json_writer *w, const char *key, char *const *l);
