/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "definitions.h"

#include "base/conf.h"
#include "base/log.h"
#include "base/specifier.h"
#include "base/util.h"

#include <errno.h>
#include <sys/stat.h>

/* Highest priority first (spec sysupdate.md 1.1). */
static const char *const search_roots[] = { "/etc", "/run", "/usr/local/lib", "/usr/lib", NULL };

static bool component_name_is_valid(const char *name) {
        if (!filename_is_valid(name) || endswith(name, ".component"))
                return false;
        _cleanup_free_ char *dir = strprintf("sysupdate.%s.d", name);
        return dir && filename_is_valid(dir);
}

int definitions_search_dirs(const char *component, char ***ret) {
        if (component && !component_name_is_valid(component))
                return log_error_errno(EINVAL, "--component=%s: not a valid component name", component);
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; search_roots[i]; i++) {
                char *d = component ? strprintf("%s/sysupdate.%s.d", search_roots[i], component)
                                    : strprintf("%s/sysupdate.d", search_roots[i]);
                if (!d || strv_push(&l, d) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

void definitions_free(struct definitions *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n_transfers; i++)
                transfer_free(d->transfers[i]);
        free(d->transfers);
        for (size_t i = 0; i < d->n_features; i++)
                feature_free(d->features[i]);
        free(d->features);
        free(d->os_image_version);
        specifier_context_free(d->specifiers);
        strv_free(d->search_dirs);
        free(d);
}

/* The transfer files: *.transfer, or (older configurations) *.conf when there is no *.transfer,
 * which warns when asked to. */
static int list_transfer_files(const char *root, const char *const *dirs, bool warn, char ***ret) {
        _cleanup_strv_free_ char **files = NULL;
        int r = conf_files_list(root, dirs, ".transfer", &files);
        if (r < 0)
                return r;
        if (files[0]) {
                *ret = TAKE_PTR(files);
                return 0;
        }
        strv_free(files);
        files = NULL;
        r = conf_files_list(root, dirs, ".conf", &files);
        if (r < 0)
                return r;
        if (files[0] && warn)
                log_warning("%s: reading *.conf transfer definitions; as of systemd v257 they are called *.transfer, "
                            "please rename them", files[0]);
        *ret = TAKE_PTR(files);
        return 0;
}

const struct feature *definitions_find_feature(const struct definitions *d, const char *id) {
        for (size_t i = 0; i < d->n_features; i++)
                if (streq(d->features[i]->id, id))
                        return d->features[i];
        return NULL;
}

/* Spec 1.2: all RequisiteFeatures= enabled, and Features= empty or one of them enabled. Unknown
 * feature names count as disabled. */
static bool transfer_is_enabled(const struct definitions *d, const struct transfer *t) {
        for (size_t i = 0; t->requisite_features && t->requisite_features[i]; i++) {
                const struct feature *f = definitions_find_feature(d, t->requisite_features[i]);
                if (!f || !f->enabled)
                        return false;
        }
        if (strv_length(t->features) == 0)
                return true;
        for (size_t i = 0; t->features[i]; i++) {
                const struct feature *f = definitions_find_feature(d, t->features[i]);
                if (f && f->enabled)
                        return true;
        }
        return false;
}

static char *dirs_describe(char *const *dirs) {
        char *s = strdup("");
        for (size_t i = 0; s && dirs[i]; i++) {
                _cleanup_free_ char *old = s;
                s = strprintf("%s%s%s", old, i > 0 ? ", " : "", dirs[i]);
        }
        return s;
}

void definitions_freep(struct definitions **d) {
        definitions_free(*d);
}

static int load_features(const char *root, const struct transfer_parse_options *po, struct definitions *d) {
        _cleanup_strv_free_ char **files = NULL;
        int r = conf_files_list(root, po->search_dirs, ".feature", &files);
        if (r < 0)
                return r;
        d->features = calloc(strv_length(files) + 1, sizeof(struct feature *));
        if (!d->features)
                return -ENOMEM;
        for (size_t i = 0; files[i]; i++) {
                r = feature_load(files[i], po, &d->features[d->n_features]);
                if (r < 0)
                        return r;
                d->n_features++;
        }
        return 0;
}

static int load_transfers(const char *root, const struct transfer_parse_options *po, struct definitions *d) {
        _cleanup_strv_free_ char **files = NULL;
        int r = list_transfer_files(root, po->search_dirs, true, &files);
        if (r < 0)
                return r;
        if (!files[0]) {
                _cleanup_free_ char *where = dirs_describe(d->search_dirs);
                return log_error_errno(ENOENT, "No transfer definitions found in %s.", where ? where : "the search path");
        }
        d->transfers = calloc(strv_length(files) + 1, sizeof(struct transfer *));
        if (!d->transfers)
                return -ENOMEM;
        for (size_t i = 0; files[i]; i++) {
                r = transfer_load(files[i], po, &d->transfers[d->n_transfers]);
                if (r < 0)
                        return r;
                d->n_transfers++;
        }
        return 0;
}

int definitions_load(const struct definitions_options *o, struct definitions **ret) {
        _cleanup_strv_free_ char **dirs = NULL;
        int r;

        /* --definitions=DIR with --root=R: R/DIR when that is a directory, as systemd 257 looks
         * below R; else DIR as a host path (build pipelines keep definitions outside the root). */
        const char *conf_root = o->root;
        if (o->definitions_dir && o->root) {
                _cleanup_free_ char *below = path_prefix_root(o->root, o->definitions_dir);
                struct stat st;
                if (!below)
                        return -ENOMEM;
                if (stat(below, &st) < 0 || !S_ISDIR(st.st_mode))
                        conf_root = NULL;
        }
        if (o->definitions_dir) {
                if (strv_extend(&dirs, o->definitions_dir) < 0)
                        return -ENOMEM;
        } else {
                r = definitions_search_dirs(o->component, &dirs);
                if (r < 0)
                        return r;
        }

        _cleanup_(definitions_freep) struct definitions *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        r = specifier_context_new(o->root, &d->specifiers);
        if (r < 0)
                return r;
        const char *iv = specifier_os_release(d->specifiers, "IMAGE_VERSION");
        if (!isempty(iv) && !(d->os_image_version = strdup(iv)))
                return -ENOMEM;

        for (size_t i = 0; dirs[i]; i++) {
                char *full = path_prefix_root(conf_root, dirs[i]);
                if (!full || strv_push(&d->search_dirs, full) < 0)
                        return -ENOMEM;
        }

        struct transfer_parse_options po = {
                .specifiers = d->specifiers,
                .root = conf_root,
                .search_dirs = (const char *const *) dirs,
                .have_transfer_source = o->transfer_source != NULL,
                .root_mode = o->root_mode,
                .image_mode = o->image_mode,
                .build_host = o->build_host,
        };
        r = load_features(conf_root, &po, d);
        if (r < 0)
                return r;
        r = load_transfers(conf_root, &po, d);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_transfers; i++)
                d->transfers[i]->enabled = transfer_is_enabled(d, d->transfers[i]);

        *ret = TAKE_PTR(d);
        return 0;
}

int definitions_list_components(const char *root, bool *ret_default, char ***ret) {
        _cleanup_strv_free_ char **names = NULL, **dirs = NULL, **files = NULL;
        int r = conf_dirs_list(root, search_roots, "sysupdate.", ".d", &names);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **components = calloc(1, sizeof(char *));
        if (!components)
                return -ENOMEM;
        for (size_t i = 0; names[i]; i++) {
                const char *s = names[i] + strlen("sysupdate.");
                char *name = strndup(s, strlen(s) - strlen(".d"));
                if (!name)
                        return -ENOMEM;
                if (!component_name_is_valid(name)) {
                        free(name);
                        continue;
                }
                if (strv_push(&components, name) < 0)
                        return -ENOMEM;
        }
        r = definitions_search_dirs(NULL, &dirs);
        if (r < 0)
                return r;
        r = list_transfer_files(root, (const char *const *) dirs, false, &files);
        if (r < 0)
                return r;
        *ret_default = files[0] != NULL;
        *ret = TAKE_PTR(components);
        return 0;
}

int definitions_feature_transfers(const struct definitions *d, const char *id, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_transfers; i++) {
                const struct transfer *t = d->transfers[i];
                if ((strv_contains(t->features, id) || strv_contains(t->requisite_features, id)) &&
                    strv_extend(&l, t->id) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}
