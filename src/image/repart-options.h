/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What `abota repart` is asked to do and what it reports: the options and the result of a run,
 * shared by the flow (repart.c) and the parts below it (repart-disk.c, repart-plan.h). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum repart_empty {
        REPART_EMPTY_REFUSE,   /* the disk must already have a GPT */
        REPART_EMPTY_ALLOW,    /* use the GPT if there is one, else start a new one */
        REPART_EMPTY_REQUIRE,  /* the disk must not have a GPT yet */
        REPART_EMPTY_FORCE,    /* start a new GPT whatever is there */
        REPART_EMPTY_CREATE,   /* create the image file; it must not exist */
        _REPART_EMPTY_MAX,
        _REPART_EMPTY_INVALID = -1,
};

enum repart_empty repart_empty_from_string(const char *s);

struct repart_options {
        char **definitions;          /* --definitions= directories (host paths); NULL = search path */
        const char *root;            /* --root= */
        enum repart_empty empty;
        bool size_auto;              /* --size=auto */
        uint64_t size;               /* --size=BYTES, UINT64_MAX = not given */
        bool split;
        bool seed_set;               /* --seed=UUID */
        bool seed_random;            /* --seed=random */
        uint8_t seed[16];
        bool dry_run;
        bool strict;                 /* --strict: a warning about the definitions is an error */
        const char *image;           /* the disk image file or block device */
        const char *key_file;        /* --key-file=: Encrypt=key-file's passphrase */
        const char *tpm2_device;     /* --tpm2-device=: Encrypt=tpm2's TPM (NULL: tpm2-tss default) */
        uint32_t tpm2_pcrs;          /* --tpm2-pcrs= as a mask */
};

struct repart_result_partition {
        char *type;                  /* identifier ("esp", "root-x86-64") or the type UUID */
        char *label;
        uint8_t uuid[16];
        char *file;                  /* definition basename; "-" for partitions no definition claims */
        char *node;                  /* IMAGE + number, or /dev/sdaN, /dev/loop0pN */
        uint64_t offset, old_size, new_size, old_padding, new_padding;
        const char *activity;        /* "create", "resize", "unchanged" */
        char *split_path;            /* NULL when not split */
        unsigned partno;             /* 0-based slot in the GPT */
        bool has_roothash;           /* Verity=hash, written: the root hash of the pair */
        uint8_t roothash[32];
};

struct repart_result {
        struct repart_result_partition *partitions; /* definitions in file order, then the others
                                                     * (as systemd-repart lists them) */
        size_t n;
        uint64_t disk_size;
        bool changed;                /* something was (or, with dry-run, would be) written */
        bool verity;                 /* a definition has Verity= (the roothash column is shown) */
};

void repart_result_done(struct repart_result *r);
