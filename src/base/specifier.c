/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "specifier.h"

#include "chase.h"
#include "parttype.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <sys/utsname.h>

/* os-release and machine-info are small; anything bigger is not one. */
#define SMALL_FILE_MAX (64U * 1024)

struct specifier_context {
        char **os_release; /* "KEY", "VALUE", "KEY", "VALUE", ..., NULL */
        char *machine_id;  /* NULL when the root has none */
        char *pretty_hostname;
};

void specifier_context_free(struct specifier_context *c) {
        if (!c)
                return;
        strv_free(c->os_release);
        free(c->machine_id);
        free(c->pretty_hostname);
        free(c);
}

/* Decode a shell-style value: "double quoted" (with \" \\ \$ \` escapes), 'single quoted', or
 * bare. Returns a new string or NULL on OOM or bad syntax (the line is then skipped). */
static char *unquote(const char *v) {
        size_t n = strlen(v);
        char *out = malloc(n + 1), *o = out;
        if (!out)
                return NULL;
        char quote = 0;
        for (const char *p = v; *p; p++) {
                if (quote == '\'') {
                        if (*p == '\'')
                                quote = 0;
                        else
                                *o++ = *p;
                } else if (*p == '\\' && p[1] && (!quote || strchr("\"\\$`", p[1]))) {
                        *o++ = *++p;
                } else if (quote == '"') {
                        if (*p == '"')
                                quote = 0;
                        else
                                *o++ = *p;
                } else if (*p == '"' || *p == '\'') {
                        quote = *p;
                } else {
                        *o++ = *p;
                }
        }
        *o = 0;
        if (quote) {
                free(out);
                return NULL;
        }
        return out;
}

/* KEY=VALUE lines; comments and malformed lines are skipped, as os-release(5) consumers do. */
static int parse_env_file(const char *path, char ***ret) {
        _cleanup_free_ char *buf = NULL;
        int r = read_full_file(path, SMALL_FILE_MAX, &buf, NULL);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (char *p = buf, *nl; p && *p; p = nl ? nl + 1 : NULL) {
                nl = strchr(p, '\n');
                if (nl)
                        *nl = 0;
                while (isspace((unsigned char) *p))
                        p++;
                char *eq = strchr(p, '=');
                if (*p == '#' || !eq || eq == p)
                        continue;
                size_t vn = strlen(eq + 1);
                while (vn > 0 && isspace((unsigned char) eq[vn]))
                        eq[vn--] = 0;
                char *key = strndup(p, eq - p), *value = unquote(eq + 1);
                if (!key || !value) {
                        free(key);
                        free(value);
                        continue;
                }
                if (strv_push(&l, key) < 0 || strv_push(&l, value) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static const char *env_lookup(char *const *l, const char *key) {
        const char *v = NULL;
        for (size_t i = 0; l && l[i] && l[i + 1]; i += 2)
                if (streq(l[i], key))
                        v = l[i + 1]; /* the last assignment wins */
        return v;
}

/* 32 lower-case hex digits, as systemd prints IDs; dashes of the boot_id form are dropped. */
static char *read_id128(const char *path) {
        _cleanup_free_ char *buf = NULL;
        if (read_full_file(path, 4096, &buf, NULL) < 0)
                return NULL;
        char *s = buf;
        while (isspace((unsigned char) *s))
                s++;
        size_t n = strcspn(s, " \t\n");
        s[n] = 0;
        uint8_t id[16];
        if (uuid_parse(s, id) < 0 || uuid_is_null(id))
                return NULL;
        char out[33];
        hex_format(id, sizeof id, out);
        return strdup(out);
}

int specifier_context_new(const char *root, struct specifier_context **ret) {
        struct specifier_context *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        static const char *const os_release[] = { "/etc/os-release", "/usr/lib/os-release" };
        int r = -ENOENT;
        for (size_t i = 0; i < ELEMENTSOF(os_release) && r == -ENOENT; i++) {
                _cleanup_free_ char *p = NULL;
                r = chase(root, os_release[i], CHASE_NONEXISTENT, &p);
                if (r >= 0)
                        r = parse_env_file(p, &c->os_release);
                else if (r != -ENOMEM)
                        r = -ENOENT;
        }
        if (r == -ENOMEM) {
                specifier_context_free(c);
                return r;
        }
        /* A root without os-release is legal: every field then expands to "". */

        _cleanup_free_ char *mid = NULL, *info = NULL;
        if (chase(root, "/etc/machine-id", CHASE_NONEXISTENT, &mid) == -ENOMEM ||
            chase(root, "/etc/machine-info", CHASE_NONEXISTENT, &info) == -ENOMEM) {
                specifier_context_free(c);
                return -ENOMEM;
        }
        c->machine_id = mid ? read_id128(mid) : NULL;
        _cleanup_strv_free_ char **mi = NULL;
        if (info && parse_env_file(info, &mi) == 0 && !isempty(env_lookup(mi, "PRETTY_HOSTNAME")))
                c->pretty_hostname = strdup(env_lookup(mi, "PRETTY_HOSTNAME"));
        *ret = c;
        return 0;
}

const char *specifier_os_release(const struct specifier_context *c, const char *field) {
        return c ? env_lookup(c->os_release, field) : NULL;
}

static const char *tmp_dir(const char *fallback) {
        const char *t = getenv("TMPDIR");
        return path_is_absolute(t) ? t : fallback;
}

/* Value of %x as a new string; -EBADMSG for an unknown letter, -ENXIO when the value is not
 * available (no machine-id, no boot id). */
static int lookup(const struct specifier_context *c, char x, char *const *extra, char **ret) {
        for (size_t i = 0; extra && extra[i]; i++)
                if (extra[i][0] == x) {
                        *ret = strdup(extra[i] + 1);
                        return *ret ? 0 : -ENOMEM;
                }

        static const struct {
                char letter;
                const char *field;
        } fields[] = {
                { 'A', "IMAGE_VERSION" }, { 'B', "BUILD_ID" },   { 'M', "IMAGE_ID" },
                { 'o', "ID" },            { 'w', "VERSION_ID" }, { 'W', "VARIANT_ID" },
        };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (fields[i].letter == x) {
                        const char *v = specifier_os_release(c, fields[i].field);
                        *ret = strdup(v ? v : "");
                        return *ret ? 0 : -ENOMEM;
                }

        char host[256] = "";
        struct utsname u;
        const char *v;
        _cleanup_free_ char *owned = NULL;
        switch (x) {
        case '%': v = "%"; break;
        case 'a': v = native_architecture(); break;
        case 'T': v = tmp_dir("/tmp"); break;
        case 'V': v = tmp_dir("/var/tmp"); break;
        case 'v':
                if (uname(&u) < 0)
                        return -errno;
                v = u.release;
                break;
        case 'H':
        case 'l':
        case 'q':
                if (x == 'q' && c && c->pretty_hostname) {
                        v = c->pretty_hostname;
                        break;
                }
                if (gethostname(host, sizeof host - 1) < 0)
                        return -errno;
                if (x == 'l')
                        host[strcspn(host, ".")] = 0;
                v = host;
                break;
        case 'm':
                if (!c || !c->machine_id)
                        return -ENXIO;
                v = c->machine_id;
                break;
        case 'b':
                owned = read_id128("/proc/sys/kernel/random/boot_id");
                if (!owned)
                        return -ENXIO;
                v = owned;
                break;
        default:
                return -EBADMSG;
        }
        *ret = strdup(v);
        return *ret ? 0 : -ENOMEM;
}

int specifier_expand(const struct specifier_context *c, const char *s, char *const *extra, char **ret) {
        size_t cap = strlen(s) + 1, n = 0;
        char *out = malloc(cap);
        if (!out)
                return -ENOMEM;
        for (const char *p = s; *p; p++) {
                _cleanup_free_ char *v = NULL;
                const char *add = p;
                size_t len = 1;
                if (*p == '%') {
                        int r = p[1] ? lookup(c, p[1], extra, &v) : -EBADMSG;
                        if (r < 0) {
                                free(out);
                                return r;
                        }
                        add = v;
                        len = strlen(v);
                        p++;
                }
                if (n + len + 1 > cap) {
                        cap = (n + len + 1) * 2;
                        char *m = realloc(out, cap);
                        if (!m) {
                                free(out);
                                return -ENOMEM;
                        }
                        out = m;
                }
                memcpy(out + n, add, len);
                n += len;
        }
        out[n] = 0;
        *ret = out;
        return 0;
}
