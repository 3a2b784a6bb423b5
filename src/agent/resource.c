/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "resource.h"

#include "base/chase.h"
#include "base/log.h"
#include "base/util.h"
#include "sysupdate/version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Why p cannot hold a boot partition, or NULL when it can. On the host a boot partition is
 * mounted, so it must be a mount point; under --root plain directories stand in for it. */
static const char *boot_candidate_rejected(const char *root, const char *p) {
        struct stat st, parent;
        if (stat(p, &st) < 0)
                return errno == ENOENT ? "does not exist" : strerror(errno);
        if (!S_ISDIR(st.st_mode))
                return "not a directory";
        if (root)
                return NULL;
        _cleanup_free_ char *up = path_join(p, "..");
        if (!up)
                return strerror(ENOMEM);
        if (stat(up, &parent) < 0)
                return strerror(errno);
        return parent.st_dev != st.st_dev ? NULL : "not a mount point";
}

/* Appends "DIR: reason" to the list of rejected candidates in why. */
static void boot_candidate_note(char *why, size_t size, const char *dir, const char *reason) {
        size_t n = strlen(why);
        if (n < size)
                snprintf(why + n, size - n, "%s%s: %s", n ? "; " : "", dir, reason);
}

/* dir below root, resolved inside it; NULL (no error, the reason in why) when it cannot be,
 * e.g. a link loop or a link out of the root. */
static int boot_dir_in_root(const char *root, const char *dir, char **ret, char *why, size_t size) {
        int r = chase(root, dir, CHASE_NONEXISTENT, ret);
        if (r < 0 && r != -ENOMEM) {
                boot_candidate_note(why, size, dir, r == -EXDEV ? "leads out of the root" : strerror(-r));
                *ret = NULL;
                return 0;
        }
        return r;
}

/* $SYSTEMD_ESP_PATH / $SYSTEMD_XBOOTLDR_PATH, as systemd honours them: an absolute directory
 * (below root), taken without further checks (no mount point needed). 0 with *ret NULL when the
 * variable is unset. */
static int boot_dir_from_env(const char *root, const char *var, char **ret) {
        const char *e = getenv(var);
        *ret = NULL;
        if (!e || !*e)
                return 0;
        if (e[0] != '/')
                return log_error_errno(EINVAL, "$%s=%s is not an absolute path", var, e);
        _cleanup_free_ char *p = NULL;
        int r = chase(root, e, CHASE_NONEXISTENT, &p);
        if (r == -ENOMEM)
                return r;
        struct stat st;
        const char *reason = r < 0 ? (r == -EXDEV ? "leads out of the root" : strerror(-r))
                           : stat(p, &st) < 0 ? (errno == ENOENT ? "does not exist" : strerror(errno))
                           : !S_ISDIR(st.st_mode) ? "not a directory" : NULL;
        if (reason)
                return log_error_errno(ENOENT, "$%s=%s%s%s: %s", var, e, root ? " below " : "", root ? root : "",
                                       reason);
        *ret = TAKE_PTR(p);
        return 0;
}

/* The search of the boot-loader directories below root, when the environment names none; why
 * collects each rejected candidate with the reason. */
static int boot_dir_search(const char *root, char **ret_esp, char **ret_xbootldr, char *why_esp,
                           char *why_xbootldr, size_t size) {
        static const char *const esp_dirs[] = { "/efi", "/boot", "/boot/efi" };
        _cleanup_free_ char *esp = NULL, *boot = NULL;
        const char *reason;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(esp_dirs) && !esp; i++) {
                _cleanup_free_ char *p = NULL;
                if ((r = boot_dir_in_root(root, esp_dirs[i], &p, why_esp, size)) < 0)
                        return r;
                if (p && (reason = boot_candidate_rejected(root, p)))
                        boot_candidate_note(why_esp, size, esp_dirs[i], reason);
                else if (p)
                        esp = TAKE_PTR(p);
        }
        if ((r = boot_dir_in_root(root, "/boot", &boot, why_xbootldr, size)) < 0)
                return r;
        /* /boot is an XBOOTLDR only next to an ESP on /efi; an ESP on /boot/efi lives inside it. */
        if (boot && (reason = boot_candidate_rejected(root, boot)))
                boot_candidate_note(why_xbootldr, size, "/boot", reason);
        else if (boot && !(esp && endswith(esp, "/efi") && !endswith(esp, "/boot/efi")))
                boot_candidate_note(why_xbootldr, size, "/boot", !esp ? "no ESP on /efi next to it"
                                                                 : streq(esp, boot) ? "it is the ESP"
                                                                 : "the ESP is inside it, on /boot/efi");
        else if (boot)
                *ret_xbootldr = TAKE_PTR(boot);
        *ret_esp = TAKE_PTR(esp);
        return 0;
}

int resource_find_boot_dir(const char *root, enum path_relative_to what, char **ret) {
        _cleanup_free_ char *esp = NULL, *xbootldr = NULL;
        char why_esp[512] = "", why_xbootldr[512] = "";

        int r = boot_dir_from_env(root, "SYSTEMD_ESP_PATH", &esp);
        if (r >= 0)
                r = boot_dir_from_env(root, "SYSTEMD_XBOOTLDR_PATH", &xbootldr);
        if (r < 0)
                return r;
        if (!esp || !xbootldr) {
                /* what the environment does not name is searched for */
                _cleanup_free_ char *found_esp = NULL, *found_xbootldr = NULL;
                r = boot_dir_search(root, &found_esp, &found_xbootldr, why_esp, why_xbootldr, sizeof(why_esp));
                if (r < 0)
                        return r;
                if (!esp)
                        esp = TAKE_PTR(found_esp);
                if (!xbootldr && !getenv("SYSTEMD_ESP_PATH"))
                        xbootldr = TAKE_PTR(found_xbootldr);
                else if (!xbootldr)
                        snprintf(why_xbootldr, sizeof(why_xbootldr), "$SYSTEMD_ESP_PATH is set, $SYSTEMD_XBOOTLDR_PATH not");
        }

        bool want_xbootldr = what == PATH_RELATIVE_TO_XBOOTLDR;
        char **pick = what == PATH_RELATIVE_TO_ESP ? &esp
                    : want_xbootldr ? &xbootldr
                    : xbootldr ? &xbootldr : &esp;
        if (!*pick)
                return log_error_errno(ENOENT, "no %s found under %s (%s)", want_xbootldr ? "XBOOTLDR partition" : "ESP",
                                       root ? root : "/", want_xbootldr ? why_xbootldr : why_esp);
        *ret = TAKE_PTR(*pick);
        return 0;
}

/* base/path with base (the root itself or a boot directory found inside it) and every link
 * below it resolved inside root, so that a link such as ROOT/efi -> /host/dir stays in ROOT. */
static int resolve_in_root(const struct transfer *t, const char *root, const char *base, const char *path,
                           char **ret) {
        _cleanup_free_ char *realroot = realpath(root, NULL), *realbase = realpath(base, NULL);
        if (!realroot)
                return log_error_errno(errno, "--root=%s: %s", root, strerror(errno));
        const char *inside = realbase ? startswith(realbase, realroot) : NULL;
        if (!inside && realbase && streq(realroot, "/"))
                inside = realbase;
        _cleanup_free_ char *rel = inside ? path_join(*inside ? inside : "/", path) : strdup(path);
        if (!rel)
                return -ENOMEM;
        int r = chase(root, rel, CHASE_NONEXISTENT, ret);
        if (r < 0)
                return log_error_errno(r, "%s: %s below %s: %s", t->file, rel, root,
                                       r == -EXDEV ? "leaves the root" : strerror(-r));
        return 0;
}

int resource_resolve_path(const struct transfer *t, const struct resource_config *c, bool target,
                          const struct resource_context *ctx, char **ret) {
        if (ctx->image && c->path_relative_to != PATH_RELATIVE_TO_ROOT &&
            c->path_relative_to != PATH_RELATIVE_TO_EXPLICIT) {
                if (!resource_fs(c, ctx))
                        return log_error_errno(ENOENT, "%s: --image=%s has no %s partition for %s", t->file, ctx->image,
                                               c->path_relative_to == PATH_RELATIVE_TO_XBOOTLDR ? "XBOOTLDR" : "ESP",
                                               c->path);
                *ret = strdup(c->path);
                return *ret ? 0 : -ENOMEM;
        }
        if (target && ctx->image)
                return log_error_errno(EOPNOTSUPP,
                                       "%s: --image=%s: %s is in the image's root file system, which is not written; "
                                       "use --root=DIR on the mounted image",
                                       t->file, ctx->image, c->path);

        _cleanup_free_ char *base = NULL;
        switch (c->path_relative_to) {
        case PATH_RELATIVE_TO_ROOT:
                base = strdup(ctx->root ? ctx->root : "/");
                break;
        case PATH_RELATIVE_TO_EXPLICIT:
                if (!ctx->transfer_source)
                        return log_error_errno(EINVAL, "%s: PathRelativeTo=explicit needs --transfer-source=",
                                               t->file);
                base = strdup(ctx->transfer_source);
                break;
        default: {
                int r = resource_find_boot_dir(ctx->root, c->path_relative_to, &base);
                if (r < 0)
                        return r;
        }
        }
        if (!base)
                return -ENOMEM;
        if (ctx->root && c->path_relative_to != PATH_RELATIVE_TO_EXPLICIT)
                return resolve_in_root(t, ctx->root, base, c->path, ret);
        *ret = streq(base, "/") ? strdup(c->path) : path_join(base, c->path);
        return *ret ? 0 : -ENOMEM;
}

static int instance_cmp(const void *a, const void *b) {
        const struct instance *x = *(struct instance *const *) a, *y = *(struct instance *const *) b;
        int c = version_compare(y->metadata.version, x->metadata.version);
        return c != 0 ? c : strcmp(x->path, y->path);
}

static void instance_free(struct instance *i) {
        if (!i)
                return;
        free(i->name);
        free(i->path);
        instance_metadata_done(&i->metadata);
        for (size_t k = 0; k < i->n_patches; k++) {
                free(i->patches[k].base_version);
                free(i->patches[k].url);
        }
        free(i->patches);
        free(i->index_url);
        free(i->blocks_url);
        free(i);
}

int resource_add_instance(struct resource *r, const char *name, const char *path, struct instance_metadata *m) {
        struct instance **l = realloc(r->instances, (r->n_instances + 1) * sizeof(*l));
        if (!l)
                return -ENOMEM;
        r->instances = l;
        struct instance *i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;
        i->name = strdup(name);
        i->path = strdup(path);
        if (!i->name || !i->path) {
                instance_free(i);
                return -ENOMEM;
        }
        i->metadata = *m;
        instance_metadata_init(m); /* ownership moved */
        r->instances[r->n_instances++] = i;
        return 0;
}

void resource_remove_instance(struct resource *r, size_t idx) {
        instance_free(r->instances[idx]);
        memmove(r->instances + idx, r->instances + idx + 1, (r->n_instances - idx - 1) * sizeof(*r->instances));
        r->n_instances--;
}

/* Sorts newest first and drops duplicate versions, keeping the first in sort order (spec 5.5). */
static void resource_sort(struct resource *r) {
        if (r->n_instances > 1)
                qsort(r->instances, r->n_instances, sizeof(*r->instances), instance_cmp);
        size_t k = 0;
        for (size_t i = 0; i < r->n_instances; i++) {
                if (k > 0 && version_compare(r->instances[k - 1]->metadata.version,
                                             r->instances[i]->metadata.version) == 0) {
                        log_info("%s: ignoring %s, version %s is also provided by %s", r->path,
                                 r->instances[i]->name, r->instances[i]->metadata.version,
                                 r->instances[k - 1]->name);
                        instance_free(r->instances[i]);
                        continue;
                }
                r->instances[k++] = r->instances[i];
        }
        r->n_instances = k;
}

const struct fs_access *resource_fs(const struct resource_config *c, const struct resource_context *ctx) {
        if (!ctx->image)
                return NULL;
        switch (c->path_relative_to) {
        case PATH_RELATIVE_TO_ESP:
                return ctx->esp;
        case PATH_RELATIVE_TO_XBOOTLDR:
                return ctx->xbootldr;
        case PATH_RELATIVE_TO_BOOT:
                return ctx->xbootldr ? ctx->xbootldr : ctx->esp;
        default:
                return NULL;
        }
}

int resource_resolve_kind(const struct resource_kind *kind, const struct transfer *t, bool target,
                          const struct resource_context *ctx, char **ret) {
        const struct resource_config *c = target ? &t->target : &t->source;
        if (kind && kind->resolve)
                return kind->resolve(t, c, target, ctx, ret);
        return resource_resolve_path(t, c, target, ctx, ret);
}

int resource_load_kind(const struct resource_kind *kind, const struct transfer *t, bool target,
                       const struct resource_context *ctx, struct resource **ret) {
        const struct resource_config *c = target ? &t->target : &t->source;
        struct resource *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->kind = kind;
        r->type = c->type;
        r->fs = resource_fs(c, ctx);

        int k = resource_resolve_kind(kind, t, target, ctx, &r->path);
        if (k >= 0)
                k = kind->load(r, t, c, ctx);
        if (k < 0) {
                resource_free(r);
                return k;
        }
        resource_sort(r);
        *ret = r;
        return 0;
}

void resource_free(struct resource *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_instances; i++)
                instance_free(r->instances[i]);
        free(r->instances);
        if (r->kind && r->kind->done)
                r->kind->done(r);
        free(r->path);
        free(r);
}

const struct instance *resource_find(const struct resource *r, const char *v) {
        size_t lo = 0, hi = r->n_instances;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = version_compare(r->instances[mid]->metadata.version, v);
                if (c == 0)
                        return r->instances[mid];
                if (c > 0) /* newest first: mid is newer, look further on */
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}
