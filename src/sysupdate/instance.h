/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a pattern match tells about one instance (a file, a partition, a manifest line), and
 * what is fed back into a pattern to name a new one (spec sysupdate.md 3.2, 3.5, 3.6). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct instance_metadata {
        char *version;          /* @v, owned */
        bool has_uuid;          /* @u */
        uint8_t uuid[16];
        bool has_flags;         /* @f */
        uint64_t flags;
        int no_auto;            /* @a: -1 unset, 0, 1 */
        int read_only;          /* @r */
        int growfs;             /* @g */
        bool has_mtime;         /* @t, microseconds since the epoch */
        uint64_t mtime;
        bool has_mode;          /* @m */
        mode_t mode;
        bool has_size;          /* @s */
        uint64_t size;
        bool has_tries_done;    /* @d */
        uint64_t tries_done;
        bool has_tries_left;    /* @l */
        uint64_t tries_left;
        bool has_sha256;        /* @h */
        uint8_t sha256[32];
};

void instance_metadata_init(struct instance_metadata *m);   /* all unset */
void instance_metadata_done(struct instance_metadata *m);   /* frees version, resets */
/* For _cleanup_(instance_metadata_donep). */
void instance_metadata_donep(struct instance_metadata *m);
