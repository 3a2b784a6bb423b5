/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "transfer.h"

#include "base/conf.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

/* *.feature files (spec sysupdate.md 1.2): a named, switchable group of transfers. */

void feature_free(struct feature *f) {
        if (!f)
                return;
        free(f->id);
        free(f->file);
        free(f->description);
        free(f->documentation);
        free(f->appstream);
        free(f);
}

struct feature_parser {
        const struct transfer_parse_options *o;
        struct feature *f;
};

static int set_url(const struct feature_parser *p, const char *file, unsigned line, const char *key,
                   const char *value, char **field) {
        if (isempty(value)) {
                free(*field);
                *field = NULL;
                return 0;
        }
        _cleanup_free_ char *e = NULL;
        int r = conf_value_url(p->o ? p->o->specifiers : NULL, file, line, key, value, &e);
        if (r != 0)
                return r < 0 ? r : 0;
        free(*field);
        *field = TAKE_PTR(e);
        return 0;
}

static int feature_assign(const char *file, unsigned line, const char *section, const char *key,
                          const char *value, void *userdata) {
        struct feature_parser *p = userdata;
        struct feature *f = p->f;
        if (!streq(section, "Feature")) {
                if (!startswith(section, "X-"))
                        log_warning("%s:%u: unknown section [%s], ignoring %s=", file, line, section, key);
                return 0;
        }
        if (streq(key, "Description")) {
                char *d = strdup(value);
                if (!d)
                        return -ENOMEM;
                free(f->description);
                f->description = d;
                return 0;
        }
        if (streq(key, "Enabled")) {
                int r = conf_value_bool(file, line, key, value, &f->enabled);
                return r < 0 ? r : 0;
        }
        if (streq(key, "Documentation"))
                return set_url(p, file, line, key, value, &f->documentation);
        if (streq(key, "AppStream"))
                return set_url(p, file, line, key, value, &f->appstream);
        if (!startswith(key, "X-"))
                log_warning("%s:%u: unknown key %s= in [Feature], ignoring", file, line, key);
        return 0;
}

int feature_load(const char *path, const struct transfer_parse_options *o, struct feature **ret) {
        struct feature *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        const char *base = path_basename(path), *end = endswith(base, ".feature");
        f->file = strdup(path);
        f->id = strndup(base, end ? (size_t) (end - base) : strlen(base));
        int r = f->file && f->id ? 0 : -ENOMEM;
        if (r >= 0) {
                struct feature_parser p = { .o = o, .f = f };
                r = conf_parse_file_with_dropins(o ? o->root : NULL, o ? o->search_dirs : NULL, path,
                                                 feature_assign, &p);
        }
        if (r < 0) {
                feature_free(f);
                return r == -ENOMEM ? r : -EINVAL;
        }
        *ret = f;
        return 0;
}

int feature_write_enabled(const char *root, const char *component, const char *name, bool enabled, char **ret_path) {
        if (!filename_is_valid(name))
                return -EINVAL;
        _cleanup_free_ char *dir = component ? strprintf("/etc/sysupdate.%s.d/%s.feature.d", component, name)
                                             : strprintf("/etc/sysupdate.d/%s.feature.d", name);
        _cleanup_free_ char *full = dir ? path_prefix_root(root, dir) : NULL;
        _cleanup_free_ char *file = full ? path_join(full, "50-systemd-sysupdate-enabled.conf") : NULL;
        _cleanup_free_ char *tmp = file ? strprintf("%s.tmp", file) : NULL;
        if (!tmp)
                return -ENOMEM;
        int r = mkdir_all(full, 0755);
        if (r < 0)
                return log_error_errno(-r, "%s: cannot create directory: %s", full, strerror(-r));
        const char *text = enabled ? "[Feature]\nEnabled=yes\n" : "[Feature]\nEnabled=no\n";
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text) || fsync(fd) < 0 ||
            rename(tmp, file) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return log_error_errno(-r, "%s: cannot write: %s", file, strerror(-r));
        }
        if (ret_path)
                *ret_path = TAKE_PTR(file);
        return 0;
}
