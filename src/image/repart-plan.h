/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The state of one `abota repart` run, shared by planning (repart.c) and writing
 * (repart-write.c), and the helpers both use (repart-plan.c). Internal to the repart files. */

#include "repart-config.h"
#include "repart-format.h"
#include "repart-gpt.h"
#include "repart-layout.h"
#include "repart-options.h"

#include <stdbool.h>
#include <stdint.h>

/* One row of the plan: a definition (matched to an existing partition or new) or an existing
 * partition no definition claims ("foreign": left exactly as it is). */
struct part {
        const struct repart_definition *def;
        size_t def_index;
        bool exists;
        int slot;                        /* existing: index in the GPT */
        struct gpt_entry entry;   /* existing: as read; new: filled by the plan */
        char *label;
        char *prebuilt;                  /* Minimize=best: the file system image made up front */
        uint64_t payload;                /* bytes the content needs (Minimize, CopyBlocks) */
        size_t verity_partner;           /* Verity=: the index of the other partition of the pair */
        bool has_roothash;               /* Verity=, new: the root hash is known (after writing) */
        uint8_t roothash[32];
};

struct disk {
        const char *path;
        int fd;
        bool is_block, created;
        bool keep_mbr;           /* a hybrid MBR: the GPT is written, LBA 0 stays (as libfdisk does) */
        bool remove_on_failure;  /* this run created the file (--empty=create, or force on a new path) */
        uint32_t sector_size;
        uint64_t size;
};

struct context {
        const struct repart_options *o;
        struct repart_definitions defs;
        struct specifier_context *spec;
        uint8_t seed[16];
        struct disk disk;
        bool fresh;
        uint64_t size;                   /* the disk size after this run */
        struct gpt_table gpt;
        struct part *parts;
        size_t n_parts;
        struct repart_layout_item *items;
        char *workdir;
};

/* The scratch directory for file system builds (next to the image), created on first use. */
int repart_ensure_workdir(struct context *c);
/* What to build for the new partition p, size bytes large. */
int repart_fs_request(struct context *c, struct part *p, uint64_t size, struct repart_format_request *ret);
uint64_t repart_grain(const struct context *c);
/* The type's identifier ("root-x86-64"), else its UUID as text. */
char *repart_type_name(const uint8_t type[16]);
/* The --split file of partition p (NULL in *ret when it gets none), from SplitName=. */
int repart_split_path(const struct context *c, const struct part *p, unsigned partno, char **ret);

