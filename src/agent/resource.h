/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A source or target of one transfer, resolved to a concrete place and enumerated into
 * versioned instances (spec sysupdate.md 5): a url-file server (SHA256SUMS), a directory of
 * regular files, or the GPT partitions of one disk. */

#include "sysupdate/instance.h"
#include "sysupdate/transfer.h"

#include <stdbool.h>
#include <stddef.h>

struct partition_table;
struct partition_info;

struct instance {
        char *name;                        /* what the pattern matched: file name, label, entry */
        char *path;                        /* file path, payload URL, or partition node/"DISK:N" */
        struct instance_metadata metadata;
        const struct partition_info *partition; /* partition targets: the slot (owned by table) */
};

struct resource {
        enum resource_type type;
        char *path;                        /* resolved directory, server URL, or disk */
        struct instance **instances;       /* newest first (spec 5.5) */
        size_t n_instances;
        struct partition_table *table;     /* partition targets */
        size_t n_empty;                    /* `_empty` slots of the configured type */
};

/* Where the run operates: the command line's --root/--image and friends. */
struct resource_context {
        const char *root;                  /* --root=DIR, NULL = host */
        const char *image;                 /* --image=FILE: the disk holding partition targets */
        const char *transfer_source;       /* --transfer-source=DIR */
        int verify;                        /* --verify=: -1 = per transfer */
        bool offline;                      /* sources are not enumerated (caller's choice) */
};

/* Resolves the configured Path= of a transfer's source or target to a concrete path (directory,
 * URL or disk), honouring PathRelativeTo=, --root and --image. Logs one line on failure. */
int resource_resolve(const struct transfer *t, bool target, const struct resource_context *ctx,
                     char **ret);

/* Resolves and enumerates. A missing directory has no instances; a missing disk, a server that
 * fails or a manifest that does not verify is an error (logged once, naming it). */
int resource_load(const struct transfer *t, bool target, const struct resource_context *ctx,
                  struct resource **ret);
void resource_free(struct resource *r);

/* The instance of version v (strverscmp-equal), or NULL. */
const struct instance *resource_find(const struct resource *r, const char *v);

/* Back-ends (resource-*.c), called by resource_load() with r->path set. */
int resource_load_directory(struct resource *r, const struct resource_config *c);
int resource_load_partitions(struct resource *r, const struct transfer *t);
int resource_load_url(struct resource *r, const struct resource_config *c, bool verify,
                      const char *root);

/* Shared by the back-ends: appends an instance (takes over m's contents on success). */
int resource_add_instance(struct resource *r, const char *name, const char *path,
                          struct instance_metadata *m);

/* Drops instance idx from the list and frees it (after vacuum removed it from disk). */
void resource_remove_instance(struct resource *r, size_t idx);

/* The boot-loader directories under root (spec 2.3 PathRelativeTo=): the ESP is the first of
 * ROOT/efi, ROOT/boot, ROOT/boot/efi that exists (on the host: that is a mount point);
 * XBOOTLDR is ROOT/boot when it is a separate such directory from the ESP; "boot" means XBOOTLDR
 * if present, else the ESP. -ENOENT (logged) when nothing is found. */
int resource_find_boot_dir(const char *root, enum path_relative_to what, char **ret);
