/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

const char *startswith(const char *s, const char *prefix) {
        size_t n = strlen(prefix);
        return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

const char *endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        if (b > a)
                return NULL;
        return strcmp(s + a - b, suffix) == 0 ? s + a - b : NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;
        while (l && l[n])
                n++;
        return n;
}

void strv_free(char **l) {
        for (size_t i = 0; l && l[i]; i++)
                free(l[i]);
        free(l);
}

void strv_freep(char ***l) {
        strv_free(*l);
}

bool strv_contains(char *const *l, const char *s) {
        for (size_t i = 0; l && l[i]; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

bool strv_remove(char **l, const char *s) {
        size_t n = strv_length(l);
        for (size_t i = 0; i < n; i++)
                if (streq(l[i], s)) {
                        free(l[i]);
                        l[i] = l[n - 1];
                        l[n - 1] = NULL;
                        return true;
                }
        return false;
}

int strv_push(char ***l, char *s) {
        size_t n = strv_length(*l);
        char **m = realloc(*l, sizeof(char *) * (n + 2));
        if (!m) {
                free(s);
                return -ENOMEM;
        }
        m[n] = s;
        m[n + 1] = NULL;
        *l = m;
        return 0;
}

int strv_extend(char ***l, const char *s) {
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        return strv_push(l, c);
}

char **strv_copy(char *const *l) {
        char **r = calloc(strv_length(l) + 1, sizeof(char *));
        if (!r)
                return NULL;
        for (size_t i = 0; l && l[i]; i++)
                if (!(r[i] = strdup(l[i]))) {
                        strv_free(r);
                        return NULL;
                }
        return r;
}

int strv_split_whitespace(const char *s, char ***ret) {
        char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        const char *p = s;
        for (;;) {
                while (*p && isspace((unsigned char) *p))
                        p++;
                if (!*p)
                        break;
                const char *e = p;
                while (*e && !isspace((unsigned char) *e))
                        e++;
                char *w = strndup(p, e - p);
                if (!w || strv_push(&l, w) < 0) {
                        strv_free(l);
                        return -ENOMEM;
                }
                p = e;
        }
        *ret = l;
        return 0;
}

char *strprintf(const char *fmt, ...) {
        va_list ap;
        char *s;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

bool path_is_absolute(const char *p) {
        return p && p[0] == '/';
}

bool path_is_normalized(const char *p) {
        if (isempty(p))
                return false;
        if (streq(p, "/"))
                return true;
        const char *c = p;
        if (*c == '/')
                c++;
        for (;;) {
                const char *e = strchrnul(c, '/');
                size_t n = e - c;
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                if (!*e)
                        return true;
                c = e + 1;
        }
}

bool filename_is_valid(const char *p) {
        if (isempty(p) || strchr(p, '/') || streq(p, ".") || streq(p, ".."))
                return false;
        return strlen(p) <= 255;
}

int mkdir_all(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

char *path_join(const char *a, const char *b) {
        size_t la = strlen(a);
        while (la > 0 && a[la - 1] == '/')
                la--;
        while (*b == '/')
                b++;
        return strprintf("%.*s/%s", (int) la, a, b);
}

char *path_prefix_root(const char *root, const char *p) {
        if (isempty(root) || streq(root, "/"))
                return strdup(p);
        return path_join(root, p);
}

const char *path_basename(const char *p) {
        const char *s = strrchr(p, '/');
        return s ? s + 1 : p;
}

int path_dirname(const char *p, char **ret) {
        const char *slash = strrchr(p, '/');
        if (!slash)
                return -EINVAL;
        *ret = strndup(p, slash == p ? 1 : (size_t) (slash - p));
        return *ret ? 0 : -ENOMEM;
}

const char *string_table_to_string(const char *const *table, size_t n, int i) {
        return i >= 0 && (size_t) i < n ? table[i] : NULL;
}

int string_table_from_string(const char *const *table, size_t n, const char *s) {
        for (size_t i = 0; s && i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -1;
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size) {
        size_t n = 0, cap = 4096;
        char *buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (n == cap) {
                        if (cap > max) {
                                free(buf);
                                return -EFBIG;
                        }
                        cap *= 2;
                        char *b = realloc(buf, cap + 1);
                        if (!b) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = b;
                }
                ssize_t k = read(fd, buf + n, cap - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        free(buf);
                        return r;
                }
                if (k == 0)
                        break;
                n += k;
                if (n > max) {
                        free(buf);
                        return -EFBIG;
                }
        }
        buf[n] = 0;
        *ret = buf;
        if (ret_size)
                *ret_size = n;
        return 0;
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = read_full_fd(fd, max, ret, ret_size);
        close(fd);
        return r;
}

const char *format_timestamp(char buf[static 64], uint64_t usec) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;
        if (!localtime_r(&t, &tm) || strftime(buf, 64, "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                snprintf(buf, 64, "%" PRIu64, usec);
        return buf;
}

bool is_locale_utf8(void) {
        static int cached = -1;
        if (cached >= 0)
                return cached;
        /* Only LC_CTYPE is taken from the environment, and only while asking: the rest of abota
         * (numbers in JSON, dates) stays in the C locale. */
        cached = true;
        if (setlocale(LC_CTYPE, "")) {
                const char *set = nl_langinfo(CODESET), *ctype = setlocale(LC_CTYPE, NULL);
                if (set && !streq(set, "UTF-8"))
                        cached = ctype && (streq(ctype, "C") || streq(ctype, "POSIX")) && !getenv("LC_ALL") &&
                                 !getenv("LC_CTYPE") && !getenv("LANG");
                setlocale(LC_CTYPE, "C");
        }
        return cached;
}

const char *glyph(const char *utf8, const char *ascii) {
        return is_locale_utf8() ? utf8 : ascii;
}

const char *format_bytes(char buf[static 16], uint64_t n) {
        static const char units[] = "KMGTPE";
        if (n < 1024) {
                snprintf(buf, 16, "%" PRIu64 " B", n);
                return buf;
        }
        double v = n;
        int u = -1;
        while (v >= 1024 && u < 5) {
                v /= 1024;
                u++;
        }
        snprintf(buf, 16, "%.1f %ciB", v, units[u]);
        return buf;
}

int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

size_t utf8_decode(const char *str, size_t n, uint32_t *ret) {
        const unsigned char *s = (const unsigned char *) str;
        uint32_t c = s[0], min;
        size_t len;
        if (c < 0x80) {
                *ret = c;
                return 1;
        }
        if ((c & 0xe0) == 0xc0)
                len = 2, c &= 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
                len = 3, c &= 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
                len = 4, c &= 0x07, min = 0x10000;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *ret = c;
        return len;
}

void hex_format(const uint8_t *p, size_t n, char *ret) {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                ret[2 * i] = hex[p[i] >> 4];
                ret[2 * i + 1] = hex[p[i] & 15];
        }
        ret[2 * n] = 0;
}

int hex_parse(const char *s, size_t n, uint8_t *ret) {
        if (strlen(s) != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int a = unhexchar(s[2 * i]), b = a < 0 ? -EINVAL : unhexchar(s[2 * i + 1]);
                if (a < 0 || b < 0)
                        return -EINVAL;
                ret[i] = (uint8_t) (a << 4 | b);
        }
        return 0;
}

int uuid_parse(const char *s, uint8_t ret[16]) {
        size_t len = strlen(s);
        bool dashed = len == 36;
        if (len != 32 && len != 36)
                return -EINVAL;
        const char *p = s;
        for (int i = 0; i < 16; i++) {
                if (dashed && (i == 4 || i == 6 || i == 8 || i == 10)) {
                        if (*p != '-')
                                return -EINVAL;
                        p++;
                }
                int a = unhexchar(p[0]), b = a < 0 ? -1 : unhexchar(p[1]);
                if (a < 0 || b < 0)
                        return -EINVAL;
                ret[i] = (uint8_t) (a << 4 | b);
                p += 2;
        }
        return 0;
}

void uuid_format(const uint8_t id[16], char ret[static 37]) {
        static const char hex[] = "0123456789abcdef";
        char *p = ret;
        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *p++ = '-';
                *p++ = hex[id[i] >> 4];
                *p++ = hex[id[i] & 15];
        }
        *p = 0;
}

bool uuid_is_null(const uint8_t id[16]) {
        for (int i = 0; i < 16; i++)
                if (id[i])
                        return false;
        return true;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

int parse_uint64(const char *s, int base, uint64_t *ret) {
        if (isempty(s) || !(isdigit((unsigned char) s[0]) || (base == 16 && isxdigit((unsigned char) s[0]))))
                return -EINVAL;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, base);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end || end == s)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        static const char suffixes[] = "KMGTPE";
        if (isempty(s) || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        uint64_t mult = 1;
        if (*end) {
                const char *u = strchr(suffixes, toupper((unsigned char) *end));
                if (!u || !*u)
                        return -EINVAL;
                end++;
                if (*end == 'i' || *end == 'B')
                        end += *end == 'i' && end[1] == 'B' ? 2 : 1;
                if (*end)
                        return -EINVAL;
                for (const char *k = suffixes; k <= u; k++)
                        mult *= 1024;
        }
        if (mult > 1 && v > UINT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int pread_full(int fd, void *buf, size_t n, uint64_t off) {
        uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = pread(fd, p, n, (off_t) off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                p += k;
                n -= (size_t) k;
                off += (uint64_t) k;
        }
        return 0;
}

int pwrite_full(int fd, const void *buf, size_t n, uint64_t off) {
        const uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, (off_t) off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
                off += (uint64_t) k;
        }
        return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (flag == FTW_DP)
                return rmdir(p) < 0 ? -1 : 0;
        return unlink(p) < 0 ? -1 : 0;
}

int rm_rf(const char *path) {
        if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
