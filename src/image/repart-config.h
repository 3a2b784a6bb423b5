/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* repart.d partition definitions (spec repart-boot.md 1.3): one [Partition] per *.conf file,
 * drop-ins applied, specifiers expanded, defaults and combinations checked. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum repart_format {
        REPART_FORMAT_NONE,
        REPART_FORMAT_VFAT,
        REPART_FORMAT_EXT4,
        REPART_FORMAT_SQUASHFS,
        REPART_FORMAT_EROFS,
        REPART_FORMAT_SWAP,
        _REPART_FORMAT_MAX,
};

enum repart_encrypt {
        REPART_ENCRYPT_OFF,
        REPART_ENCRYPT_KEY_FILE,
        REPART_ENCRYPT_TPM2,
        REPART_ENCRYPT_KEY_FILE_TPM2,
        _REPART_ENCRYPT_MAX,
};

const char *repart_encrypt_to_string(enum repart_encrypt e);

/* Verity= (spec repart-boot.md 1.3, 6): a dm-verity data partition, or the partition holding
 * its hash tree; the two are paired by VerityMatchKey=. */
enum repart_verity {
        REPART_VERITY_OFF,
        REPART_VERITY_DATA,
        REPART_VERITY_HASH,
        REPART_VERITY_SIGNATURE,
        _REPART_VERITY_MAX,
};

const char *repart_verity_to_string(enum repart_verity v);

enum repart_minimize {
        REPART_MINIMIZE_OFF,
        REPART_MINIMIZE_BEST,
        REPART_MINIMIZE_GUESS,
};

const char *repart_format_to_string(enum repart_format f);
int repart_format_from_string(const char *s, enum repart_format *ret);
bool repart_format_is_read_only(enum repart_format f); /* squashfs, erofs: built from a tree */

#define REPART_SIZE_UNSET UINT64_MAX
/* Larger sizes are refused when parsed: sums of a few of them still fit 64 bits, and no disk is
 * that large (an image file ends below 2^63). */
#define REPART_SIZE_MAX (UINT64_C(1) << 62)
#define REPART_DEFAULT_MIN (UINT64_C(10) * 1024 * 1024)
#define REPART_WEIGHT_MAX 1000000u

struct repart_copy {
        char *source;       /* host path (prefixed with --root) */
        char *target;       /* absolute path inside the file system */
};

struct repart_definition {
        char *path;                   /* the .conf file */
        char *file_name;              /* its basename, as shown in the "file" column */
        uint8_t type[16];
        char *label;                  /* NULL: derived from the type */
        bool has_uuid;                /* UUID= given ("null" gives all zeros) */
        uint8_t uuid[16];
        int64_t priority;
        uint32_t weight, padding_weight;
        uint64_t size_min, size_max;  /* as configured, REPART_SIZE_UNSET when not */
        uint64_t padding_min, padding_max;
        enum repart_format format;
        struct repart_copy *copy_files;
        size_t n_copy_files;
        char *copy_blocks;            /* host path, NULL when unset */
        char **make_directories;      /* NULL-terminated, may be NULL */
        enum repart_minimize minimize;
        enum repart_encrypt encrypt;
        enum repart_verity verity;
        char *verity_match_key;       /* NULL when unset */
        int read_only, no_auto, growfs; /* -1 unset */
        bool has_flags;
        uint64_t flags;
        char *split_name;             /* unexpanded; NULL = "%t"; "-" = no split file */
};

struct repart_definitions {
        struct repart_definition *items; /* sorted by file name */
        size_t n;
};

struct specifier_context;

/* Loads *.conf from dirs (host paths; NULL = the repart.d search path below root). CopyFiles= and
 * CopyBlocks= sources are resolved below root. Unknown keys warn "FILE:LINE: ..."; invalid values
 * and combinations fail with -EINVAL after logging FILE:LINE. No definitions: -ENOENT (logged). */
int repart_definitions_load(const char *root, char *const *dirs, const struct specifier_context *spec,
                            struct repart_definitions *ret);
void repart_definitions_done(struct repart_definitions *d);

/* GPT attribute bits the definition asks for (Flags= with NoAuto=/ReadOnly=/GrowFileSystem=
 * applied, and the grow-fs default of types that know it). */
uint64_t repart_definition_flags(const struct repart_definition *d);
