/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A source or target of one transfer, resolved to a concrete place and enumerated into
 * versioned instances (spec sysupdate.md 5). This is the core every kind shares: the instance
 * list, its order, and Path= resolution on a file system. The kinds themselves (a url-file
 * server, a directory of regular files, the GPT partitions of one disk, ...) live in
 * resource-NAME.c, each as one struct resource_kind; resource-kinds.c lists them and picks one by
 * Type=. The core never names a kind. */

#include "sysupdate/instance.h"
#include "sysupdate/transfer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct partition_table;
struct partition_info;
struct resource_kind;
struct install;
struct resource_write;
struct manifest_cache;
struct fs_access;

/* A patch that builds a source instance from an older version (sysupdate/patch.h). */
struct instance_patch {
        char *base_version;
        char *url;
        uint8_t sha256[32];                /* of the patch file, from the manifest */
};

struct instance {
        char *name;                        /* what the pattern matched: file name, label, entry */
        char *path;                        /* file path, payload URL, or partition node/"DISK:N" */
        struct instance_metadata metadata;
        const struct partition_info *partition; /* partition targets: the slot (owned by table) */
        struct instance_patch *patches;    /* url sources: patches to this instance */
        size_t n_patches;
        char *index_url, *blocks_url;      /* url sources: block index and data (sysupdate/block-index.h) */
        uint8_t index_sha256[32];          /* of the index file, from the manifest */
};

struct resource {
        const struct resource_kind *kind;
        enum resource_type type;
        char *path;                        /* resolved directory, server URL, or disk */
        struct instance **instances;       /* newest first (spec 5.5) */
        size_t n_instances;
        struct partition_table *table;     /* partition targets (set by that kind) */
        size_t n_empty;                    /* `_empty` slots of the configured type */
        const struct fs_access *fs;        /* the file system path is on when it is reached without
                                            * mounting (the ESP of --image), NULL: the local one */
};

/* Where the run operates: the command line's --root/--image and friends. */
struct resource_context {
        const char *root;                  /* --root=DIR, NULL = host */
        const char *image;                 /* --image=FILE: the disk holding partition targets */
        const struct fs_access *esp;       /* --image: its ESP and XBOOTLDR (NULL when missing) */
        const struct fs_access *xbootldr;
        const char *transfer_source;       /* --transfer-source=DIR */
        int verify;                        /* --verify=: -1 = per transfer */
        bool offline;                      /* sources are not enumerated (caller's choice) */
        struct manifest_cache *manifest_cache; /* this run's manifests (context_load()), or NULL */
};

/* One kind of resource: how a Type= is reached and enumerated. A new kind is a file
 * resource-NAME.c defining one of these (declared in resource-NAME.h) and a line in the list of
 * resource-kinds.c. */
struct resource_kind {
        enum resource_type type;
        /* Resolves the configured Path= (c is t's source or target) to the concrete place that
         * becomes r->path. NULL: a path on a file system, resource_resolve_path(). Logs once. */
        int (*resolve)(const struct transfer *t, const struct resource_config *c, bool target,
                       const struct resource_context *ctx, char **ret);
        /* Enumerates the instances into r (r->path set) with resource_add_instance(). A missing
         * directory has no instances; anything else that fails is logged once, naming it. */
        int (*load)(struct resource *r, const struct transfer *t, const struct resource_config *c,
                    const struct resource_context *ctx);
        /* Frees what load() attached to r besides the instances. May be NULL. */
        void (*done)(struct resource *r);

        /* As a target (NULL for kinds that are only sources). */
        const char *name_what;                      /* what a new instance's name is: "file name" */
        bool (*name_is_valid)(const char *name);
        /* Writes w->source into a new instance named i->name that nothing sees yet (a free slot, a
         * temporary file) and fills in i for commit_install(), which makes it visible. */
        int (*acquire)(const struct resource *target, const struct resource_write *w, struct install *i);
        /* Removes instance i from the disk (vacuum); resource_remove_instance() follows. */
        int (*remove)(const struct transfer *t, struct resource *target, const struct instance *i, bool sync);
        /* RemoveTemporary=: removes the leftovers of interrupted runs, except keep (a partial
         * download a resume state names; may be NULL). May be NULL. */
        void (*remove_temporary)(const struct resource *target, const char *keep);
        /* Targets with a fixed number of slots: the number of instances vacuum may keep so that
         * space slots are free, at most limit (-ENOSPC, logged, when that cannot be). May be NULL. */
        int (*vacuum_limit)(const struct transfer *t, const struct resource *target, uint64_t space,
                            uint64_t limit, uint64_t *ret);
};

/* One new instance to write into a target (update). */
struct resource_write {
        const struct transfer *transfer;
        const struct instance *source;           /* what to fetch */
        const struct instance_metadata *metadata; /* of the new instance (spec 3.6) */
        const struct install *others;            /* this run's earlier installs: slots they took */
        size_t n_others;
        bool sync, progress;
        void (*on_bytes)(void *userdata, uint64_t downloaded); /* see acquire_request; may be NULL */
        void *userdata;
        const char *resume_dir;                  /* resume states (resume-state.h); NULL: none */
};

/* Path= as a path on a file system: relative to --root, the ESP/XBOOTLDR or --transfer-source
 * as PathRelativeTo= says. With --image, a path relative to its ESP/XBOOTLDR is the path inside
 * that file system (resource_fs() tells how it is reached); a target elsewhere in the image
 * cannot be reached. Logs on failure. */
int resource_resolve_path(const struct transfer *t, const struct resource_config *c, bool target,
                          const struct resource_context *ctx, char **ret);

/* The file system c's resolved path is on when it is not the local one (the ESP of --image),
 * else NULL. */
const struct fs_access *resource_fs(const struct resource_config *c, const struct resource_context *ctx);

/* Resolves Path= of t's source or target the way kind does (kind NULL: a file-system path). */
int resource_resolve_kind(const struct resource_kind *kind, const struct transfer *t, bool target,
                          const struct resource_context *ctx, char **ret);

/* Resolves and enumerates t's source or target as a resource of kind, newest instance first. */
int resource_load_kind(const struct resource_kind *kind, const struct transfer *t, bool target,
                       const struct resource_context *ctx, struct resource **ret);
void resource_free(struct resource *r);

/* The instance of version v (strverscmp-equal), or NULL. */
const struct instance *resource_find(const struct resource *r, const char *v);

/* For the kinds: appends an instance (takes over m's contents on success). */
int resource_add_instance(struct resource *r, const char *name, const char *path,
                          struct instance_metadata *m);

/* Drops instance idx from the list and frees it (after vacuum removed it from disk). */
void resource_remove_instance(struct resource *r, size_t idx);

/* The boot-loader directories under root (spec 2.3 PathRelativeTo=): the ESP is the first of
 * ROOT/efi, ROOT/boot, ROOT/boot/efi that exists (on the host: that is a mount point);
 * XBOOTLDR is ROOT/boot when it is a separate such directory from the ESP; "boot" means XBOOTLDR
 * if present, else the ESP. $SYSTEMD_ESP_PATH and $SYSTEMD_XBOOTLDR_PATH (absolute, below root)
 * replace the search when set. -ENOENT (logged) when nothing is found. */
int resource_find_boot_dir(const char *root, enum path_relative_to what, char **ret);
