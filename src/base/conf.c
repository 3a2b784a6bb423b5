/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "conf.h"

#include "chase.h"
#include "log.h"
#include "specifier.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* A hostile or corrupted file must not eat memory: definition files are a few hundred bytes. */
#define CONF_FILE_MAX (4U * 1024 * 1024)
#define CONF_LINE_MAX (64U * 1024)

static char *strip(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = 0;
        return s;
}

static bool is_comment(const char *s) {
        return s[0] == '#' || s[0] == ';';
}

/* One logical line (continuations already joined). */
static int parse_line(const char *path, unsigned line, char *l, char **section, conf_assign_fn fn,
                      void *userdata) {
        if (l[0] == '[') {
                size_t n = strlen(l);
                if (n < 3 || l[n - 1] != ']')
                        return log_error_errno(EBADMSG, "%s:%u: invalid section header '%s'", path, line, l);
                char *name = strndup(l + 1, n - 2);
                if (!name)
                        return -ENOMEM;
                free(*section);
                *section = name;
                return 0;
        }
        char *eq = strchr(l, '=');
        if (!eq)
                return log_error_errno(EBADMSG, "%s:%u: missing '=' in '%s'", path, line, l);
        *eq = 0;
        char *key = strip(l), *value = strip(eq + 1);
        if (isempty(key))
                return log_error_errno(EBADMSG, "%s:%u: assignment without a key", path, line);
        if (!*section)
                return log_error_errno(EBADMSG, "%s:%u: assignment %s= outside of any section", path, line, key);
        int r = fn(path, line, *section, key, value, userdata);
        /* The callback logged; make sure a positive return cannot leak out as success. */
        return r < 0 ? r : 0;
}

static int parse_buffer(const char *path, char *buf, size_t size, conf_assign_fn fn, void *userdata) {
        _cleanup_free_ char *section = NULL, *cont = NULL;
        size_t cont_len = 0, cont_cap = 0;
        unsigned line = 0, cont_line = 0;

        if (memchr(buf, 0, size))
                return log_error_errno(EBADMSG, "%s: contains a NUL byte", path);

        for (char *p = buf; p && *p;) {
                char *nl = strchr(p, '\n');
                if (nl)
                        *nl = 0;
                line++;
                char *l = strip(p);
                p = nl ? nl + 1 : NULL;

                /* Comment lines are skipped, also inside a continuation (systemd conf-parser). */
                if (is_comment(l) || (!cont && !*l))
                        continue;

                size_t n = strlen(l);
                bool continues = n > 0 && l[n - 1] == '\\';
                if (continues)
                        l[--n] = 0;

                if (cont || continues) {
                        if (cont_len + n + 2 > CONF_LINE_MAX)
                                return log_error_errno(E2BIG, "%s:%u: line longer than %u bytes", path,
                                                       cont ? cont_line : line, CONF_LINE_MAX);
                        if (!cont) {
                                cont_line = line;
                                cont_cap = 0;
                        }
                        if (cont_len + n + 2 > cont_cap) {
                                size_t cap = (cont_len + n + 2) * 2;
                                char *c = realloc(cont, cap);
                                if (!c)
                                        return -ENOMEM;
                                cont = c;
                                cont_cap = cap;
                        }
                        memcpy(cont + cont_len, l, n);
                        cont_len += n;
                        if (continues)
                                cont[cont_len++] = ' '; /* the backslash becomes a space */
                        cont[cont_len] = 0;
                        if (continues && p)
                                continue;
                        _cleanup_free_ char *joined = TAKE_PTR(cont);
                        cont_len = 0;
                        int r = parse_line(path, cont_line, strip(joined), &section, fn, userdata);
                        if (r < 0)
                                return r;
                        continue;
                }

                if (n > CONF_LINE_MAX)
                        return log_error_errno(E2BIG, "%s:%u: line longer than %u bytes", path, line, CONF_LINE_MAX);
                int r = parse_line(path, line, l, &section, fn, userdata);
                if (r < 0)
                        return r;
        }
        if (cont) {
                _cleanup_free_ char *joined = TAKE_PTR(cont);
                char *l = strip(joined);
                if (*l)
                        return parse_line(path, cont_line, l, &section, fn, userdata);
        }
        return 0;
}

int conf_parse_file(const char *path, conf_assign_fn fn, void *userdata) {
        _cleanup_free_ char *buf = NULL;
        size_t size;
        int r = read_full_file(path, CONF_FILE_MAX, &buf, &size);
        if (r == -EFBIG)
                return log_error_errno(r, "%s: larger than %u bytes, refusing", path, CONF_FILE_MAX);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read: %s", path, strerror(-r));
        return parse_buffer(path, buf, size, fn, userdata);
}

int conf_dropins_list(const char *root, const char *const *dirs, const char *path, char ***ret) {
        _cleanup_strv_free_ char **dropin_dirs = NULL;
        const char *base = path_basename(path);
        for (size_t i = 0; dirs && dirs[i]; i++) {
                char *d = strprintf("%s/%s.d", dirs[i], base);
                if (!d || strv_push(&dropin_dirs, d) < 0)
                        return -ENOMEM;
        }
        if (!dropin_dirs) {
                *ret = calloc(1, sizeof(char *));
                return *ret ? 0 : -ENOMEM;
        }
        return conf_files_list(root, (const char *const *) dropin_dirs, ".conf", ret);
}

int conf_parse_file_with_dropins_list(const char *root, const char *const *dirs, const char *path,
                                      conf_assign_fn fn, void *userdata, char ***ret_dropins) {
        int r = conf_parse_file(path, fn, userdata);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **dropins = NULL;
        r = conf_dropins_list(root, dirs, path, &dropins);
        if (r < 0)
                return r;
        for (size_t i = 0; dropins[i]; i++) {
                r = conf_parse_file(dropins[i], fn, userdata);
                if (r < 0)
                        return r;
        }
        if (ret_dropins)
                *ret_dropins = TAKE_PTR(dropins);
        return 0;
}

int conf_parse_file_with_dropins(const char *root, const char *const *dirs, const char *path,
                                 conf_assign_fn fn, void *userdata) {
        return conf_parse_file_with_dropins_list(root, dirs, path, fn, userdata, NULL);
}

/* A symlink to /dev/null (or anything resolving to the null device) masks. Under --root the
 * link target is read literally, since it points into the host's /dev. */
static bool is_null_link(int dfd, const char *name) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dfd, name, target, sizeof target - 1);
        if (n < 0)
                return false;
        target[n] = 0;
        return streq(target, "/dev/null");
}

enum entry_kind { ENTRY_SKIP, ENTRY_MASK, ENTRY_USE };

static enum entry_kind classify(int dfd, const char *name, bool want_dir) {
        if (is_null_link(dfd, name))
                return ENTRY_MASK;
        struct stat st;
        if (fstatat(dfd, name, &st, 0) < 0)
                return ENTRY_SKIP; /* dangling symlink */
        if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3)
                return ENTRY_MASK;
        if (want_dir)
                return S_ISDIR(st.st_mode) ? ENTRY_USE : ENTRY_SKIP;
        if (!S_ISREG(st.st_mode))
                return ENTRY_SKIP;
        return st.st_size == 0 ? ENTRY_MASK : ENTRY_USE;
}

struct entry {
        char *name;
        char *path; /* NULL when masked */
};

static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const struct entry *) a)->name, ((const struct entry *) b)->name);
}

static void entries_free(struct entry *e, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(e[i].name);
                free(e[i].path);
        }
        free(e);
}

/* Walks dirs in priority order; the first occurrence of a name decides (use or mask). */
static int collect(const char *root, const char *const *dirs, const char *prefix, const char *suffix,
                   bool want_dir, struct entry **ret, size_t *ret_n) {
        struct entry *e = NULL;
        size_t n = 0;
        int r = 0;

        for (size_t i = 0; dirs && dirs[i]; i++) {
                _cleanup_free_ char *dir = NULL;
                r = chase(root, dirs[i], CHASE_NONEXISTENT, &dir);
                if (r == -ENOMEM)
                        goto fail;
                r = 0;
                if (!dir)
                        continue; /* a link loop or an unreadable directory: nothing to contribute */
                DIR *d = opendir(dir);
                if (!d)
                        continue; /* missing or unreadable directory: nothing to contribute */
                struct dirent *de;
                while ((de = readdir(d))) {
                        const char *name = de->d_name;
                        if (name[0] == '.')
                                continue; /* hidden files and temporary editor files */
                        size_t len = strlen(name), lp = strlen(prefix), ls = strlen(suffix);
                        if (len <= lp + ls || !startswith(name, prefix) || !endswith(name, suffix))
                                continue;
                        bool seen = false;
                        for (size_t k = 0; k < n && !seen; k++)
                                seen = streq(e[k].name, name);
                        if (seen)
                                continue;
                        enum entry_kind kind = classify(dirfd(d), name, want_dir);
                        if (kind == ENTRY_SKIP)
                                continue;
                        struct entry *m = realloc(e, sizeof(*e) * (n + 1));
                        if (!m) {
                                closedir(d);
                                r = -ENOMEM;
                                goto fail;
                        }
                        e = m;
                        e[n] = (struct entry) { .name = strdup(name) };
                        if (kind == ENTRY_USE)
                                e[n].path = path_join(dir, name);
                        n++;
                        if (!e[n - 1].name || (kind == ENTRY_USE && !e[n - 1].path)) {
                                closedir(d);
                                r = -ENOMEM;
                                goto fail;
                        }
                }
                closedir(d);
        }
        if (n > 0)
                qsort(e, n, sizeof(*e), entry_cmp);
        *ret = e;
        *ret_n = n;
        return 0;
fail:
        entries_free(e, n);
        return r;
}

static int entries_to_strv(struct entry *e, size_t n, bool paths, char ***ret) {
        char **l = calloc(n + 1, sizeof(char *));
        if (!l) {
                entries_free(e, n);
                return -ENOMEM;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if (!e[i].path)
                        continue; /* masked */
                l[k++] = paths ? TAKE_PTR(e[i].path) : TAKE_PTR(e[i].name);
        }
        entries_free(e, n);
        *ret = l;
        return 0;
}

int conf_files_list(const char *root, const char *const *dirs, const char *suffix, char ***ret) {
        struct entry *e;
        size_t n;
        int r = collect(root, dirs, "", suffix, false, &e, &n);
        if (r < 0)
                return r;
        return entries_to_strv(e, n, true, ret);
}

int conf_dirs_list(const char *root, const char *const *dirs, const char *prefix, const char *suffix,
                   char ***ret) {
        struct entry *e;
        size_t n;
        int r = collect(root, dirs, prefix, suffix, true, &e, &n);
        if (r < 0)
                return r;
        return entries_to_strv(e, n, false, ret);
}

int conf_value_expand(const struct specifier_context *c, const char *file, unsigned line, const char *key,
                      const char *value, char **ret) {
        int r = specifier_expand(c, value, NULL, ret);
        if (r == -EBADMSG) {
                log_warning("%s:%u: %s=%s: unknown or incomplete %%-specifier, ignoring", file, line, key, value);
                return 1;
        }
        if (r == -ENXIO) {
                log_warning("%s:%u: %s=%s: %%m/%%b value not available, ignoring", file, line, key, value);
                return 1;
        }
        return r;
}

bool conf_is_http_url(const char *s) {
        const char *rest = startswith(s, "https://");
        if (!rest)
                rest = startswith(s, "http://");
        return rest && *rest && !strpbrk(s, " \t\n");
}

int conf_value_url(const struct specifier_context *c, const char *file, unsigned line, const char *key,
                   const char *value, char **ret) {
        _cleanup_free_ char *e = NULL;
        int r = conf_value_expand(c, file, line, key, value, &e);
        if (r != 0)
                return r;
        if (!conf_is_http_url(e)) {
                log_warning("%s:%u: %s=%s is not an http(s) URL, ignoring", file, line, key, e);
                return 1;
        }
        *ret = TAKE_PTR(e);
        return 0;
}

int conf_value_tristate(const char *file, unsigned line, const char *key, const char *value, int *ret) {
        if (isempty(value)) {
                *ret = -1;
                return 0;
        }
        int b = parse_boolean(value);
        if (b < 0) {
                log_warning("%s:%u: %s=%s is not a boolean, ignoring", file, line, key, value);
                return 1;
        }
        *ret = b;
        return 0;
}

int conf_value_bool(const char *file, unsigned line, const char *key, const char *value, bool *ret) {
        int b = -1;
        int r = conf_value_tristate(file, line, key, value, &b);
        if (r == 0 && b >= 0)
                *ret = b;
        return r;
}

int conf_value_uint64(const char *file, unsigned line, const char *key, const char *value, bool *has,
                      uint64_t *ret) {
        if (isempty(value)) {
                *has = false;
                return 0;
        }
        if (parse_uint64(value, 10, ret) < 0) {
                log_warning("%s:%u: %s=%s is not an unsigned integer, ignoring", file, line, key, value);
                return 1;
        }
        *has = true;
        return 0;
}
