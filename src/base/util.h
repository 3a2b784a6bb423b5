/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers shared by the whole library: cleanup attributes, string lists, paths, files. */

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}
void strv_freep(char ***l);

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Hand ownership out of a cleanup variable. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p = (p);                                                            \
                (p) = NULL;                                                                        \
                _p;                                                                                \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd = (fd);                                                                    \
                (fd) = -1;                                                                         \
                _fd;                                                                               \
        })

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
static inline bool isempty(const char *s) {
        return !s || !*s;
}
/* Returns a pointer just past the prefix, or NULL. */
const char *startswith(const char *s, const char *prefix);
const char *endswith(const char *s, const char *suffix);

/* NULL-terminated string vectors. */
size_t strv_length(char *const *l);
void strv_free(char **l);
bool strv_contains(char *const *l, const char *s);
/* Removes the first s from l (the last entry takes its place); false when l holds none. */
bool strv_remove(char **l, const char *s);
int strv_push(char ***l, char *s);       /* takes ownership of s (also on failure) */
int strv_extend(char ***l, const char *s); /* copies s */
char **strv_copy(char *const *l);
/* Split at whitespace; returns -ENOMEM only. */
int strv_split_whitespace(const char *s, char ***ret);

/* Tables of names indexed by an enum (NULL holes allowed): the name of i (NULL when out of range)
 * and the index of s (-1 when not listed or s is NULL). */
const char *string_table_to_string(const char *const *table, size_t n, int i);
int string_table_from_string(const char *const *table, size_t n, const char *s);

/* printf into a new string; NULL on OOM. */
char *strprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Length (1..4) of the UTF-8 sequence at s (at most n bytes, n > 0) with its code point in *ret,
 * or 0 when it is not valid UTF-8 (truncated, overlong, surrogate, beyond U+10FFFF). */
size_t utf8_decode(const char *s, size_t n, uint32_t *ret);

/* Paths. */
bool path_is_absolute(const char *p);
/* No "//", no "." or ".." components, no trailing slash (except "/"). */
bool path_is_normalized(const char *p);
/* True for a non-empty name without '/', not "." or "..", at most 255 bytes. */
bool filename_is_valid(const char *p);
/* a + "/" + b, without doubling slashes; NULL on OOM. */
char *path_join(const char *a, const char *b);
/* Creates path and its missing parents with mode; 0 or -errno. */
int mkdir_all(const char *path, mode_t mode);
/* Prefix p with root (root NULL or "/" returns a copy of p). */
char *path_prefix_root(const char *root, const char *p);
const char *path_basename(const char *p);
/* The directory part of p: "/a/b" -> "/a", "/a" -> "/", "a/b" -> "a"; -EINVAL when p has no '/'. */
int path_dirname(const char *p, char **ret);
/* Removes path, and below it when it is a directory (symlinks not followed); 0 when it does not
 * exist, else -errno. */
int rm_rf(const char *path);

/* Read a whole file, refusing files larger than max bytes (-EFBIG). Result is NUL-terminated. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);
/* Read a whole fd the same way. */
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size);

/* pread()/pwrite() all n bytes at off, retrying short transfers; reading past the end is -EIO. */
int pread_full(int fd, void *buf, size_t n, uint64_t off);
int pwrite_full(int fd, const void *buf, size_t n, uint64_t off);

/* Human-readable sizes: "1.5 GiB". buf must hold 16 bytes. */
const char *format_bytes(char buf[static 16], uint64_t n);

/* A timestamp (microseconds since the epoch) in local time, as systemd prints one in its tables:
 * "Wed 2026-03-04 05:06:07 UTC". buf must hold 64 bytes. */
const char *format_timestamp(char buf[static 64], uint64_t usec);

/* Whether the locale's character set is UTF-8 (LC_ALL, LC_CTYPE, LANG, read once), as systemd
 * decides: also when none of them is set, but not for an explicit C or POSIX locale.
 * glyph(utf8, ascii) is utf8 then, else the ASCII stand-in. */
bool is_locale_utf8(void);
const char *glyph(const char *utf8, const char *ascii);

/* Hex digits: the value 0..15 of one digit (either case), or -EINVAL. */
int unhexchar(char c);
/* n bytes as 2n lower-case hex digits plus NUL into ret. */
void hex_format(const uint8_t *p, size_t n, char *ret);
/* Exactly 2n hex digits (either case) into n bytes; -EINVAL otherwise. */
int hex_parse(const char *s, size_t n, uint8_t *ret);

/* UUIDs as 16 raw bytes in textual (big-endian) order. */
int uuid_parse(const char *s, uint8_t ret[16]); /* with or without dashes, any case */
void uuid_format(const uint8_t id[16], char ret[static 37]); /* dashed, lower case */
bool uuid_is_null(const uint8_t id[16]);

/* Parse helpers returning 0 or -EINVAL/-ERANGE. */
int parse_boolean(const char *s); /* 1, 0, or -EINVAL */
int parse_uint64(const char *s, int base, uint64_t *ret);
/* "10M", "2G", "4096": base-1024 suffixes K M G T P E. */
int parse_size(const char *s, uint64_t *ret);

/* Sleeps ms milliseconds, through interrupting signals. */
void sleep_ms(unsigned ms);
