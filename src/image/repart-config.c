/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "repart-config.h"

#include "base/conf.h"
#include "base/log.h"
#include "base/parttype.h"
#include "repart-gpt.h"
#include "base/specifier.h"
#include "base/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

static const char *const format_names[_REPART_FORMAT_MAX] = {
        [REPART_FORMAT_NONE] = "none",
        [REPART_FORMAT_VFAT] = "vfat",
        [REPART_FORMAT_EXT4] = "ext4",
        [REPART_FORMAT_SQUASHFS] = "squashfs",
        [REPART_FORMAT_EROFS] = "erofs",
        [REPART_FORMAT_SWAP] = "swap",
};

static const char *const encrypt_names[_REPART_ENCRYPT_MAX] = {
        [REPART_ENCRYPT_OFF] = "off",
        [REPART_ENCRYPT_KEY_FILE] = "key-file",
        [REPART_ENCRYPT_TPM2] = "tpm2",
        [REPART_ENCRYPT_KEY_FILE_TPM2] = "key-file+tpm2",
};

static const char *const verity_names[_REPART_VERITY_MAX] = {
        [REPART_VERITY_OFF] = "off",
        [REPART_VERITY_DATA] = "data",
        [REPART_VERITY_HASH] = "hash",
        [REPART_VERITY_SIGNATURE] = "signature",
};

const char *repart_verity_to_string(enum repart_verity v) {
        return v < _REPART_VERITY_MAX ? verity_names[v] : NULL;
}

const char *repart_encrypt_to_string(enum repart_encrypt e) {
        return e < _REPART_ENCRYPT_MAX ? encrypt_names[e] : NULL;
}

/* As systemd-repart 252: the four modes, or a boolean (yes = key-file). */
static int encrypt_from_string(const char *s, enum repart_encrypt *ret) {
        for (size_t i = 0; i < _REPART_ENCRYPT_MAX; i++)
                if (streq(encrypt_names[i], s)) {
                        *ret = (enum repart_encrypt) i;
                        return 0;
                }
        int b = parse_boolean(s);
        if (b < 0)
                return -EINVAL;
        *ret = b ? REPART_ENCRYPT_KEY_FILE : REPART_ENCRYPT_OFF;
        return 0;
}

const char *repart_format_to_string(enum repart_format f) {
        return f < _REPART_FORMAT_MAX ? format_names[f] : NULL;
}

int repart_format_from_string(const char *s, enum repart_format *ret) {
        for (size_t i = 1; i < _REPART_FORMAT_MAX; i++)
                if (streq(format_names[i], s)) {
                        *ret = (enum repart_format) i;
                        return 0;
                }
        return -EINVAL;
}

bool repart_format_is_read_only(enum repart_format f) {
        return f == REPART_FORMAT_SQUASHFS || f == REPART_FORMAT_EROFS;
}

struct parse_state {
        struct repart_definition *d;
        const char *root;
        const struct specifier_context *spec;
        bool type_set;
};

/* *ret stays NULL (and 0 is returned) when the setting is to be ignored: an unknown specifier. */
static int expand(const struct parse_state *st, const char *file, unsigned line, const char *key,
                  const char *value, char **ret) {
        *ret = NULL;
        int r = specifier_expand(st->spec, value, NULL, ret);
        if (r == -EBADMSG) {
                log_warning("%s:%u: %s=%s: unknown specifier, ignoring the setting", file, line, key, value);
                free(*ret);
                *ret = NULL;
                return 0;
        }
        return r;
}

static int parse_abs_path(const char *file, unsigned line, const char *key, const char *p) {
        if (!path_is_absolute(p) || !path_is_normalized(p))
                return log_error_errno(EINVAL, "%s:%u: %s=: '%s' is not a normalized absolute path",
                                       file, line, key, p);
        return 0;
}

/* An empty CopyFiles= resets the list, as the end of the definition does. */
static void copy_files_clear(struct repart_definition *d) {
        for (size_t i = 0; i < d->n_copy_files; i++) {
                free(d->copy_files[i].source);
                free(d->copy_files[i].target);
        }
        free(d->copy_files);
        d->copy_files = NULL;
        d->n_copy_files = 0;
}

static int parse_copy_files(struct parse_state *st, const char *file, unsigned line, const char *value) {
        struct repart_definition *d = st->d;
        if (isempty(value)) {
                copy_files_clear(d);
                return 0;
        }
        _cleanup_free_ char *e = NULL;
        int r = expand(st, file, line, "CopyFiles", value, &e);
        if (r < 0 || !e)
                return r;
        char *colon = strchr(e, ':');
        const char *target = e;
        if (colon) {
                *colon = 0;
                target = colon + 1;
        }
        r = parse_abs_path(file, line, "CopyFiles", e);
        if (r < 0)
                return r;
        r = parse_abs_path(file, line, "CopyFiles", target);
        if (r < 0)
                return r;
        struct repart_copy *n = realloc(d->copy_files, sizeof(*n) * (d->n_copy_files + 1));
        if (!n)
                return -ENOMEM;
        d->copy_files = n;
        n[d->n_copy_files] = (struct repart_copy) {
                .source = path_prefix_root(st->root, e),
                .target = strdup(target),
        };
        if (!n[d->n_copy_files].source || !n[d->n_copy_files].target) {
                free(n[d->n_copy_files].source);
                free(n[d->n_copy_files].target);
                return -ENOMEM;
        }
        d->n_copy_files++;
        return 0;
}

static int parse_make_directories(struct parse_state *st, const char *file, unsigned line, const char *value) {
        struct repart_definition *d = st->d;
        if (isempty(value)) {
                strv_free(d->make_directories);
                d->make_directories = NULL;
                return 0;
        }
        _cleanup_free_ char *e = NULL;
        int r = expand(st, file, line, "MakeDirectories", value, &e);
        if (r < 0 || !e)
                return r;
        _cleanup_strv_free_ char **words = NULL;
        r = strv_split_whitespace(e, &words);
        if (r < 0)
                return r;
        for (size_t i = 0; words[i]; i++) {
                r = parse_abs_path(file, line, "MakeDirectories", words[i]);
                if (r < 0)
                        return r;
                r = strv_extend(&d->make_directories, words[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_bool_key(const char *file, unsigned line, const char *key, const char *value, int *ret) {
        int r = parse_boolean(value);
        if (r < 0)
                return log_error_errno(EINVAL, "%s:%u: %s=%s: expected a boolean", file, line, key, value);
        *ret = r;
        return 0;
}

static int parse_size_key(const char *file, unsigned line, const char *key, const char *value, uint64_t *ret) {
        int r = parse_size(value, ret);
        if (r == -ERANGE || (r >= 0 && *ret > REPART_SIZE_MAX))
                return log_error_errno(ERANGE, "%s:%u: %s=%s: too large (at most 4 EiB)", file, line, key, value);
        if (r < 0)
                return log_error_errno(EINVAL, "%s:%u: %s=%s: expected a size in bytes (K, M, G... suffixes)",
                                       file, line, key, value);
        return 0;
}

static int parse_weight(const char *file, unsigned line, const char *key, const char *value, uint32_t *ret) {
        uint64_t u;
        if (parse_uint64(value, 10, &u) < 0 || u > REPART_WEIGHT_MAX)
                return log_error_errno(EINVAL, "%s:%u: %s=%s: expected a number 0...%u", file, line, key,
                                       value, REPART_WEIGHT_MAX);
        *ret = (uint32_t) u;
        return 0;
}

static int parse_minimize(const char *file, unsigned line, const char *value, enum repart_minimize *ret) {
        if (streq(value, "best"))
                *ret = REPART_MINIMIZE_BEST;
        else if (streq(value, "guess"))
                *ret = REPART_MINIMIZE_GUESS;
        else if (streq(value, "off"))
                *ret = REPART_MINIMIZE_OFF;
        else {
                int b = parse_boolean(value);
                if (b < 0)
                        return log_error_errno(EINVAL, "%s:%u: Minimize=%s: expected off, best or guess",
                                               file, line, value);
                *ret = b ? REPART_MINIMIZE_BEST : REPART_MINIMIZE_OFF;
        }
        return 0;
}

static int replace_string(char **p, char *s) {
        free(*p);
        *p = s;
        return 0;
}

static int assign(const char *file, unsigned line, const char *section, const char *key,
                  const char *value, void *userdata) {
        struct parse_state *st = userdata;
        struct repart_definition *d = st->d;
        int r;

        if (!streq(section, "Partition")) {
                log_warning("%s:%u: unknown section [%s], ignoring %s=", file, line, section, key);
                return 0;
        }

        if (streq(key, "Type")) {
                if (partition_type_from_string(value, d->type) < 0)
                        return log_error_errno(EINVAL, "%s:%u: Type=%s: unknown partition type", file, line, value);
                st->type_set = true;
        } else if (streq(key, "Label")) {
                _cleanup_free_ char *e = NULL;
                r = expand(st, file, line, key, value, &e);
                if (r < 0 || !e)
                        return r;
                uint16_t u[GPT_LABEL_MAX];
                if (isempty(e) || gpt_label_encode(e, u) < 0)
                        return log_error_errno(EINVAL, "%s:%u: Label=%s: not valid UTF-8 of at most 36 UTF-16 units",
                                               file, line, value);
                replace_string(&d->label, TAKE_PTR(e));
        } else if (streq(key, "UUID")) {
                if (streq(value, "null"))
                        memset(d->uuid, 0, 16);
                else if (uuid_parse(value, d->uuid) < 0)
                        return log_error_errno(EINVAL, "%s:%u: UUID=%s: not a UUID", file, line, value);
                d->has_uuid = true;
        } else if (streq(key, "Priority")) {
                char *end = NULL;
                errno = 0;
                long long v = strtoll(value, &end, 10);
                if (isempty(value) || *end || errno || v < -1000 || v > 1000)
                        return log_error_errno(EINVAL, "%s:%u: Priority=%s: expected a number -1000...1000",
                                               file, line, value);
                d->priority = v;
        } else if (streq(key, "Weight"))
                return parse_weight(file, line, key, value, &d->weight);
        else if (streq(key, "PaddingWeight"))
                return parse_weight(file, line, key, value, &d->padding_weight);
        else if (streq(key, "SizeMinBytes"))
                return parse_size_key(file, line, key, value, &d->size_min);
        else if (streq(key, "SizeMaxBytes"))
                return parse_size_key(file, line, key, value, &d->size_max);
        else if (streq(key, "PaddingMinBytes"))
                return parse_size_key(file, line, key, value, &d->padding_min);
        else if (streq(key, "PaddingMaxBytes"))
                return parse_size_key(file, line, key, value, &d->padding_max);
        else if (streq(key, "Format")) {
                if (repart_format_from_string(value, &d->format) < 0)
                        return log_error_errno(EINVAL, "%s:%u: Format=%s: unsupported (vfat, ext4, squashfs, erofs, swap)",
                                               file, line, value);
        } else if (streq(key, "CopyFiles"))
                return parse_copy_files(st, file, line, value);
        else if (streq(key, "CopyBlocks")) {
                if (isempty(value))
                        return replace_string(&d->copy_blocks, NULL);
                if (streq(value, "auto"))
                        return log_error_errno(EINVAL, "%s:%u: CopyBlocks=auto is not supported, name a file",
                                               file, line);
                _cleanup_free_ char *e = NULL;
                r = expand(st, file, line, key, value, &e);
                if (r < 0 || !e)
                        return r;
                r = parse_abs_path(file, line, key, e);
                if (r < 0)
                        return r;
                char *p = path_prefix_root(st->root, e);
                if (!p)
                        return -ENOMEM;
                replace_string(&d->copy_blocks, p);
        } else if (streq(key, "MakeDirectories"))
                return parse_make_directories(st, file, line, value);
        else if (streq(key, "Minimize"))
                return parse_minimize(file, line, value, &d->minimize);
        else if (streq(key, "ReadOnly"))
                return parse_bool_key(file, line, key, value, &d->read_only);
        else if (streq(key, "NoAuto"))
                return parse_bool_key(file, line, key, value, &d->no_auto);
        else if (streq(key, "GrowFileSystem"))
                return parse_bool_key(file, line, key, value, &d->growfs);
        else if (streq(key, "SplitName")) {
                char *s = strdup(value);
                if (!s)
                        return -ENOMEM;
                replace_string(&d->split_name, s);
        } else if (streq(key, "Flags")) {
                if (parse_uint64(value, 0, &d->flags) < 0)
                        return log_error_errno(EINVAL, "%s:%u: Flags=%s: expected a 64-bit number", file, line, value);
                d->has_flags = true;
        } else if (streq(key, "Encrypt")) {
                if (encrypt_from_string(value, &d->encrypt) < 0)
                        return log_error_errno(EINVAL, "%s:%u: Encrypt=%s: expected off, key-file, tpm2 or key-file+tpm2",
                                               file, line, value);
        } else if (streq(key, "Verity")) {
                size_t i = 0;
                while (i < _REPART_VERITY_MAX && !streq(verity_names[i], value))
                        i++;
                if (i == _REPART_VERITY_MAX)
                        return log_error_errno(EINVAL, "%s:%u: Verity=%s: expected off, data, hash or signature",
                                               file, line, value);
                /* Ignoring it would silently build an image without the signature asked for. */
                if (i == REPART_VERITY_SIGNATURE)
                        return log_error_errno(EOPNOTSUPP, "%s:%u: Verity=signature is not supported by abota repart",
                                               file, line);
                d->verity = (enum repart_verity) i;
        } else if (streq(key, "VerityMatchKey")) {
                if (isempty(value) || strlen(value) > 255 || strpbrk(value, "/ \t"))
                        return log_error_errno(EINVAL, "%s:%u: VerityMatchKey=%s: expected a short name", file, line,
                                               value);
                char *s = strdup(value);
                if (!s)
                        return -ENOMEM;
                replace_string(&d->verity_match_key, s);
        } else
                log_warning("%s:%u: unknown key %s=, ignoring", file, line, key);
        return 0;
}

static bool type_is(const uint8_t type[16], const char *name) {
        return streq_ptr(partition_type_to_string(type), name);
}

/* Whole-file checks and the defaults that depend on several keys. */
static int definition_finish(struct repart_definition *d) {
        const char *f = d->path;

        if (d->size_min != REPART_SIZE_UNSET && d->size_max != REPART_SIZE_UNSET && d->size_min > d->size_max)
                return log_error_errno(EINVAL, "%s: SizeMinBytes= is larger than SizeMaxBytes=", f);
        if (d->padding_min != REPART_SIZE_UNSET && d->padding_max != REPART_SIZE_UNSET &&
            d->padding_min > d->padding_max)
                return log_error_errno(EINVAL, "%s: PaddingMinBytes= is larger than PaddingMaxBytes=", f);
        if (d->copy_blocks && (d->format != REPART_FORMAT_NONE || d->n_copy_files > 0 || d->make_directories))
                return log_error_errno(EINVAL, "%s: CopyBlocks= cannot be combined with Format=, CopyFiles= or MakeDirectories=", f);

        if (d->verity != REPART_VERITY_OFF && !d->verity_match_key)
                return log_error_errno(EINVAL, "%s: Verity=%s needs VerityMatchKey=", f,
                                       repart_verity_to_string(d->verity));
        if (d->verity == REPART_VERITY_HASH &&
            (d->copy_blocks || d->format != REPART_FORMAT_NONE || d->n_copy_files > 0 || d->make_directories))
                return log_error_errno(EINVAL, "%s: Verity=hash cannot be combined with CopyBlocks=, Format=, CopyFiles= "
                                       "or MakeDirectories= (the hash tree is its content)", f);
        if (d->verity != REPART_VERITY_OFF && d->encrypt != REPART_ENCRYPT_OFF)
                return log_error_errno(EINVAL, "%s: Verity= cannot be combined with Encrypt=", f);
        if (d->verity == REPART_VERITY_HASH && d->minimize != REPART_MINIMIZE_OFF)
                return log_error_errno(EINVAL, "%s: Minimize= is not supported for Verity=hash", f);

        if (d->format == REPART_FORMAT_NONE && (d->n_copy_files > 0 || d->make_directories))
                d->format = type_is(d->type, "esp") || type_is(d->type, "xbootldr") ? REPART_FORMAT_VFAT
                                                                                    : REPART_FORMAT_EXT4;
        if (d->format == REPART_FORMAT_NONE && !d->copy_blocks && type_is(d->type, "swap"))
                d->format = REPART_FORMAT_SWAP;

        if (d->format == REPART_FORMAT_SWAP && (d->n_copy_files > 0 || d->make_directories))
                return log_error_errno(EINVAL, "%s: Format=swap cannot be combined with CopyFiles= or MakeDirectories=", f);
        if (repart_format_is_read_only(d->format) && d->n_copy_files == 0 && !d->make_directories)
                return log_error_errno(EINVAL, "%s: Format=%s needs CopyFiles= or MakeDirectories= (a source tree)",
                                       f, repart_format_to_string(d->format));
        if (d->minimize != REPART_MINIMIZE_OFF && d->format == REPART_FORMAT_NONE)
                return log_error_errno(EINVAL, "%s: Minimize= needs Format=", f);
        if (d->minimize == REPART_MINIMIZE_GUESS && d->format == REPART_FORMAT_VFAT)
                return log_error_errno(EINVAL, "%s: Minimize=guess is not supported for vfat", f);
        /* A read-only file system image has one exact size: "guess" means "best" for it. */
        if (d->minimize == REPART_MINIMIZE_GUESS && repart_format_is_read_only(d->format))
                d->minimize = REPART_MINIMIZE_BEST;
        if (d->minimize == REPART_MINIMIZE_BEST && !repart_format_is_read_only(d->format) &&
            d->format != REPART_FORMAT_NONE)
                d->minimize = REPART_MINIMIZE_GUESS;

        if (d->read_only >= 0 && !partition_type_knows_read_only(d->type))
                log_warning("%s: ReadOnly= is not applicable to this partition type, ignoring", f);
        if (d->no_auto >= 0 && !partition_type_knows_no_auto(d->type))
                log_warning("%s: NoAuto= is not applicable to this partition type, ignoring", f);
        if (d->growfs >= 0 && !partition_type_knows_growfs(d->type))
                log_warning("%s: GrowFileSystem= is not applicable to this partition type, ignoring", f);
        return 0;
}

uint64_t repart_definition_flags(const struct repart_definition *d) {
        uint64_t f = d->has_flags ? d->flags : 0;
        if (d->no_auto >= 0 && partition_type_knows_no_auto(d->type))
                f = d->no_auto ? f | GPT_FLAG_NO_AUTO : f & ~GPT_FLAG_NO_AUTO;
        int read_only = d->read_only;
        if (read_only < 0 && partition_type_is_verity_hash(d->type))
                read_only = 1;
        if (read_only >= 0 && partition_type_knows_read_only(d->type))
                f = read_only ? f | GPT_FLAG_READ_ONLY : f & ~GPT_FLAG_READ_ONLY;
        int growfs = d->growfs;
        if (growfs < 0)
                growfs = read_only <= 0;
        if (partition_type_knows_growfs(d->type))
                f = growfs ? f | GPT_FLAG_GROWFS : f & ~GPT_FLAG_GROWFS;
        return f;
}

static void definition_done(struct repart_definition *d) {
        free(d->path);
        free(d->file_name);
        free(d->label);
        copy_files_clear(d);
        free(d->copy_blocks);
        strv_free(d->make_directories);
        free(d->split_name);
        free(d->verity_match_key);
}

void repart_definitions_done(struct repart_definitions *d) {
        for (size_t i = 0; i < d->n; i++)
                definition_done(&d->items[i]);
        free(d->items);
        *d = (struct repart_definitions) {};
}

static int definition_load(const char *root, const char *dropin_root, const char *const *dirs,
                           const struct specifier_context *spec, const char *path,
                           struct repart_definition *d) {
        *d = (struct repart_definition) {
                .priority = 0,
                .weight = 1000,
                .padding_weight = 0,
                .size_min = REPART_SIZE_UNSET,
                .size_max = REPART_SIZE_UNSET,
                .padding_min = REPART_SIZE_UNSET,
                .padding_max = REPART_SIZE_UNSET,
                .read_only = -1,
                .no_auto = -1,
                .growfs = -1,
        };
        d->path = strdup(path);
        d->file_name = strdup(path_basename(path));
        if (!d->path || !d->file_name)
                return -ENOMEM;
        int r = partition_type_from_string("linux-generic", d->type);
        if (r < 0)
                return r;
        struct parse_state st = { .d = d, .root = root, .spec = spec };
        r = conf_parse_file_with_dropins(dropin_root, dirs, path, assign, &st);
        if (r < 0)
                return r;
        /* As systemd-repart: a partition without a type (often a misspelt [Partition]) would
         * otherwise silently become linux-generic. */
        if (!st.type_set)
                return log_error_errno(EINVAL, "%s: Type= not defined, refusing (every partition needs one, "
                                       "e.g. Type=linux-generic)", path);
        return definition_finish(d);
}

int repart_definitions_load(const char *root, char *const *dirs, const struct specifier_context *spec,
                            struct repart_definitions *ret) {
        static const char *const search[] = { "/etc/repart.d", "/run/repart.d", "/usr/local/lib/repart.d",
                                               "/usr/lib/repart.d", NULL };
        const char *const *use = dirs ? (const char *const *) dirs : search;
        const char *dir_root = dirs ? NULL : root;
        _cleanup_strv_free_ char **files = NULL;
        struct repart_definitions defs = {};
        int r;

        r = conf_files_list(dir_root, use, ".conf", &files);
        if (r < 0)
                return r;
        size_t n = strv_length(files);
        if (n == 0) {
                _cleanup_free_ char *list = NULL;
                for (size_t i = 0; use[i]; i++) {
                        char *l = strprintf("%s%s%s", list ? list : "", list ? " " : "", use[i]);
                        if (!l)
                                return -ENOMEM;
                        free(list);
                        list = l;
                }
                return log_error_errno(ENOENT, "No partition definitions (*.conf) found in %s.", list);
        }
        defs.items = calloc(n, sizeof(*defs.items));
        if (!defs.items)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                defs.n = i + 1;
                r = definition_load(root, dir_root, use, spec, files[i], &defs.items[i]);
                if (r < 0) {
                        repart_definitions_done(&defs);
                        return r;
                }
        }
        *ret = defs;
        return 0;
}
